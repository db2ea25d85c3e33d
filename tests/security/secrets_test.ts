/**
 * Issue 6 item 8 (secrets): whatever clients send — good and bad passwords, malformed and
 * foreign Authorization values, credentials in a URL, throttled guesses — and whatever goes wrong
 * (upstream down, refused targets), promgate's output (access log, combined and JSON, and its
 * own stderr lines) holds no password, no Authorization value (nor its base64 part) and no hash.
 *
 * Every other file of this suite checks its own promgate processes the same way when it stops
 * them (startGate's close() in _helpers.ts); this one drives every path that writes a line.
 */
import { assertEquals, assertMatch } from "../_assert.ts";
import { needs, run } from "../_util.ts";
import {
  leaked,
  rawGet,
  registeredSecrets,
  secret,
  secretBasic,
  startGate,
  startRecorder,
} from "./_helpers.ts";

const USERS = { admin: "secrets-Admin-Pw-1", viewer: "secrets-Viewer-Pw-2" };

for (const format of ["combined", "json"] as const) {
  Deno.test({
    ...needs("htpasswd", "curl"),
    name: `promgate prints no password, Authorization value or hash (${format} access log)`,
    async fn() {
      const recorder = startRecorder();
      const gate = await startGate(USERS, [
        { path: "/prometheus/", upstream: `${recorder.url}/` },
        { path: "/fwd/", upstream: `${recorder.url}/`, forwardAuthorization: true },
        { path: "/down/", upstream: "http://127.0.0.1:9/" },
        { path: "/healthz", upstream: `${recorder.url}/healthy`, auth: false },
      ], { accessLog: { format } });
      const P = gate.port;
      const send = (target: string, ...headers: string[]) => rawGet(P, target, { headers });
      try {
        const ok = secretBasic("admin", USERS.admin);
        const statuses = [
          (await send("/prometheus/x", `Authorization: ${ok}`)).status,
          (await send("/prometheus/x", `Authorization: ${ok}`)).status, // cached
          (await send("/fwd/x", `Authorization: ${secretBasic("viewer", USERS.viewer)}`)).status,
          (await send("/down/x", `Authorization: ${ok}`)).status,
          (await send("/prometheus/%2e%2e%2f", `Authorization: ${ok}`)).status,
          (await send(
            "/prometheus/x",
            `Authorization: ${secretBasic("admin", "secrets-Wrong-Pw-3")}`,
          )).status,
          (await send(
            "/prometheus/x",
            `Authorization: ${secretBasic("ghost", "secrets-Ghost-Pw-4")}`,
          )).status,
          (await send(
            "/prometheus/x",
            `Authorization: Basic ${secret(btoa("admin:secrets-NoB64"))}!`,
          )).status,
          (await send("/prometheus/x", `Authorization: ${secret("Bearer secrets-Bearer-Token-5")}`))
            .status,
          (await send("/prometheus/x", `Authorization: ${secret("Basic " + "QUFB".repeat(2000))}`))
            .status,
          (await send(
            "/healthz",
            `Proxy-Authorization: ${secretBasic("admin", "secrets-Proxy-Pw-6")}`,
          )).status,
          (await send(
            `http://admin:${secret("secrets-Userinfo-Pw-7")}@127.0.0.1:${P}/prometheus/x`,
          )).status,
          (await send(`/prometheus/x?password=x`, `Authorization: ${ok}`)).status,
        ];
        assertEquals(statuses, [200, 200, 200, 502, 400, 401, 401, 401, 401, 401, 200, 401, 200]);
        // Guesses until throttled, then a few more.
        for (let i = 0; i < 8; i++) {
          await send(
            "/prometheus/x",
            `Authorization: ${secretBasic("viewer", `secrets-Guess-${i}-Pw`)}`,
          );
        }
        // curl -u, as an operator would use it.
        const curl = await run("curl", [
          "-sS",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "-u",
          `viewer:${USERS.viewer}`,
          `${gate.url}/prometheus/c`,
        ]);
        assertEquals(curl.stdout, "200", curl.stderr);
        await gate.waitForStdout(/\/prometheus\/c/);
        const output = gate.output();
        // The lines that could carry a secret were written (so the grep below means something).
        assertMatch(
          gate.stderr(),
          /upstream error: GET \/down\/x: upstream http:\/\/127\.0\.0\.1:9\/ failed/,
        );
        assertMatch(gate.stderr(), /refused a request from 127\.0\.0\.1 with 400: encoded slash/);
        assertMatch(gate.stderr(), /login throttled: client 127\.0\.0\.1 waits 1 s/);
        assertMatch(gate.stdout(), format === "json" ? /"remote_user":"ghost"/ : / - ghost \[/);
        const secrets = registeredSecrets();
        const found = leaked(output, secrets);
        assertEquals(found.length, 0, `${found.length} of ${secrets.length} secrets in the output`);
        console.log(
          `secrets (${format}): ${secrets.length} passwords, Authorization values and hashes ` +
            `grepped in ${output.length} bytes of output: none found`,
        );
      } finally {
        await gate.close();
        await recorder.close();
      }
    },
  });
}
