/**
 * Forwards one request to its route's upstream and turns the answer into the client's response:
 * bodies stream both ways, hop-by-hop headers stop here, redirects are mapped back under the route.
 * Compressed bodies pass through as the upstream sent them (lib/http/body/encoding.ts).
 */
import type { RouteConfig } from "../config/mod.ts";
import {
  coalesceBody,
  type CoalesceLimits,
  DEFAULT_LIMITS,
  type ReadWatch,
  readWhole,
  UpstreamDeadline,
  withoutRefused,
} from "./body/mod.ts";
import { addForwarded, endToEndHeaders, endToEndList, type ForwardedFacts } from "./headers.ts";
import { plain } from "./responses.ts";
import { rewriteLocation } from "./routes.ts";
import type { AcceptWebSocket, ClientInfo, UpstreamFetch } from "./types.ts";
import { errorText } from "../log.ts";
import type { Upstream, UpstreamPool } from "./upstreams.ts";

/** The runtime services the proxy uses. */
export interface UpstreamClient {
  readonly fetchUpstream: UpstreamFetch;
  readonly acceptWebSocket?: AcceptWebSocket;
}

/** A response plus, when promgate itself failed the request, the reason to log. */
export interface ProxyResult {
  readonly response: Response;
  /** Body bytes when the body is complete in memory (or absent); undefined while it streams. */
  readonly bytes?: number;
  readonly error?: string;
  /** The status to log when it differs from the response's (499: the client went away first). */
  readonly logStatus?: number;
}

/** Everything one proxied request needs. */
export interface ProxyRequest {
  readonly request: Request;
  readonly route: RouteConfig;
  /** The upstream path for this request (the route prefix already replaced). */
  readonly upstreamPath: string;
  /** The authenticated user (null on a public route), for the route's forwardUser header. */
  readonly user?: string | null;
  readonly forwarded: ForwardedFacts;
  readonly client: UpstreamClient;
  readonly limits?: CoalesceLimits;
  /** Called with a one-line reason when promgate cuts a response body it had begun to send. */
  readonly onBodyCut?: (line: string) => void;
  /** The client's connection, held busy while the response body streams (ClientInfo.hold). */
  readonly connection?: ClientInfo;
  /** The request's headers as iterating them yields (the handler's one snapshot of them). */
  readonly headerEntries: readonly [string, string][];
  /** The request target's query ("?..." or ""), as lib/http/target.ts split it off. */
  readonly search: string;
  /**
   * Whether the client may already have gone (its password was just hashed, which takes long
   * enough): then nothing is sent upstream if it has.
   */
  readonly checkClientFirst?: boolean;
  /** The route's upstreams when it has several (lib/http/upstreams.ts); absent: route.upstream. */
  readonly pool?: UpstreamPool;
  /** Counts requests and retries per upstream (lib/http/metrics.ts). */
  readonly counts?: UpstreamCounts;
}

/** Per-upstream counters of a route with several upstreams. */
export interface UpstreamCounts {
  upstreamRequest(route: string, origin: string): void;
  upstreamRetry(route: string, origin: string): void;
}

/**
 * How long an exchange runs before promgate listens for its client going away. Listening costs a
 * pending async op in Deno's server and an event listener per request (about 70 µs of CPU with
 * Deno's legacy abort semantics, a few µs with `--unstable-no-legacy-abort` as promgate runs), so
 * the many exchanges that end sooner skip it; a slow query whose client disconnects is still
 * aborted upstream within this plus one tick.
 */
export const CLIENT_WATCH_MS = 50;

class UpstreamTimeout extends Error {}
/** The body stalled for the route's timeout after the headers came. */
class UpstreamStall extends Error {}

/**
 * The answer for a client that went away first (logged as 499). A new Response each time: a body
 * can be sent once, and a Response shared between requests fails every one after the first.
 */
function clientGone(): ProxyResult {
  return {
    ...plain(502, "502 Bad Gateway\n"),
    error: "client closed the connection before the upstream answered",
    logStatus: 499,
  };
}

/**
 * Sends the request upstream and builds the client's response (502/504 on upstream failure).
 * With several upstreams: one picked by the pool (503 at once when none is up), and a request
 * that can be sent again (see {@link replayable}) is retried once on another when the first
 * failed before promgate sent the client anything.
 */
export function proxy(p: ProxyRequest): Promise<ProxyResult> {
  const { pool } = p;
  return pool ? proxyToPool(p, pool) : exchange(p, p.route.upstream.origin);
}

async function proxyToPool(p: ProxyRequest, pool: UpstreamPool): Promise<ProxyResult> {
  // Gone while we authenticated: don't ask upstream.
  if (p.checkClientFirst && p.request.signal.aborted) return clientGone();
  const first = pool.pick();
  if (!first) return noUpstream(pool);
  const tried = await exchangeWith(p, pool, first);
  if (!tried.retryable || !replayable(p.request)) return tried.result;
  const second = pool.pick(first);
  if (!second) return tried.result;
  p.counts?.upstreamRetry(pool.route, second.origin);
  return (await exchangeWith(p, pool, second)).result;
}

