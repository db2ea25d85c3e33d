/**
 * What the client timeouts need from the runtime: the accepted sockets of this process, to list
 * and close them. Runtime adapters (lib/runtime/) implement {@link SocketAccess}.
 */

/** An accepted connection, as the kernel sees it. */
export interface AcceptedSocket {
  readonly fd: number;
  /** The client's address and port, e.g. "127.0.0.1:53412" (tells one connection from another). */
  readonly peer: string;
  readonly peerPort: number;
  /** Milliseconds since the client last sent data, and since the server last did (TCP_INFO). */
  readonly lastReceivedMs: number;
  readonly lastSentMs: number;
}

/** Lists and closes connections; see linuxSocketOps in lib/runtime/linux_sockets.ts. */
export interface SocketOps {
  /** The connections accepted on local port `port` (by any listener of this process). */
  list(port: number): AcceptedSocket[];
  /** Shuts down `socket` if its descriptor still belongs to the same client; true if it did. */
  shutdown(socket: AcceptedSocket): boolean;
}

/** Where the client timeouts get their sockets from: the runtime, seen from the timeouts. */
export interface SocketAccess {
  /** "deno" or "bun", for messages. */
  readonly name: string;
  /**
   * Lists and closes this process's accepted connections, for the client timeouts; or why that
   * is not possible here (not Linux, no FFI permission).
   */
  socketOps(): Promise<SocketOps | string>;
  /**
   * Limits the runtime's own server puts on clients, whatever promgate sets: Bun closes a
   * connection whose request head has not arrived after about 10 s, and one silent for 255 s.
   */
  readonly clientTimeoutCaps?: { readonly headerSeconds: number; readonly idleSeconds: number };
}
