/** The Deno implementation of the runtime seam: Deno.serve, Deno signals, Deno's fetch. */
import { TrackedConn, trackRequest } from "../../slow_clients/mod.ts";
import { denoSocketOps } from "./ffi.ts";
import { setListenerNoDelay } from "./nodelay.ts";
import { nodeFetch } from "./node_client.ts";
import type { Runtime, ServeOptions, Server, ServerSocket, SignalName } from "../types.ts";
import { log } from "../../log.ts";

/** HTTP/2 requests reach a Deno.serve handler without a Host header (the authority is in the URL). */
function protocolOf(req: Request): string {
  return req.headers.has("host") ? "HTTP/1.1" : "HTTP/2.0";
}

/**
 * Whether Deno runs with --unstable-net, which SO_REUSEPORT on any listener needs. Without the
 * flag Deno does not throw but exits the process (code 70), so it must be known beforehand;
 * Deno.listenDatagram exists only under that flag.
 */
const UNSTABLE_NET = "listenDatagram" in Deno;

/**
 * A TLS server binds with SO_REUSEPORT so that a server with a new certificate can take over its
 * port (Server.replaceTls). Plain HTTP never needs that and binds without it.
 */
function serve(options: ServeOptions): Promise<Server> {
  try {
    if (options.sharedPort) return Promise.resolve(bind(options, options.port, true));
    const shared = options.tls !== null && UNSTABLE_NET;
    const port = shared ? claimPort(options.hostname, options.port) : options.port;
    return Promise.resolve(bind(options, port, shared));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Binds and at once closes a listener without SO_REUSEPORT on the address, so that a port taken
 * by another program (or another promgate) fails here as it would without reusePort, instead of
 * both processes silently sharing the connections. Returns the port (resolving port 0).
 */
function claimPort(hostname: string, port: number): number {
  const probe = Deno.listen({ hostname, port });
  const bound = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return bound;
}

/** Deno 2.9.6 exits the process (code 70) for reusePort without --unstable-net, TLS or not. */
function sharedPortProblem(_tls: boolean): string | null {
  return UNSTABLE_NET
    ? null
    : "several server threads on one port need Deno's --unstable-net flag (SO_REUSEPORT)";
}

function bind(options: ServeOptions, port: number, reusePort: boolean): Server {
  const server = Deno.serve({
    hostname: options.hostname,
    port,
    reusePort,
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
    onListen: () => {},
    onError: options.onError,
  }, (req, info) => {
    const addr = info.remoteAddr as Deno.NetAddr;
    const table = options.connections;
    if (!table) {
      return options.handler(req, { address: addr.hostname, protocol: protocolOf(req) });
    }
    const conn = new TrackedConn(addr.hostname, protocolOf(req), table, addr.port);
    return trackRequest(table, addr.port, () => options.handler(req, conn));
  });
  const addr = server.addr as Deno.NetAddr;
  const noDelay = setListenerNoDelay(addr.port);
  if (noDelay !== null) {
    log(
      `warning: ${noDelay}; responses over TLS HTTP/1.1 may wait ~40 ms for ` +
        "delayed ACKs (run with --allow-ffi, on Linux or macOS, to avoid it)",
    );
  }
  return {
    hostname: addr.hostname,
    port: addr.port,
    shutdown: () => server.shutdown(),
    replaceTls(tls) {
      if (!reusePort) {
        return Promise.reject(
          new Error(
            options.tls === null
              ? "switching from plain HTTP to HTTPS needs a restart"
              : "serving a new certificate without a restart needs Deno's --unstable-net flag " +
                "(SO_REUSEPORT for TLS listeners); restart promgate, or run it with that flag",
          ),
        );
      }
      try {
        return Promise.resolve(bind({ ...options, tls }, addr.port, true));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

function onSignal(signal: SignalName, listener: () => void): () => void {
  Deno.addSignalListener(signal, listener);
  return () => Deno.removeSignalListener(signal, listener);
}

function acceptWebSocket(req: Request, protocol: string | null) {
  const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
  socket.binaryType = "arraybuffer";
  // A real WebSocket; its handler properties take an Event where ServerSocket's take less.
  return { socket: socket as unknown as ServerSocket, response };
}

/**
 * Sends a request upstream without decoding its answer. Deno's fetch decodes gzip and br (keeping
 * the upstream's Content-Encoding and Content-Length) unless the request's Accept-Encoding is
 * exactly `identity`, and decoding costs what the decoded body costs (a 1 MB gzip bomb: 1 GiB).
 * So a request to a plain-HTTP upstream that may get a compressed answer goes by node:http, which
 * passes the bytes through (lib/runtime/deno/node_client.ts). Every other request goes by fetch
 * saying `identity`, so the upstream does not compress (and where it does anyway, fetch leaves
 * the body alone): HTTPS upstreams too, because Deno's node:https trusts neither DENO_CERT nor
 * --cert, which fetch honours. Uploads of unknown length go by node:http whatever the scheme, as
 * fetch handles those badly (see node_client.ts).
 */
function fetchUpstream(url: string, init: RequestInit): Promise<Response> {
  const headers: [string, string][] = Array.isArray(init.headers)
    ? init.headers as [string, string][]
    : [...new Headers(init.headers)];
  let acceptEncoding = -1;
  let sized = false;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i][0].toLowerCase();
    if (name === "accept-encoding") acceptEncoding = i;
    else if (name === "content-length") sized = true;
  }
  const compressed = acceptEncoding >= 0 && headers[acceptEncoding][1].trim() !== "identity";
  const unsizedUpload = init.body instanceof ReadableStream && !sized;
  if (unsizedUpload || (compressed && url.startsWith("http:"))) {
    return nodeFetch(new URL(url), init);
  }
  const identity = headers.filter((_, i) => i !== acceptEncoding);
  identity.push(["accept-encoding", "identity"]);
  return fetch(url, { ...init, headers: identity, redirect: "manual" });
}

/** The Deno runtime. */
export const denoRuntime: Runtime = {
  name: "deno",
  version: Deno.version.deno,
  serve,
  claimPort,
  sharedPortProblem,
  fetchUpstream,
  // Bodies pass through as the upstream sent them: see fetchUpstream.
  fetchDecodesCompression: false,
  onSignal,
  acceptWebSocket,
  socketOps: denoSocketOps,
};
