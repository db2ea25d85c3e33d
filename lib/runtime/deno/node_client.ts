/**
 * Upstream exchanges through Deno's node:http client, for the two cases Deno's fetch handles badly.
 *
 * 1. Responses the upstream may compress. Deno 2.9.6's fetch decodes gzip and br whenever the
 *    request's Accept-Encoding is anything but exactly `identity`, and nothing turns that off
 *    (Deno.createHttpClient has no such option). Decoding costs what the *decoded* body costs: a
 *    1 MB gzip bomb is 1 GiB of work (7.4 CPU-s, and promgate then re-encoded it for the client).
 *    node:http hands over the bytes as the upstream sent them, so promgate passes them through
 *    untouched, as it does under Bun. It is also cheaper per small request than fetch with
 *    decoding (measured: 65-70 µs of CPU per 838-byte JSON answer gzipped, against 115-129 µs).
 * 2. Uploads without a Content-Length. Fetch degrades badly when its request body is a stream
 *    fed from a chunked request that Deno.serve is receiving: the process spends its time in
 *    memmove and a 256 MiB upload through a minimal Deno.serve -> fetch proxy takes 11-70 s
 *    instead of ~1 s, while buffering ~100 MB. node:http does not (1.0-1.4 s, flat RSS).
 *
 * The result behaves as the proxy expects of fetch: redirects are not followed, the abort signal
 * cancels the exchange at any point, and the body streams with backpressure.
 *
 * What it costs: on a large body the upstream did not compress, Deno's node:http is slower than
 * fetch and leaves more spent buffers for the garbage collector (a 1 GiB download: about 1.5-2x
 * the time, and 40-55 MiB more peak RSS with two server threads). Prometheus compresses its API
 * and federation answers for a client that takes gzip, so those bodies arrive ~10x smaller.
 */
import type http from "node:http";
import { isOwnedBody, ownChunk, release } from "./spent_chunks.ts";

/** node:http and node:https with their keep-alive agents, once the first request needs them. */
interface NodeClients {
  readonly "http:": { request: typeof http.request; agent: http.Agent };
  readonly "https:": { request: typeof http.request; agent: http.Agent };
}

let clients: Promise<NodeClients> | null = null;

/**
 * Loaded on first use rather than at start: Deno compiles its node:http polyfill in every thread
 * that imports it (~6 MiB each), and the main thread and many server threads never send a request
 * this way.
 */
function nodeClients(): Promise<NodeClients> {
  return clients ??= Promise.all([import("node:http"), import("node:https")]).then(
    ([{ default: http }, { default: https }]) => ({
      "http:": { request: http.request, agent: new http.Agent({ keepAlive: true }) },
      "https:": { request: https.request, agent: new https.Agent({ keepAlive: true }) },
    }),
  );
}

/** Bytes of response body buffered ahead of the proxy's reads before the socket is paused. */
const BODY_HIGH_WATER_MARK = 64 * 1024;

/** The request headers as node:http takes them: a repeated name keeps every value. */
function nodeHeaders(init: HeadersInit | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const entries = Array.isArray(init) ? init : new Headers(init);
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    const seen = out[key];
    if (seen === undefined) out[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return out;
}

/** Sends `init` to `url` with node:http and resolves with the upstream's answer, body untouched. */
export async function nodeFetch(url: URL, init: RequestInit): Promise<Response> {
  const client = (await nodeClients())[url.protocol as keyof NodeClients];
  return await send(client, url, init);
}

function send(
  client: NodeClients["http:"],
  url: URL,
  init: RequestInit,
): Promise<Response> {
  const headers = nodeHeaders(init.headers);
  const body = init.body instanceof ReadableStream ? init.body as ReadableStream<Uint8Array> : null;
  if (body !== null && headers["content-length"] === undefined) {
    headers["transfer-encoding"] = "chunked";
  }
  const signal = init.signal ?? undefined;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let request: http.ClientRequest;
    try {
      request = client.request(url, { method: init.method, headers, agent: client.agent });
    } catch (error) {
      // node:http refuses some header values fetch would send; say so as fetch would fail.
      return reject(error);
    }
    const onAbort = () => request.destroy(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    request.on("error", (error) => {
      done();
      reject(signal?.aborted ? signal.reason : error);
    });
    request.on("response", (incoming) => {
      incoming.on("close", done);
      try {
        resolve(toResponse(incoming, init.method, signal));
      } catch (error) {
        incoming.destroy();
        reject(error);
      }
    });
    if (body === null) request.end();
    else pump(body, request);
  });
}

/**
 * Writes `body` into `request`, waiting for "drain" when it is full. (A plain write loop:
 * Readable.fromWeb piped into the request held ~30 MiB more at peak for a 256 MiB upload.)
 */
async function pump(body: ReadableStream<Uint8Array>, request: http.ClientRequest) {
  const closed = new Promise<void>((resolve) => request.once("close", resolve));
  const owned = isOwnedBody(body);
  try {
    for await (const chunk of body) {
      if (request.destroyed) break;
      const written = owned ? () => release(chunk) : undefined;
      if (!request.write(chunk, written)) {
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
  signal: AbortSignal | undefined,
): Response {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const status = incoming.statusCode ?? 502;
  const init = { status, statusText: incoming.statusMessage, headers };
  if (method === "HEAD" || [101, 204, 205, 304].includes(status)) {
    incoming.resume();
    return new Response(null, init);
  }
  return new Response(webBody(incoming, signal), init);
}

/**
 * `incoming` as a web stream: chunks as they arrive, the socket paused while the reader is
 * behind, and an error (never a clean end) when the upstream stops before the body is complete.
 * (Readable.toWeb cost ~30 µs more per small response than taking the events directly.)
 */
function webBody(
  incoming: http.IncomingMessage,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        controller.error(signal?.aborted ? signal.reason : error);
      };
      incoming.on("data", (chunk: Uint8Array) => {
        if (settled) return;
        ownChunk(chunk);
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 1) <= 0) incoming.pause();
      });
      incoming.once("end", () => {
        if (settled) return;
        settled = true;
        controller.close();
      });
      incoming.once("error", fail);
      incoming.once("close", () => {
        fail(new Error("the upstream closed the connection in the middle of the body"));
      });
    },
    pull() {
      if (incoming.isPaused()) incoming.resume();
    },
    cancel() {
      settled = true;
      incoming.destroy();
    },
  }, { highWaterMark: BODY_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength });
}
