/**
 * Compressed answers reach the client as the upstream sent them, with headers that match their
 * bytes, on whichever runtime runs promgate (PROMGATE_CMD): for curl --compressed, for a client
 * that asks for gzip and reads the raw bytes, and for one that asks for nothing. promgate itself
 * never decodes nor encodes (lib/http/body/encoding.ts); Deno's fetch would decode, so the Deno
 * adapter keeps it from doing so (lib/runtime/deno/adapter.ts), which the last test checks for
 * HTTPS upstreams, whose path there differs.
 */
import { gunzipSync } from "node:zlib";
import { assert, assertEquals } from "./_assert.ts";
import { withoutRefused } from "../lib/http/body/encoding.ts";
import { basic, makeCert, needs, REPO, run, startUpstream, tempDir } from "./_util.ts";
import { startGate } from "./security/_helpers.ts";

const PASSWORD = "encoding-pw-3";

/** A JSON answer that compresses well (~60 KB, as a range query's might be). */
const ANSWER = JSON.stringify({
  status: "success",
  data: Array.from({ length: 600 }, (_, i) => ({ metric: { job: "node", i }, value: [i, "1"] })),
});

function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(stream).bytes();
}

/**
 * Like Prometheus: gzip for a request that accepts it, identity otherwise; `/always-gzip`
 * compresses whatever the request asked, as some servers do. Records each Accept-Encoding seen.
 */
