/**
 * A self-signed certificate made in memory at start-up (`"tls": { "selfSigned": true }`), so a
 * fresh install serves HTTPS with no openssl step. Built with @peculiar/x509 on Web Crypto rather
 * than hand-written ASN.1. The key never touches the disk; clients pin the printed fingerprint.
 */
import type * as X509 from "@peculiar/x509";

type X509Package = typeof X509;
let loaded: Promise<X509Package> | null = null;

/**
 * @peculiar/x509, loaded by the first certificate made (lib/config/files.ts imports this file
 * only then). reflect-metadata goes first because the package's dependency injection needs it;
 * awaited apart, since a bundle (bun build --compile) does not keep side-effect order between
 * the imports of a lazily loaded file.
 */
function loadX509(): Promise<X509Package> {
  return loaded ??= import("reflect-metadata").then(() => import("@peculiar/x509"));
}

/** A generated certificate and key (PEM) plus the certificate's SHA-256 fingerprint. */
export interface SelfSigned {
  readonly cert: string;
  readonly key: string;
  /** Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const VALID_DAYS = 365;

/** Whether `name` is an IPv4 or IPv6 address rather than a DNS name. */
function isIp(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

/** Makes an ECDSA P-256 certificate for `hostnames` (DNS names and IP addresses). */
export async function generateSelfSigned(hostnames: readonly string[]): Promise<SelfSigned> {
  const x509 = await loadX509();
  x509.cryptoProvider.set(crypto);
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const serial = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16))
    .join("").replace(/^[89a-f]/, "7"); // positive, as RFC 5280 requires
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${hostnames[0] ?? "promgate"}, O=promgate self-signed`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALID_DAYS * 86_400_000),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hostnames.map((h): X509.JsonGeneralName => ({ type: isIp(h) ? "ip" : "dns", value: h })),
      ),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const digest = new Uint8Array(await cert.getThumbprint("SHA-256"));
  return {
    cert: cert.toString("pem"),
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    fingerprint: Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":"),
  };
}
