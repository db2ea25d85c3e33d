/**
 * WebSocket pass-through (e.g. Grafana Live): after the usual authentication and route checks,
 * promgate opens a WebSocket to the upstream with the client's subprotocols and the same
 * forwarded headers a proxied request gets (cookies, X-Forwarded-*, the route's forwardUser),
 * and only once the upstream has accepted does it accept the client's upgrade, with the
 * protocol the upstream chose. Messages then flow both ways unchanged; a close on either side
 * closes the other, and a side that does not answer that Close within {@link CLOSE_TIMEOUT_MS}
 * is let go. HTTP/1.1 only (the runtimes do not upgrade over HTTP/2).
 */
import type { RouteConfig } from "../config/mod.ts";
import { type ProxyResult } from "./proxy.ts";
import { plain } from "./responses.ts";
import type { ClientInfo, ServerSocket } from "./types.ts";
import { openWebSocket } from "./websocket_client.ts";
import { type UpstreamWebSocket } from "./websocket_frames.ts";
import { errorText } from "../log.ts";

/** Request headers the WebSocket handshake itself owns; the upstream handshake makes its own. */
const HANDSHAKE = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"];

/** What {@link bridgeWebSocket} needs. */
export interface WebSocketBridge {
  readonly request: Request;
  readonly route: RouteConfig;
  /** The upstream URL for this request (http/https; turned into ws/wss here). */
  readonly url: URL;
  /** The headers a proxied request would send upstream (end-to-end, forwarded, forwardUser). */
  readonly headers: Headers;
  readonly accept: (req: Request, protocol: string | null) => {
    socket: ServerSocket;
    response: Response;
  };
  /** The client's connection, held busy while the WebSocket is open (ClientInfo.hold). */
  readonly connection?: ClientInfo;
}

/**
 * How long either side gets to answer a Close before promgate stops waiting: a closing
 * handshake is one round trip, so a peer silent for 5 s (a hundred slow WAN round trips) is not
 * going to answer. RFC 6455 names no figure (Node's ws library waits 30 s). The route's
 * timeoutSeconds (default 120 s, sized for slow queries) would let a flood of departing clients
 * keep 24 times as many sockets; a route with a shorter timeout gets that instead.
 */
export const CLOSE_TIMEOUT_MS = 5000;

/** Connects upstream, then accepts the client: 101, or 502/504 when the upstream will not. */
export async function bridgeWebSocket(b: WebSocketBridge): Promise<ProxyResult> {
  const url = new URL(b.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const protocols = (b.request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter(Boolean);
  const headers = new Headers(b.headers);
  for (const name of [...HANDSHAKE, "sec-websocket-protocol"]) headers.delete(name);
  const closeTimeoutMs = Math.min(CLOSE_TIMEOUT_MS, b.route.timeoutMs);
  const opened = await openWebSocket(url, {
    protocols,
    headers,
    timeoutMs: b.route.timeoutMs,
    closeTimeoutMs,
  });
  if (!opened.ok) {
    return failed(opened.timeout ? 504 : 502, `upstream WebSocket ${url.href} ${opened.reason}`);
  }
  const upstream = opened.socket;
  let accepted;
  try {
    accepted = b.accept(b.request, upstream.protocol || null);
  } catch (error) {
    upstream.start();
    upstream.close(1011);
    return failed(400, `could not accept the client's WebSocket: ${errorText(error)}`);
  }
  join(accepted.socket, upstream, b.connection?.hold?.() ?? (() => {}), closeTimeoutMs);
  // Bun stands for its upgrade with a placeholder response; the log says what happened.
  return { response: accepted.response, bytes: 0, logStatus: 101 };
}

/**
 * Passes messages both ways; a close on one side closes the other with the same code. `release`
 * is called once the client's side has closed, or `closeTimeoutMs` after promgate closed it if
 * the client has not answered by then. The upstream's side is dropped by the upstream socket
 * itself when the upstream does not answer within that time (lib/http/websocket_client.ts).
 */
function join(
  client: ServerSocket,
  upstream: UpstreamWebSocket,
  release: () => void,
  closeTimeoutMs: number,
): void {
  // Messages the upstream sends before the client's side is open wait here.
  let pending: (string | ArrayBuffer | Uint8Array)[] | null = [];
  const toClient = (data: string | ArrayBuffer | Uint8Array) => {
    if (pending) pending.push(data);
    else client.send(data);
  };
  client.onopen = () => {
    for (const data of pending ?? []) client.send(data);
    pending = null;
  };
  upstream.onmessage = toClient;
  client.onmessage = async (e) => {
    const data = e.data instanceof Blob ? await e.data.arrayBuffer() : e.data;
    upstream.send(data);
  };
  let clientOpen = true;
  let clientTimer: ReturnType<typeof setTimeout> | undefined;
  const clientDone = () => {
    if (!clientOpen) return;
    clientOpen = false;
    clearTimeout(clientTimer);
    release();
  };
  upstream.onclose = (code, reason) => {
    if (!clientOpen) return;
    // 1006: the upstream's connection ended without a Close; the client hears of a failure.
    if (code === 1006) client.close(1011, "upstream connection lost");
    else client.close(closeCode(code), reason);
    // A client that never answers our Close holds its connection busy no longer than this: once
    // released, the client timeouts (lib/slow_clients/sweep.ts) treat it as any idle connection.
    // The ServerSocket of lib/runtime/types.ts offers no way to drop it from here.
    clientTimer = setTimeout(clientDone, closeTimeoutMs);
  };
  client.onclose = (e) => {
    clientDone();
    upstream.close(closeCode(e.code), e.reason); // a no-op once the upstream's side is closing
  };
  upstream.start();
}

/** A code a peer may send in a close frame (1005/1006/1015 are never sent, only reported). */
function closeCode(code: number): number {
  return code === 1000 || (code >= 1001 && code <= 1014 && ![1004, 1005, 1006].includes(code)) ||
      (code >= 3000 && code <= 4999)
    ? code
    : 1000;
}

function failed(status: 400 | 502 | 504, error: string): ProxyResult {
  const text = { 400: "400 Bad Request\n", 502: "502 Bad Gateway\n", 504: "504 Gateway Timeout\n" };
  return { ...plain(status, text[status]), error };
}
