/**
 * The request pipeline's own contract with whatever serves it: what it is told about a client,
 * and how it reaches upstreams and accepts WebSockets. Runtime adapters (lib/runtime/) implement
 * these; nothing here names a runtime.
 */

/** What the server knows about the connection a request came in on. */
export interface ClientInfo {
  /** The client's IP address (no port), e.g. "127.0.0.1" or "::1". */
  readonly address: string;
  /** The HTTP version as an access log writes it: "HTTP/1.1" or "HTTP/2.0". */
  readonly protocol: string;
  /**
   * Marks the connection busy until the returned function is called, for what outlasts the
   * request: a response body still streaming, an open WebSocket. The client timeouts
   * (lib/slow_clients/sweep.ts) never close a busy connection. Absent where nothing is tracked.
   */
  hold?(): () => void;
}

/** A web-standard request handler plus the connection facts the server adds. */
export type HttpHandler = (req: Request, client: ClientInfo) => Response | Promise<Response>;

/**
 * Sends a request to an upstream: never follows redirects, streams both bodies, and (where the
 * runtime allows) does not decode the response body.
 */
export type UpstreamFetch = (url: string, init: RequestInit) => Promise<Response>;

/**
 * The client's side of an accepted WebSocket: the parts of the web-standard WebSocket the bridge
 * uses (Deno gives a real WebSocket; Bun's adapter wraps its ServerWebSocket).
 */
export interface ServerSocket {
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: string | ArrayBuffer | Uint8Array | Blob }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

/**
 * Accepts `req`'s WebSocket upgrade (HTTP/1.1 only), answering with `protocol` (the one the
 * upstream chose) when given. The handler must return `response` as it is.
 */
export type AcceptWebSocket = (
  req: Request,
  protocol: string | null,
) => { readonly socket: ServerSocket; readonly response: Response };
