/**
 * The request pipeline's own contract with whatever serves it: what it is told about a client,
 * and how it reaches upstreams and accepts WebSockets. Runtime adapters (lib/runtime/) implement
 * these; nothing here names a runtime.
 */

/** What the server knows about the connection a request came in on. */
export interface ClientInfo {
  /** The client's IP address (no port), e.g. "127.0.0.1" or "::1". */
  readonly address: string;
  /**
   * The client's TCP port, where the server knows it: with the address it names the connection
   * (the client timeouts find it by this among the process's sockets).
   */
  readonly port?: number;
  /** The HTTP version as an access log writes it: "HTTP/1.1" or "HTTP/2.0". */
  readonly protocol: string;
  /**
   * Marks the connection busy until the returned function is called, for what outlasts the
   * request: a response body still streaming, an open WebSocket. The client timeouts
   * (lib/slow_clients/) never close a busy connection. Absent where nothing is tracked: servers
   * leave it out, and lib/slow_clients' trackConnections adds it.
   */
  hold?(): () => void;
  /**
   * Told of each chunk of a streamed response body once the server has taken it (it asked for
   * the next one), so the runtime may free the chunk's memory at once instead of at the garbage
   * collector's next full collection. Nothing reads the chunk afterwards. Absent: nothing to do.
   */
  readonly spent?: (chunk: Uint8Array) => void;
}

/** A web-standard request handler plus the connection facts the server adds. */
export type HttpHandler = (req: Request, client: ClientInfo) => Response | Promise<Response>;

/**
 * Sends a request to an upstream: never follows redirects and streams both bodies. The Response
 * it resolves with has headers that match its bytes: a body still compressed carries the
 * upstream's Content-Encoding (and Content-Length, if any), and one the runtime decoded would
 * carry neither. The proxy passes both on as they are and never decodes or re-encodes, so an
 * adapter whose client decodes on its own must undo that, or keep it from happening (as the Deno
 * adapter does); and it should not decode at all, since decoding costs what the decoded body
 * costs (a 1 MB gzip bomb is 1 GiB of work).
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