function compressingUpstream(seen: (string | null)[]) {
  return async (req: Request) => {
    const asked = req.headers.get("accept-encoding");
    seen.push(asked);
    const always = new URL(req.url).pathname.endsWith("/always-gzip");
    if (!always && !/gzip/.test(asked ?? "")) {
      return new Response(ANSWER, { headers: { "content-type": "application/json" } });
    }
    return new Response(await gzip(ANSWER), {
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
  };
}

const FORMAT = "%{http_code}|%header{content-encoding}|%header{content-length}|%{size_download}";

/**
 * What curl received: status, Content-Encoding, Content-Length, the raw body bytes (decoded where
 * `--compressed` asks curl to) and how many bytes came over the wire.
 */
async function curlRaw(dir: string, url: string, args: string[]) {
  const file = `${dir}/body-${crypto.randomUUID()}`;
  const out = await run("curl", [
    ...["-sS", "-o", file, "-w", FORMAT],
    ...["-H", `Authorization: ${basic("admin", PASSWORD)}`, ...args, url],
  ]);
  assertEquals(out.code, 0, out.stderr);
  const [status, encoding, length, wire] = out.stdout.split("|");
  const bytes = await Deno.readFile(file);
  await Deno.remove(file);
  return { status: Number(status), encoding, length, bytes, wire: Number(wire) };
}

Deno.test({
  ...needs("htpasswd", "curl"),
  name: "compressed answers pass through with headers that match their bytes, for curl " +
    "--compressed, a client asking for gzip only, and one asking for nothing",
  async fn() {
    const seen: (string | null)[] = [];
    const upstream = startUpstream(compressingUpstream(seen));
    const gate = await startGate({ admin: PASSWORD }, [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
    ], { accessLog: false });
    const dir = await tempDir();
    const query = `${gate.url}/prometheus/api/v1/query_range`;
    const compressed = (await gzip(ANSWER)).byteLength;
    try {
      // curl --compressed offers every coding it has and decodes: the bytes on the wire are gzip.
      const decoded = await curlRaw(dir, query, ["--compressed"]);
      assertEquals([decoded.status, decoded.encoding, decoded.wire], [200, "gzip", compressed]);
      assertEquals(new TextDecoder().decode(decoded.bytes), ANSWER);
      assert(/gzip/.test(seen.at(-1) ?? ""), `upstream was asked for ${seen.at(-1)}`);

      // Asking for gzip and reading raw: exactly the upstream's compressed bytes.
      const raw = await curlRaw(dir, query, ["-H", "Accept-Encoding: gzip"]);
      assertEquals([raw.status, raw.encoding, raw.bytes.byteLength], [200, "gzip", compressed]);
      if (raw.length !== "") assertEquals(Number(raw.length), raw.bytes.byteLength);
      assertEquals(new TextDecoder().decode(gunzipSync(raw.bytes)), ANSWER);
      assertEquals(seen.at(-1), "gzip");

      // Asking for nothing: identity, as the upstream sent it.
      const plain = await curlRaw(dir, query, []);
      assertEquals([plain.status, plain.encoding], [200, ""]);
      assertEquals(new TextDecoder().decode(plain.bytes), ANSWER);
      if (plain.length !== "") assertEquals(Number(plain.length), plain.bytes.byteLength);
      assert(!/gzip/.test(seen.at(-1) ?? ""), `upstream was asked for ${seen.at(-1)}`);

      // An upstream that compresses unasked: the client gets gzip bytes, labelled as gzip.
      const unasked = await curlRaw(dir, `${gate.url}/prometheus/always-gzip`, []);
      assertEquals([unasked.status, unasked.encoding], [200, "gzip"]);
      assertEquals(new TextDecoder().decode(gunzipSync(unasked.bytes)), ANSWER);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("openssl"),
  name: "Deno's upstream fetch never hands back decoded bytes with gzip headers, HTTPS included",
  async fn() {
    const dir = await tempDir();
    const { certFile, keyFile } = await makeCert(dir);
    const seen: (string | null)[] = [];
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(certFile),
      key: await Deno.readTextFile(keyFile),
      onListen() {},
    }, compressingUpstream(seen));
    const origins = [`https://localhost:${server.addr.port}`];
    const plain = startUpstream(compressingUpstream(seen));
    origins.push(plain.url);
    // A process of its own: DENO_CERT is read at start-up, and env is shared by parallel tests.
    const script = `
      import { denoRuntime } from "./lib/runtime/deno/adapter.ts";
      const out = [];
      for (const origin of ${JSON.stringify(origins)}) {
        for (const path of ["/api/v1/query", "/always-gzip"]) {
          for (const accept of [null, "gzip", "gzip, deflate, br", "identity"]) {
            const headers = accept === null ? [] : [["accept-encoding", accept]];
            const r = await denoRuntime.fetchUpstream(origin + path, { method: "GET", headers });
            const bytes = new Uint8Array(await r.arrayBuffer());
            out.push([origin.slice(0, 5), path, accept, r.headers.get("content-encoding"),
              r.headers.get("content-length"), bytes.byteLength, bytes[0] === 0x1f && bytes[1] === 0x8b]);
          }
        }
      }
      console.log(JSON.stringify(out));
      Deno.exit(0);
    `;
    try {
      const r = await run(Deno.execPath(), ["eval", "--no-lock", script], {
        cwd: REPO,
        env: { DENO_CERT: certFile },
      });
      assertEquals(r.code, 0, r.stderr);
      const rows: [string, string, string | null, string | null, string | null, number, boolean][] =
        JSON.parse(r.stdout);
      assertEquals(rows.length, 16);
      for (const [scheme, path, accept, encoding, length, size, gzipped] of rows) {
        const what = `${scheme} ${path} Accept-Encoding ${accept}`;
        // The headers say what the bytes are.
        assertEquals(encoding === "gzip", gzipped, what);
        if (length !== null) assertEquals(Number(length), size, what);
        if (path === "/always-gzip") assertEquals(gzipped, true, what);
      }
    } finally {
      await server.shutdown();
      await plain.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a client's Accept-Encoding reaches the upstream as it is when it refuses nothing", () => {
  for (const value of ["gzip", "deflate, gzip, br, zstd", "gzip;q=0.5, br", "br;q=0.05, *"]) {
    assertEquals(withoutRefused(value), value);
  }
  assertEquals(withoutRefused(null), null);
  assertEquals(withoutRefused(""), null);
});

Deno.test("codings a client refuses with q=0 are not offered to the upstream", () => {
  assertEquals(withoutRefused("gzip;q=0, br"), "br");
  assertEquals(withoutRefused("*;q=0, gzip"), "gzip");
  assertEquals(withoutRefused("GZIP; Q=0, deflate;q=0.5"), "deflate;q=0.5");
  // "*" would let a server that ignores q-values pick the refused coding: dropped.
  assertEquals(withoutRefused("gzip;q=0, *"), null);
  assertEquals(withoutRefused("gzip;q=0.000"), null);
});
