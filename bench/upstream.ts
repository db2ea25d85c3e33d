/**
 * The benchmark's own small upstream (plain HTTP on 127.0.0.1), run as a separate process so its
 * CPU and memory are not counted as the proxy's:
 *
 *   deno run -A bench/upstream.ts --port 0      # prints "listening on <port>" on stdout
 *
 * GET  /fixed?bytes=N    N bytes (default 1024) with Content-Length
 * GET  /chunked          4 × 256 bytes, streamed without Content-Length (chunked transfer-encoding)
 * GET  /big?bytes=N      N bytes (default 1 GiB) of a fixed pseudo-random pattern, streamed in
 *                        1 MiB chunks with Content-Length
 * POST /sink             reads the whole body; answers {"bytes": n, "sha256": "<hex>"}
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { BLOCK_BYTES, patternBlock } from "./pattern.ts";

const FIXED = new Uint8Array(64 * 1024).fill(0x61); // "aaaa…"
const CHUNK = new TextEncoder().encode("x".repeat(255) + "\n");
const BLOCK = patternBlock();

function fixed(url: URL): Response {
  const n = Math.min(Number(url.searchParams.get("bytes") ?? 1024), FIXED.byteLength);
  return new Response(FIXED.subarray(0, n), { headers: { "content-type": "text/plain" } });
}

function chunked(): Response {
  let left = 4;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left-- === 0) return controller.close();
      await Promise.resolve();
      controller.enqueue(CHUNK);
    },
  }, { highWaterMark: 0 });
  return new Response(body, { headers: { "content-type": "text/plain" } });
}

function big(url: URL): Response {
  const total = Number(url.searchParams.get("bytes") ?? 2 ** 30);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(BLOCK_BYTES, total - sent);
      controller.enqueue(n === BLOCK_BYTES ? BLOCK : BLOCK.subarray(0, n));
      sent += n;
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: { "content-type": "application/octet-stream", "content-length": String(total) },
  });
}

async function sink(req: Request): Promise<Response> {
  const hash = createHash("sha256");
  let bytes = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
  }
  return Response.json({ bytes, sha256: hash.digest("hex") });
}

function handle(req: Request): Response | Promise<Response> {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/fixed":
      return fixed(url);
    case "/chunked":
      return chunked();
    case "/big":
      return big(url);
    case "/sink":
      return req.method === "POST" || req.method === "PUT"
        ? sink(req)
        : new Response("POST only\n", { status: 405 });
    default:
      return new Response("not found\n", { status: 404 });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(values.port ?? 0),
    onListen: ({ port }) => console.log(`listening on ${port}`),
  }, handle);
}
