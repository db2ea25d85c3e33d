/**
 * The seam between promgate and the JavaScript runtime. Everything outside lib/runtime/ talks to
 * Deno or Bun only through this interface, so both runtimes share every other line.
 */
import type {
  AcceptWebSocket,
  ClientInfo,
  HttpHandler,
  ServerSocket,
  UpstreamFetch,
} from "../http/mod.ts";
import type { SocketAccess } from "../slow_clients/mod.ts";

export type { ClientInfo, HttpHandler, ServerSocket };

/** PEM text of a certificate chain and its private key. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** Options for {@linkcode Runtime.serve}. */
export interface ServeOptions {
  readonly hostname: string;
  readonly port: number;
  /** Serve HTTPS (HTTP/2 offered by ALPN where the runtime can) when set; plain HTTP otherwise. */
  readonly tls: TlsFiles | null;
  /** Told each request's client address, port and protocol (ClientInfo without `hold`). */
  readonly handler: HttpHandler;
  /** Called when the handler throws; must return a response that reveals nothing internal. */
  readonly onError: (error: unknown) => Response;
  /**
   * Other server threads of this process listen on the same port: bind with SO_REUSEPORT,
   * without first proving the port free (the main thread did that with {@link Runtime.claimPort}).
   */
  readonly sharedPort?: boolean;
  /**
   * Accept PROXY protocol v1/v2 headers (lib/runtime/proxy_protocol.ts): a front listener on
   * hostname:port reads them from trusted peers and pipes to the server on a private port.
   */
  readonly proxyProtocol?: {
    /** Whether a peer may send PROXY headers; every other peer's connection is closed. */
    readonly trusted: (address: string) => boolean;
    /** How long a trusted peer has to send a whole header. */
    readonly headerTimeoutMs: number;
    /** Told why a connection was closed before it reached the server. */
    readonly onRefused?: (line: string) => void;
  } | null;
}

/** A listening server. */
export interface Server {
  readonly hostname: string;
  readonly port: number;
  /**
   * The port whose accepted sockets carry the requests (the client timeouts sweep them): the
   * private one behind a PROXY protocol front; absent: `port`.
   */
  readonly connectionsPort?: number;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  shutdown(): Promise<void>;
  /**
   * Starts a second server on this one's address with the same handler but `tls` (both listen,
   * by SO_REUSEPORT), so the caller can then shut this one down while its requests finish: no
   * runtime here can swap the certificate of a running server, and closing first would refuse
   * connections in between. Rejects, saying why and what to do, where that is not possible.
   */
  replaceTls(tls: TlsFiles): Promise<Server>;
}

/** Signals promgate reacts to. */
export type SignalName = "SIGINT" | "SIGTERM" | "SIGHUP";

/** The runtime-specific services promgate needs. */
export interface Runtime extends SocketAccess {
  /** "deno" or "bun". */
  readonly name: string;
  /** The runtime's own version, e.g. "2.9.6". */
  readonly version: string;
  /** Starts listening; resolves once the socket is bound (so port 0 is resolved). */
  serve(options: ServeOptions): Promise<Server>;
  /**
   * Proves `port` free by binding it without SO_REUSEPORT and closing it again, so that several
   * server threads can then share it with {@link ServeOptions.sharedPort}. Returns the port
   * (resolving 0); throws as serve would when it is taken.
   */
  claimPort(hostname: string, port: number): number;
  /**
   * Why server threads cannot share a port for this kind of listener (Deno: TLS needs
   * --unstable-net), or null when they can.
   */
  sharedPortProblem(tls: boolean): string | null;
  /**
   * Sends a request to an upstream (see {@link UpstreamFetch}): the Response's headers match its
   * bytes, whatever the runtime's own client does with compressed bodies.
   */
  readonly fetchUpstream: UpstreamFetch;
  /** Accepts a WebSocket upgrade (see {@link AcceptWebSocket}). */
  readonly acceptWebSocket: AcceptWebSocket;
  /** Registers a signal listener; returns a function that removes it. */
  onSignal(signal: SignalName, listener: () => void): () => void;
  /**
   * A native bcrypt check that runs off the main thread (Bun: `Bun.password.verify`), used
   * instead of the pure-JS worker pool where present. Must match what htpasswd's bcrypt does
   * (only the first 72 UTF-8 bytes count) and resolve false, never reject, for a malformed hash.
   */
  readonly verifyBcrypt?: (password: string, encoded: string) => Promise<boolean>;
}