/**
 * Whether a request may be sent twice: GET, HEAD and OPTIONS with no body. A POSTed PromQL
 * query would be safe too, but its body streams and is gone once sent; remote write is not safe.
 */
function replayable(request: Request): boolean {
  const method = request.method;
  return (method === "GET" || method === "HEAD" || method === "OPTIONS") && request.body === null;
}

/** Every upstream of the route is down: answer at once rather than wait on one. */
function noUpstream(pool: UpstreamPool): ProxyResult {
  const names = pool.members.map((u) => u.origin).join(", ");
  return {
    ...plain(503, "503 Service Unavailable: no healthy upstream\n", { "retry-after": "1" }),
    error: `no healthy upstream for route ${pool.route} (${names} all down)`,
  };
}

/** One exchange with `u`, feeding its outcome back to the pool (the passive health check). */
async function exchangeWith(p: ProxyRequest, pool: UpstreamPool, u: Upstream): Promise<Exchange> {
  p.counts?.upstreamRequest(pool.route, u.origin);
  const tried: Attempt = { retryable: false };
  const result = await exchange(p, u.origin, pool.begin(u), tried);
  const status = result.response.status;
  if (tried.retryable) pool.failed(u, result.error ?? "request failed");
  else if (!result.error && (status === 502 || status === 503)) {
    pool.answeredBadly(u, status);
  } else if (!result.error) pool.succeeded(u);
  return { result, retryable: tried.retryable };
}

/** An exchange's result, and whether it failed before the client could have seen anything. */
interface Exchange {
  readonly result: ProxyResult;
  /** The upstream failed (not a timeout, not the client leaving) before the response began. */
  readonly retryable: boolean;
}

/** What {@link exchange} tells a caller that may retry elsewhere. */
interface Attempt {
  retryable: boolean;
}

const NOTHING = () => {};

/**
 * Sends the request to `origin`; `finished` is called once the exchange is over, and `tried`
 * (when given) learns whether a failure may be retried on another upstream.
 */
async function exchange(
  p: ProxyRequest,
  origin: string,
  finished: () => void = NOTHING,
  tried?: Attempt,
): Promise<ProxyResult> {
  const { request, route } = p;
  // Gone while we authenticated: don't ask upstream.
  if (p.checkClientFirst && request.signal.aborted) {
    finished();
    return clientGone();
  }
  const acceptEncoding = withoutRefused(request.headers.get("accept-encoding"));
  const controller = new AbortController();
  let headersIn = false;
  let streaming = false;
  const deadline = new UpstreamDeadline(route.timeoutMs, () => {
    if (!headersIn) return controller.abort(new UpstreamTimeout());
    controller.abort(new UpstreamStall());
    // Once the body streams to the client, cutting it is all promgate can do; say why.
    if (streaming) p.onBodyCut?.(`${stallReason(route, origin)}; response cut`);
  });
  deadline.whenOlderThan(CLIENT_WATCH_MS, () => followClient(request.signal, controller));
  const failed = (error: unknown): ProxyResult => {
    deadline.done();
    finished();
    // A client that left (its body stream broke, say) says nothing about the upstream.
    if (tried) tried.retryable = !controller.signal.aborted && !request.signal.aborted;
    return failure(error, controller.signal, route, origin);
  };
  let upstream: Response;
  try {
    upstream = await p.client.fetchUpstream(upstreamUrl(p, origin), {
      method: request.method,
      headers: upstreamHeaders(p, acceptEncoding),
      body: request.body,
      signal: controller.signal,
      // @ts-ignore: `duplex` is required to stream a request body but missing from lib.dom types.
      duplex: "half",
    });
  } catch (error) {
    return failed(error);
  }
  headersIn = true;
  deadline.arrived();
  try {
    const result = await clientResponse(p, upstream, deadline, controller.signal);
    streaming = result.bytes === undefined;
    const release = streaming ? p.connection?.hold?.() : undefined;
    if (streaming) {
      deadline.afterDone(() => {
        release?.();
        finished();
      });
    } else finished();
    return result;
  } catch (error) {
    return failed(error);
  }
}

/** Aborts the upstream exchange when (or if already) the client has gone. */
function followClient(client: AbortSignal, upstream: AbortController): void {
  if (client.aborted) return upstream.abort(client.reason);
  client.addEventListener("abort", () => upstream.abort(client.reason), { once: true });
}

/**
 * The upstream URL: its origin, the route's upstream path and the client's query. The path never
 * starts with "//" nor holds a backslash (lib/http/routes.ts), so the text parses as this origin's.
 */
function upstreamUrl(p: ProxyRequest, origin: string): string {
  return origin + p.upstreamPath + p.search;
}

/** The upstream as logs name it: the route's URL text, with this request's origin. */
function upstreamName(route: RouteConfig, origin: string): string {
  return origin === route.upstream.origin ? route.upstream.href : origin + route.upstream.pathname;
}

