/** The small test upstream: endpoints that exercise what a proxy must get right. */
import { createHash } from "node:crypto";
import { startUpstream, type Upstream } from "./_util.ts";

/** Facts the upstream records for tests to check. */
export interface UpstreamLog {
  /** Times (performance.now()) at which a streaming response was cancelled by the proxy. */
  cancelled: number[];
  /** Request headers of the last /echo request. */
  lastHeaders: Headers | null;
  /** Times at which an /upload request body broke off before its end (the proxy aborted it). */
  uploadsCut: number[];
}

const PATTERN = new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) & 0xff);

/** A deterministic byte stream of `total` bytes (the same bytes every time). */
export function patternStream(total: number, onCancel?: () => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(PATTERN.byteLength, total - sent);
      controller.enqueue(PATTERN.slice(0, n));
      sent += n;
    },
    cancel() {
      onCancel?.();
    },
  }, { highWaterMark: 0 });
}

/** Starts the test upstream. */
export function startTestUpstream(): Upstream & { log: UpstreamLog } {
  const log: UpstreamLog = { cancelled: [], lastHeaders: null, uploadsCut: [] };
  const upstream = startUpstream(async (req) => {
    const url = new URL(req.url);
    const p = url.pathname;
    if (p.startsWith("/echo")) {
      log.lastHeaders = req.headers;
      const body = req.body ? await req.text() : "";
      return Response.json({
        method: req.method,
        path: p,
        search: url.search,
        headers: Object.fromEntries(req.headers),
        body,
      });
    }
    if (p === "/chunked") {
      const parts = ["small ", "chunked ", "body"];
      return new Response(
        new ReadableStream({
          pull(c) {
            const next = parts.shift();
            if (next === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(next));
          },
        }),
        { headers: { "content-type": "text/plain" } },
      );
    }
    if (p === "/sse") {
      let n = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      return new Response(
        new ReadableStream({
          start(c) {
            const tick = () => {
              c.enqueue(new TextEncoder().encode(`data: ${n++}\n\n`));
              timer = setTimeout(tick, 300);
            };
            tick();
          },
          cancel() {
            clearTimeout(timer);
            log.cancelled.push(performance.now());
          },
        }),
        { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } },
      );
    }
    if (p === "/bytes") {
      const n = Number(url.searchParams.get("n"));
      return new Response(patternStream(n, () => log.cancelled.push(performance.now())), {
        headers: { "content-type": "application/octet-stream" },
      });
    }
    if (p === "/upload") {
      const hash = new Sha256();
      let size = 0;
      try {
        for await (const chunk of req.body ?? new ReadableStream()) {
          hash.update(chunk);
          size += chunk.byteLength;
        }
      } catch (error) {
        log.uploadsCut.push(performance.now());
        throw error;
      }
      const answer = Response.json({ size, sha256: hash.digest() });
      if (!url.searchParams.has("gzip")) return answer;
      // ?gzip: answer compressed whatever the request asked, as some servers do.
      return new Response(answer.body!.pipeThrough(new CompressionStream("gzip")), {
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
      });
    }
    if (p === "/slow") {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms"))));
      return new Response("finally\n");
    }
    if (p === "/redirect-root") {
      return new Response(null, { status: 301, headers: { location: "/echo/target?x=1" } });
    }
    if (p === "/redirect-absolute") {
      return new Response(null, {
        status: 302,
        headers: { location: `http://127.0.0.1:${upstream.port}/echo/abs` },
      });
    }
    if (p === "/redirect-elsewhere") {
      return new Response(null, { status: 302, headers: { location: "https://example.org/x" } });
    }
    if (p === "/hop") {
      return new Response("hop\n", {
        headers: { connection: "x-secret", "x-secret": "1", "keep-alive": "timeout=5" },
      });
    }
    if (p === "/cookies") {
      const h = new Headers();
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2; Path=/");
      return new Response("cookies\n", { headers: h });
    }
    return new Response(`upstream 404 ${p}\n`, { status: 404 });
  });
  return Object.assign(upstream, { log });
}

/** sha256 over streamed chunks (node:crypto, as in production code). */
class Sha256 {
  #h = createHash("sha256");
  update(chunk: Uint8Array) {
    this.#h.update(chunk);
  }
  digest(): string {
    return this.#h.digest("hex");
  }
}
