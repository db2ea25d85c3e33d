/**
 * Issue 6 item 8 (headers): every response carries `X-Content-Type-Options: nosniff`, and none
 * names the upstream's software (`Server`, `X-Powered-By` are dropped) — proxied answers,
 * promgate's own 400/401/404/301/429, and answers to HEAD alike.
 */
import { assertEquals } from "../_assert.ts";
import { needs } from "../_util.ts";
import { rawGet, rawRequest, secretBasic, startGate, startRecorder } from "./_helpers.ts";

Deno.test({
  ...needs("htpasswd"),
  name: "every response says nosniff and names no server software",
  async fn() {
    const recorder = startRecorder({ server: "Apache/2.4.1 (Unix) OpenSSL/1.0.1e" });
    const gate = await startGate({ admin: "headers-Secr3t" }, [
      { path: "/prometheus/", upstream: `${recorder.url}/` },
      { path: "/healthz", upstream: `${recorder.url}/healthy`, auth: false },
    ]);
    const ok = secretBasic("admin", "headers-Secr3t");
    try {
      const cases: [string, number, string[]][] = [
        ["/healthz", 200, []],
        ["/prometheus/x", 200, [`Authorization: ${ok}`]],
        ["/prometheus", 301, [`Authorization: ${ok}`]],
        ["/nowhere", 404, [`Authorization: ${ok}`]],
        ["/prometheus%2Fx", 400, [`Authorization: ${ok}`]],
        ["/prometheus/x", 401, []],
      ];
      for (const [target, status, headers] of cases) {
        const r = await rawGet(gate.port, target, { headers });
        assertEquals(r.status, status, target);
        assertEquals(r.headers.get("x-content-type-options"), "nosniff", target);
        assertEquals(r.headers.get("server"), undefined, target);
        assertEquals(r.headers.get("x-powered-by"), undefined, target);
      }
      const head = await rawRequest(gate.port, `HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1`);
      assertEquals([head.status, head.headers.get("x-content-type-options")], [200, "nosniff"]);
      assertEquals(head.headers.get("server"), undefined);
      for (let i = 0; i < 6; i++) {
        await rawGet(gate.port, "/prometheus/x", {
          headers: [`Authorization: ${secretBasic("admin", `headers-guess-${i}`)}`],
        });
      }
      const throttled = await rawGet(gate.port, "/prometheus/x", {
        headers: [`Authorization: ${secretBasic("admin", "headers-guess-x")}`],
      });
      assertEquals(throttled.status, 429);
      assertEquals(throttled.headers.get("x-content-type-options"), "nosniff");
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});
