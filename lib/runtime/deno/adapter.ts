/** The Deno implementation of the runtime seam: Deno.serve, Deno signals, Deno's fetch. */
import { denoSocketOps } from "./ffi.ts";
import { setListenerNoDelay } from "./nodelay.ts";
import { nodeFetch } from "./node_client.ts";
import { ownRequestBody, releaseSent } from "./spent_chunks.ts";
import { type Binder, serveWith, sharedPortProblemOf } from "../listen.ts";
import type { Runtime, ServerSocket, SignalName } from "../types.ts";
import { log } from "../../log.ts";

/** HTTP/2 requests reach a Deno.serve handler without a Host header (the authority is in the URL). */
function protocolOf(req: Request): string {
  return req.headers.has("host") ? "HTTP/1.1" : "HTTP/2.0";
}

/**
 * Deno 2.9.6 does not throw for reusePort without --unstable-net, TLS or not, but exits the
 * process (code 70), so it must be known beforehand; Deno.listenDatagram exists only under that
 * flag.
 */
const REUSE_PORT_PROBLEM = "listenDatagram" in Deno
  ? null
  : "Deno's --unstable-net flag (SO_REUSEPORT)";

const binder: Binder = {
  reusePortProblem: REUSE_PORT_PROBLEM,
  claimPort(hostname, port) {
    const probe = Deno.listen({ hostname, port });
    const bound = (probe.addr as Deno.NetAddr).port;
    probe.close();
    return bound;
  },
  bind(options, port, reusePort) {
    const handler = options.handler;
    const server = Deno.serve({
      hostname: options.hostname,
      port,
      reusePort,
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
      onListen: () => {},
      onError: options.onError,
    }, (req, info) => {
      const peer = info.remoteAddr as Deno.NetAddr;
      if (req.method !== "GET" && req.method !== "HEAD" && req.body) ownRequestBody(req.body);
      return handler(req, {
        address: peer.hostname,
        port: peer.port,
        protocol: protocolOf(req),
        spent: releaseSent,
      });
    });
    const addr = server.addr as Deno.NetAddr;
    const noDelay = setListenerNoDelay(addr.port);
    if (noDelay !== null) {
      log(
        `warning: ${noDelay}; responses over TLS HTTP/1.1 may wait ~40 ms for ` +
          "delayed ACKs (run with --allow-ffi, on Linux or macOS, to avoid it)",
      );
    }
    return { hostname: addr.hostname, port: addr.port, shutdown: () => server.shutdown() };
  },
};

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
  serve: (options) => serveWith(binder, options),
  claimPort: binder.claimPort,
  sharedPortProblem: () => sharedPortProblemOf(binder),
  fetchUpstream,
  onSignal,
  acceptWebSocket,
  socketOps: denoSocketOps,
};
