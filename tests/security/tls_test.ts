/**
 * Issue 6 item 8 (TLS): promgate speaks TLS 1.2 and 1.3 only, and on TLS 1.2 only forward-secret
 * AEAD suites. Checked with the real curl (OpenSSL) against the real process.
 */
import { assert, assertEquals } from "../_assert.ts";
import { curlStatus, makeCert, makeHtpasswd, needs, startPromgate, tempDir } from "../_util.ts";
import { startRecorder } from "./_helpers.ts";

Deno.test({
  ...needs("htpasswd", "curl", "openssl"),
  name: "TLS 1.0 and 1.1 and weak TLS 1.2 ciphers are refused; modern TLS 1.2 and 1.3 work",
  async fn() {
    const dir = await tempDir();
    const recorder = startRecorder();
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: "tls-pw" });
    const { certFile } = await makeCert(dir, "rsa:2048");
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      tls: { certFile: "cert.pem", keyFile: "key.pem" },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [{ path: "/healthz", upstream: `${recorder.url}/healthy`, auth: false }],
      accessLog: false,
    });
    const curl = (...args: string[]) =>
      curlStatus("--cacert", certFile, ...args, `${gate.url}/healthz`);
    try {
      const refused: [string, string[]][] = [
        // SECLEVEL=0 lets Debian's OpenSSL offer TLS 1.0/1.1 at all (checked against an
        // `openssl s_server` that accepts them), so a refusal here is the server's.
        ["TLS 1.0", ["--tlsv1.0", "--tls-max", "1.0", "--ciphers", "DEFAULT@SECLEVEL=0"]],
        ["TLS 1.1", ["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"]],
        ["TLS 1.2 AES-CBC", ["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-SHA"]],
        ["TLS 1.2 static RSA", ["--tls-max", "1.2", "--ciphers", "AES128-GCM-SHA256"]],
      ];
      for (const [name, args] of refused) {
        const r = await curl(...args);
        assert(r.code !== 0, `${name} was accepted: ${r.stdout}`);
      }
      const accepted: [string, string[]][] = [
        ["TLS 1.2 ECDHE AES-GCM", ["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"]],
        ["TLS 1.2 ECDHE ChaCha20", [
          "--tls-max",
          "1.2",
          "--ciphers",
          "ECDHE-RSA-CHACHA20-POLY1305",
        ]],
        ["TLS 1.3", ["--tlsv1.3"]],
      ];
      for (const [name, args] of accepted) {
        const r = await curl(...args);
        assertEquals([r.code, r.stdout], [0, "200"], `${name}: ${r.stderr}`);
      }
    } finally {
      assertEquals(await gate.stop(), 0);
      await recorder.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
