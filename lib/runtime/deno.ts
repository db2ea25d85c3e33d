/** The Deno implementation of the runtime seam: Deno.serve, Deno signals, Deno's fetch. */
import { setListenerNoDelay } from "./deno_nodelay.ts";
import { isUnsizedUpload, sendUnsizedUpload } from "./deno_upload.ts";
import type { ConnInfo, Runtime, ServeOptions, Server, SignalName } from "./types.ts";

/** HTTP/2 requests reach a Deno.serve handler without a Host header (the authority is in the URL). */
function protocolOf(req: Request): string {
  return req.headers.has("host") ? "HTTP/1.1" : "HTTP/2.0";
}

function serve(options: ServeOptions): Promise<Server> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
        onListen: () => {},
        onError: options.onError,
      }, (req, info) => {
        const addr = info.remoteAddr as Deno.NetAddr;
        const conn: ConnInfo = { remoteAddr: addr.hostname, protocol: protocolOf(req) };
        return options.handler(req, conn);
      });
      const addr = server.addr as Deno.NetAddr;
      const noDelay = setListenerNoDelay(addr.port);
      if (noDelay !== null) {
        console.error(
          `promgate: warning: ${noDelay}; responses over TLS HTTP/1.1 may wait ~40 ms for ` +
            "delayed ACKs (run with --allow-ffi, on Linux or macOS, to avoid it)",
        );
      }
      resolve({
        hostname: addr.hostname,
        port: addr.port,
        shutdown: () => server.shutdown(),
      });
    } catch (error) {
      reject(error);
    }
  });
}

function onSignal(signal: SignalName, listener: () => void): () => void {
  Deno.addSignalListener(signal, listener);
  return () => Deno.removeSignalListener(signal, listener);
}

/** The Deno runtime. */
export const denoRuntime: Runtime = {
  name: "deno",
  version: Deno.version.deno,
  serve,
  fetchUpstream: (url, init) =>
    isUnsizedUpload(init)
      ? sendUnsizedUpload(url, init)
      : fetch(url, { ...init, redirect: "manual" }),
  // Deno's fetch decodes gzip and br even when the caller set Accept-Encoding, keeping the
  // upstream's Content-Encoding and Content-Length; only `identity` stops it.
  fetchDecodesCompression: true,
  onSignal,
};
