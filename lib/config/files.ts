/**
 * The files a config names: certificate and key pairs, checked as nginx -t would, and why a file
 * cannot be read.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError } from "../errors.ts";
import { generateSelfSigned } from "./self_signed.ts";
import { errorText } from "../log.ts";
import type { RawConfig } from "./schema.ts";
import type { TlsConfig } from "./types.ts";

// ---------------------------------------------------------------------------------------------
// TLS: read both files and prove they parse and belong together, as nginx -t would.

export async function resolveTls(
  raw: NonNullable<RawConfig["tls"]>,
  listenHostname: string,
  base: string,
  problems: string[],
): Promise<TlsConfig | null> {
  if (raw.selfSigned === true) {
    const wildcard = ["0.0.0.0", "::"].includes(listenHostname);
    const defaults = ["localhost", "127.0.0.1", "::1", ...(wildcard ? [] : [listenHostname])];
    const hostnames = [...new Set(raw.hostnames ?? defaults)];
    const generated = await generateSelfSigned(hostnames);
    return {
      certFile: null,
      keyFile: null,
      cert: generated.cert,
      key: generated.key,
      selfSigned: { hostnames, fingerprint: generated.fingerprint },
    };
  }
  // crossFieldIssues guarantees both files are named when selfSigned is not true.
  const certFile = resolve(base, raw.certFile!);
  const keyFile = resolve(base, raw.keyFile!);
  const [cert, key] = await Promise.all([
    readPem("tls.certFile", certFile, problems),
    readPem("tls.keyFile", keyFile, problems),
  ]);
  if (cert === null || key === null) return null;
  checkPair(cert, key, certFile, keyFile, problems);
  return { certFile, keyFile, cert, key, selfSigned: null };
}

/**
 * Reads a certificate and key pair again (when the files change on disk) with the same checks as
 * at load: both parse, and the key belongs to the certificate.
 * @throws InputError with one line per problem, each naming the file and the fix.
 */
export async function readTlsFiles(certFile: string, keyFile: string): Promise<TlsConfig> {
  const problems: string[] = [];
  const [cert, key] = await Promise.all([
    readPem("tls.certFile", certFile, problems),
    readPem("tls.keyFile", keyFile, problems),
  ]);
  if (cert !== null && key !== null) checkPair(cert, key, certFile, keyFile, problems);
  if (problems.length > 0 || cert === null || key === null) {
    throw new InputError(problems.join("\n"));
  }
  return { certFile, keyFile, cert, key, selfSigned: null };
}

function checkPair(
  cert: string,
  key: string,
  certFile: string,
  keyFile: string,
  problems: string[],
): void {
  const x509 = parseCert(cert, certFile, problems);
  const keyObject = parseKey(key, keyFile, problems);
  if (x509 && keyObject && !keyMatchesCert(x509, keyObject)) {
    problems.push(
      `tls.keyFile: ${keyFile} does not belong to the certificate in ${certFile}. ` +
        `Use the key that was created with that certificate.`,
    );
  }
}

async function readPem(where: string, file: string, problems: string[]): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const fix = where === "tls.certFile"
      ? `Set ${where} to your certificate (PEM), or remove "tls" to serve plain HTTP.`
      : `Set ${where} to the certificate's private key (PEM).`;
    problems.push(`${where}: ${fileProblem(e, file)} ${fix}`);
    return null;
  }
}

function parseCert(pem: string, file: string, problems: string[]): X509Certificate | null {
  const fail = (why: string) => void problems.push(`tls.certFile: ${file} ${why}`);
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      fail("holds a private key, not a certificate: are certFile and keyFile swapped?");
    } else {
      fail(
        'is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line). ' +
          `A DER file converts with: openssl x509 -inform der -in ${file} -out cert.pem`,
      );
    }
    return null;
  }
  try {
    // Only the first certificate (the server's own) is parsed; the rest is its chain.
    return new X509Certificate(pem);
  } catch (e) {
    fail(`does not parse as a certificate (${errorText(e)}). Check that it is not truncated.`);
    return null;
  }
}

function parseKey(pem: string, file: string, problems: string[]): KeyObject | null {
  const fail = (why: string) => void problems.push(`tls.keyFile: ${file} ${why}`);
  if (pem.includes("ENCRYPTED")) {
    fail(`is encrypted. Decrypt it once with: openssl pkey -in ${file} -out plain.key`);
    return null;
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    fail(
      pem.includes("-----BEGIN CERTIFICATE-----")
        ? "holds a certificate, not a private key: are certFile and keyFile swapped?"
        : 'is not a PEM private key (no "-----BEGIN ... PRIVATE KEY-----" line).',
    );
    return null;
  }
  try {
    return createPrivateKey(pem);
  } catch (e) {
    fail(`does not parse as a private key (${errorText(e)}). Use an RSA or EC key in PEM.`);
    return null;
  }
}

/**
 * x509.checkPrivateKey works under Deno 2.9.6 and Bun; where a runtime lacks it, comparing the
 * public halves (SPKI DER) gives the same answer. If neither works the check is skipped: the
 * runtime's TLS setup will still refuse a mismatched pair at start.
 */
function keyMatchesCert(x509: X509Certificate, key: KeyObject): boolean {
  try {
    if (typeof x509.checkPrivateKey === "function") return x509.checkPrivateKey(key);
    const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" }).toString("hex");
    return spki(x509.publicKey) === spki(createPublicKey(key));
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// File error wording shared by every file the config names.

export const errorCode = (e: unknown): string | undefined =>
  (e as { code?: unknown })?.code as string | undefined;

export function fileProblem(e: unknown, file: string): string {
  switch (errorCode(e)) {
    case "ENOENT":
      return `file ${file} not found.`;
    case "EACCES":
    case "EPERM":
      return `file ${file} cannot be read (permission denied).`;
    case "EISDIR":
      return `${file} is a directory, not a file.`;
    default:
      return `file ${file} cannot be read (${errorText(e)}).`;
  }
}
