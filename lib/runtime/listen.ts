/**
 * How both runtimes' servers bind, written once. A TLS server binds with SO_REUSEPORT so that a
 * server with a new certificate can take over its port ({@linkcode Server.replaceTls}): no runtime
 * here can swap the certificate of a running server, and closing first would refuse connections
 * in between. Plain HTTP never needs that and binds without it. Before binding with SO_REUSEPORT,
 * the port is claimed, so that one taken by another program fails as it would without.
 */
import type { ServeOptions, Server } from "./types.ts";
import type { ProxyFront } from "./proxy_protocol.ts";

/** PROXY protocol in front of a server (lib/runtime/proxy_protocol.ts). */
export interface ProxyProtocolOptions {
  /** Whether a peer may send PROXY headers; every other peer's connection is closed. */
  readonly trusted: (address: string) => boolean;
  /** How long a trusted peer has to send a whole header. */
  readonly headerTimeoutMs: number;
  /** Told why a connection was closed before it reached the server. */
  readonly onRefused?: (line: string) => void;
}

/** ServeOptions, with PROXY protocol where set. */
export type ListenOptions = ServeOptions & { readonly proxyProtocol?: ProxyProtocolOptions | null };

/** A server as an adapter binds it. */
export interface Bound {
  readonly hostname: string;
  readonly port: number;
  shutdown(): Promise<void>;
}

/** What an adapter provides for {@linkcode serveWith}. */
export interface Binder {
  /** Starts the runtime's server on `port` (resolved, unless 0), with SO_REUSEPORT or not. */
  bind(options: ServeOptions, port: number, reusePort: boolean): Bound;
  /**
   * Proves `port` free by binding a plain listener without SO_REUSEPORT on the address and
   * closing it at once, so that servers can then share it with SO_REUSEPORT (Runtime.claimPort).
   * Returns the port (resolving 0); throws as the runtime's server would when it is taken.
   */
  claimPort(hostname: string, port: number): number;
  /**
   * What binding with SO_REUSEPORT needs that this process lacks (e.g. "Deno's --unstable-net
   * flag (SO_REUSEPORT)"), or null when it can.
   */
  readonly reusePortProblem: string | null;
}

/** Starts a server as `options` asks (see the module's comment). */
export function serveWith(binder: Binder, options: ListenOptions): Promise<Server> {
  if (options.proxyProtocol) return serveBehindFront(binder, options, options.proxyProtocol);
  try {
    if (options.sharedPort) return Promise.resolve(start(binder, options, options.port, true));
    const reuse = options.tls !== null && binder.reusePortProblem === null;
    const port = reuse ? binder.claimPort(options.hostname, options.port) : options.port;
    return Promise.resolve(start(binder, options, port, reuse));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Why server threads cannot share a port here, or null when they can. */
export function sharedPortProblemOf(binder: Binder): string | null {
  const problem = binder.reusePortProblem;
  return problem === null ? null : `several server threads on one port need ${problem}`;
}

function start(binder: Binder, options: ServeOptions, port: number, reusePort: boolean): Server {
  const bound = binder.bind(options, port, reusePort);
  return {
    hostname: bound.hostname,
    port: bound.port,
    shutdown: () => bound.shutdown(),
    replaceTls(tls) {
      if (!reusePort) {
        const why = options.tls === null
          ? "switching from plain HTTP to HTTPS needs a restart"
          : `serving a new certificate without a restart needs ${binder.reusePortProblem}; ` +
            "restart promgate to serve it";
        return Promise.reject(new Error(why));
      }
      try {
        return Promise.resolve(start(binder, { ...options, tls }, bound.port, true));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

/**
 * The server on a private 127.0.0.1 port behind a PROXY protocol front on the configured address
 * (lib/runtime/proxy_protocol.ts): each request's ClientInfo.address becomes the client the
 * header named for its connection, found by the connection's port (ClientInfo.port, which stays
 * the pipe's, so the client timeouts still find the socket).
 */
async function serveBehindFront(
  binder: Binder,
  options: ServeOptions,
  proxy: ProxyProtocolOptions,
): Promise<Server> {
  let front: ProxyFront | null = null;
  const handler = options.handler;
  const inner: ServeOptions = {
    ...options,
    hostname: "127.0.0.1",
    port: 0,
    sharedPort: false,
    handler: (req, info) => {
      const client = info.port === undefined ? undefined : front?.clientOf(info.port);
      return handler(req, client === undefined ? info : { ...info, address: client });
    },
  };
  const bound = binder.bind(inner, 0, false);
  try {
    // Loaded here: a listener without the PROXY protocol never holds the front's code.
    const { startProxyFront } = await import("./proxy_protocol.ts");
    front = await startProxyFront({
      hostname: options.hostname,
      port: options.port,
      trusted: proxy.trusted,
      backendPort: bound.port,
      headerTimeoutMs: proxy.headerTimeoutMs,
      onRefused: proxy.onRefused,
    });
  } catch (error) {
    await bound.shutdown();
    throw error;
  }
  const listening = front;
  // connectionsPort: the client timeouts sweep the real server's sockets, not the front's.
  const server: Server & { readonly connectionsPort: number } = {
    hostname: listening.hostname,
    port: listening.port,
    connectionsPort: bound.port,
    async shutdown() {
      // The front resolves once its pipes have ended, which the real server's shutdown ends.
      const closed = listening.close();
      await bound.shutdown();
      await closed;
    },
    replaceTls: () =>
      Promise.reject(
        new Error("serving a new certificate behind listen.proxyProtocol needs a restart"),
      ),
  };
  return server;
}
