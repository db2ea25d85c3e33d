/**
 * Streamed uploads without a length, for Deno.
 *
 * Deno 2.9.6's fetch degrades badly when its request body is a stream fed from a chunked
 * (Transfer-Encoding) request that Deno.serve is receiving: the process spends its time in
 * memmove and a 256 MiB upload through a minimal Deno.serve → fetch proxy takes 11–70 s instead
 * of ~1 s, while buffering ~100 MB (measured here with `curl -T -` from a pipe and with a chunked
 * node:http client; the same body sent with a Content-Length takes 0.8 s, and either side alone
 * is fast). Deno's node:http client does not have the problem (1.0–1.4 s, flat RSS), so uploads
 * that arrive without a Content-Length are sent upstream with it instead of fetch.
 *
 * The result behaves as Deno's fetch would for the proxy: redirects are not followed, the abort
 * signal cancels the request at any point, and gzip/br bodies are decoded unless the request
 * asked for identity (runtime.fetchDecodesCompression is true for Deno as a whole).
 */
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import zlib from "node:zlib";

const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

/** Whether `init` carries a request body of unknown length (sent chunked). */
export function isUnsizedUpload(init: RequestInit): boolean {
  if (!(init.body instanceof ReadableStream)) return false;
  return !new Headers(init.headers).has("content-length");
}

/** Sends `init` (a streamed body, no Content-Length) to `url` with node:http; see the module doc. */
export function sendUnsizedUpload(url: URL, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("transfer-encoding", "chunked");
  const signal = init.signal ?? undefined;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: init.method,
      headers: Object.fromEntries(headers),
      agent: agents[url.protocol as keyof typeof agents],
    });
    const onAbort = () => request.destroy(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    request.on("error", (error) => {
      done();
      reject(signal?.aborted ? signal.reason : error);
    });
    request.on("response", (response) => {
      response.on("close", done);
      resolve(toResponse(response, init.method, headers.get("accept-encoding")));
    });
    pump(init.body as ReadableStream<Uint8Array>, request);
  });
}

/**
 * Writes `body` into `request`, waiting for "drain" when it is full. (A plain write loop:
 * Readable.fromWeb piped into the request held ~30 MiB more at peak for a 256 MiB upload.)
 */
async function pump(body: ReadableStream<Uint8Array>, request: http.ClientRequest) {
  const closed = new Promise<void>((resolve) => request.once("close", resolve));
  try {
    for await (const chunk of body) {
      if (request.destroyed) break;
      if (!request.write(chunk)) {
        await Promise.race([new Promise((resolve) => request.once("drain", resolve)), closed]);
      }
    }
    request.end();
  } catch (error) {
    request.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

function toResponse(
  incoming: http.IncomingMessage,
  method: string | undefined,
  acceptEncoding: string | null,
): Response {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const status = incoming.statusCode ?? 502;
  if (method === "HEAD" || [101, 204, 205, 304].includes(status)) {
    incoming.resume();
    return new Response(null, { status, statusText: incoming.statusMessage, headers });
  }
  let source: Readable = incoming;
  const coding = headers.get("content-encoding")?.trim().toLowerCase();
  if (acceptEncoding?.trim().toLowerCase() !== "identity") {
    if (coding === "gzip" || coding === "x-gzip") source = incoming.pipe(zlib.createGunzip());
    if (coding === "br") source = incoming.pipe(zlib.createBrotliDecompress());
    if (source !== incoming) incoming.on("error", (error) => source.destroy(error));
  }
  const body = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  return new Response(body, { status, statusText: incoming.statusMessage, headers });
}