function stallReason(route: RouteConfig, origin: string): string {
  return `upstream ${upstreamName(route, origin)} sent nothing for ${route.timeoutMs / 1000} s ` +
    "in the middle of the body";
}

/**
 * The upstream URL and request headers for `p` without sending anything (for the WebSocket
 * bridge, which makes its own handshake): Accept-Encoding is left out.
 */
export function upstreamTarget(p: ProxyRequest): { url: URL; headers: Headers } {
  const url = new URL(upstreamUrl(p, p.route.upstream.origin));
  return { url, headers: new Headers(upstreamHeaders(p, null)) };
}

/**
 * {@link upstreamTarget} for a WebSocket on a route with several upstreams: one picked once for
 * the socket's life, or the 503 to answer when none is up.
 */
export function pickWebSocketTarget(
  p: ProxyRequest,
): { url: URL; headers: Headers } | ProxyResult {
  const { pool } = p;
  if (!pool) return upstreamTarget(p);
  const u = pool.pick();
  if (!u) return noUpstream(pool);
  p.counts?.upstreamRequest(pool.route, u.origin);
  return { url: new URL(upstreamUrl(p, u.origin)), headers: new Headers(upstreamHeaders(p, null)) };
}

/**
 * The request headers for the upstream, as a list (see {@link endToEndList} for why), with
 * `acceptEncoding` as the Accept-Encoding (none when null).
 */
function upstreamHeaders(p: ProxyRequest, acceptEncoding: string | null): [string, string][] {
  const { route } = p;
  const user = p.user ?? null;
  const drop = [
    "host",
    "accept-encoding",
    // Identity headers come from promgate only: a client must not be able to claim a user.
    "x-forwarded-user",
    ...(route.forwardUser ? [route.forwardUser] : []),
    ...(route.forwardAuthorization ? [] : ["authorization"]),
  ];
  const headers = endToEndList(p.request.headers, drop, p.headerEntries);
  if (acceptEncoding !== null) headers.push(["accept-encoding", acceptEncoding]);
  addForwarded(headers, p.forwarded);
  if (route.forwardUser && user !== null) headers.push([route.forwardUser, user]);
  return headers;
}

function failure(
  error: unknown,
  signal: AbortSignal,
  route: RouteConfig,
  origin: string,
): ProxyResult {
  const upstream = upstreamName(route, origin);
  if (signal.reason instanceof UpstreamStall) {
    return { ...plain(504, "504 Gateway Timeout\n"), error: stallReason(route, origin) };
  }
  if (signal.reason instanceof UpstreamTimeout) {
    return {
      ...plain(504, "504 Gateway Timeout\n"),
      error: `upstream ${upstream} sent no response headers within ${route.timeoutMs / 1000} s`,
    };
  }
  if (signal.aborted) return clientGone();
  return {
    ...plain(502, "502 Bad Gateway\n"),
    error: `upstream ${upstream} failed: ${describe(error)}`,
  };
}

/**
 * The innermost reason of a fetch failure ("fetch failed" alone says nothing), e.g.
 * "tcp connect error: Connection refused (os error 111)", on one line.
 */
function describe(error: unknown): string {
  let e = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  const message = errorText(e);
  return message.replace(/^error sending request for url \([^)]*\):\s*/, "").split("\n")[0];
}

async function clientResponse(
  p: ProxyRequest,
  upstream: Response,
  watch: ReadWatch,
  signal: AbortSignal,
): Promise<ProxyResult> {
  const headers = endToEndHeaders(upstream.headers);
  const location = headers.get("location");
  if (location !== null) {
    headers.set("location", rewriteLocation(location, p.route, publicOrigin(p.forwarded)));
  }
  const body = upstream.body;
  const init = { status: upstream.status, statusText: upstream.statusText, headers };
  if (p.request.method === "HEAD" || body === null || nullBodyStatus(upstream.status)) {
    watch.done();
    await body?.cancel().catch(() => {});
    return { response: new Response(null, init), bytes: 0 };
  }
  const length = headers.get("content-length");
  const knownLength = length === null ? undefined : Number(length);
  const limits = p.limits ?? DEFAULT_LIMITS;
  // A small body of known size is read whole in one go.
  const whole = knownLength !== undefined && knownLength <= limits.maxBytes;
  const coalesced = whole
    ? await readWhole(upstream, { watch, signal })
    : await coalesceBody(body, limits, { knownLength, watch, signal });
  if (!(coalesced instanceof Uint8Array)) return { response: new Response(coalesced, init) };
  headers.set("content-length", String(coalesced.byteLength));
  // Bytes read from a stream are never backed by a SharedArrayBuffer, whatever the typings say.
  const bytes = coalesced as Uint8Array<ArrayBuffer>;
  return { response: new Response(bytes, init), bytes: bytes.byteLength };
}

function nullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

function publicOrigin(f: ForwardedFacts): string {
  return `${f.proto}://${f.host}`;
}
