/**
 * WebSocket pass-through (e.g. Grafana Live): after the usual authentication and route checks,
 * promgate opens a WebSocket to the upstream with the client's subprotocols and the same
 * forwarded headers a proxied request gets (cookies, X-Forwarded-*, the route's forwardUser),
 * and only once the upstream has accepted does it accept the client's upgrade, with the
 * protocol the upstream chose. Messages then flow both ways unchanged; a close on either side
 * closes the other. HTTP/1.1 only (the runtimes do not upgrade over HTTP/2).
 */
import type { RouteConfig } from "./config.ts";
import { type ProxyResult } from "./proxy.ts";
import { plain } from "./responses.ts";
import type { ConnInfo, ServerSocket } from "./runtime/types.ts";

/** Whether `req` asks to become a WebSocket (RFC 6455 §4.1). */
export function isWebSocketUpgrade(req: Request): boolean {
  return req.method === "GET" &&
    req.headers.get("upgrade")?.toLowerCase() === "websocket" &&
    /(^|,)\s*upgrade\s*(,|$)/i.test(req.headers.get("connection") ?? "");
}

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
  /** The client's connection, held busy while the WebSocket is open (ConnInfo.hold). */
  readonly connection?: ConnInfo;
}

/** Connects upstream, then accepts the client: 101, or 502/504 when the upstream will not. */
export async function bridgeWebSocket(b: WebSocketBridge): Promise<ProxyResult> {
  const url = new URL(b.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const protocols = (b.request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter(Boolean);
  const headers = new Headers(b.headers);
  for (const name of [...HANDSHAKE, "sec-websocket-protocol"]) headers.delete(name);
  let upstream: WebSocket;
  try {
    // Deno and Bun both take `headers` in the WebSocket constructor's options.
    upstream = new WebSocket(
      url,
      { protocols, headers: Object.fromEntries(headers) } as unknown as string[],
    );
  } catch (error) {
    return failed(502, `could not open a WebSocket to ${url.href}: ${message(error)}`);
  }
  upstream.binaryType = "arraybuffer";
  const opened = await opening(upstream, b.route.timeoutMs);
  if (opened !== "open") {
    upstream.close();
    const status = opened === "timeout" ? 504 : 502;
    return failed(status, `upstream WebSocket ${url.href} ${opened}`);
  }
  let accepted;
  try {
    accepted = b.accept(b.request, upstream.protocol || null);
  } catch (error) {
    upstream.close(1011);
    return failed(400, `could not accept the client's WebSocket: ${message(error)}`);
  }
  join(accepted.socket, upstream, b.connection?.hold?.() ?? (() => {}));
  // Bun stands for its upgrade with a placeholder response; the log says what happened.
  return { response: accepted.response, bytes: 0, logStatus: 101 };
}

function opening(ws: WebSocket, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), timeoutMs);
    const done = (outcome: string) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    ws.onopen = () => done("open");
    ws.onerror = () => done("refused the handshake");
    ws.onclose = (e) => done(`closed during the handshake (${e.code})`);
  });
}

/**
 * Passes messages both ways; a close on one side closes the other with the same code. `release`
 * is called once the client's side has closed.
 */
function join(client: ServerSocket, upstream: WebSocket, release: () => void): void {
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
  upstream.onmessage = (e) => toClient(e.data);
  client.onmessage = async (e) => {
    const data = e.data instanceof Blob ? await e.data.arrayBuffer() : e.data;
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
  };
  upstream.onclose = (e) => client.close(closeCode(e.code), e.reason);
  upstream.onerror = () => client.close(1011, "upstream failed");
  client.onclose = (e) => {
    release();
    if (upstream.readyState <= WebSocket.OPEN) upstream.close(closeCode(e.code), e.reason);
  };
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

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
