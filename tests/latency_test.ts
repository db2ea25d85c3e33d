/**
 * Regression check for the TLS + HTTP/1.1 streamed-body stall (DESIGN.md fact 1): small chunked
 * upstream responses proxied over TLS h1 must not take a delayed-ACK round (~40 ms) each.
 * This asserts behaviour (no stall), not speed: bench/ reports the figures.
 */
import { assert } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import { basic, makeCert, makeHtpasswd, needs, startPromgate, tempDir } from "./_util.ts";

async function medianMs(get: () => Promise<Response>, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await get();
    await r.arrayBuffer();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

Deno.test(
  "responses over TLS HTTP/1.1 do not stall on delayed ACKs",
  needs("htpasswd", "openssl"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: "pw" });
    const { certFile } = await makeCert(dir, "ec");
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      tls: { certFile: "cert.pem", keyFile: "key.pem" },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [{ path: "/up/", upstream: `${upstream.url}/` }],
      accessLog: false,
    });
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(certFile)],
      http2: false,
    });
    try {
      const headers = { authorization: basic("admin", "pw") };
      const get = (path: string) => fetch(`${gate.url}${path}`, { client, headers });
      await medianMs(() => get("/up/chunked"), 5); // warm up: TLS session, bcrypt cache
      const chunked = await medianMs(() => get("/up/chunked"), 40);
      // Bodies past a few hundred bytes are where Deno.serve splits head and body (4 KiB: a typical
      // PromQL answer; 100 KB: a /metrics page), so check them too.
      const small = await medianMs(() => get("/up/bytes?n=4096"), 20);
      const large = await medianMs(() => get("/up/bytes?n=100000"), 20);
      const sse = await get("/up/sse");
      const reader = sse.body!.getReader();
      const t = performance.now();
      await reader.read();
      const firstEvent = performance.now() - t;
      await reader.cancel();
      console.log(
        `TLS h1 p50: chunked ${chunked.toFixed(1)} ms, 4 KiB ${small.toFixed(1)} ms, ` +
          `100 KB ${large.toFixed(1)} ms; first SSE event ${firstEvent.toFixed(1)} ms`,
      );
      for (
        const [what, ms] of [["chunked", chunked], ["4 KiB", small], ["100 KB", large]] as const
      ) {
        assert(ms < 25, `${what} p50 ${ms.toFixed(1)} ms: the delayed-ACK stall is back`);
      }
    } finally {
      client.close();
      await gate.stop();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
