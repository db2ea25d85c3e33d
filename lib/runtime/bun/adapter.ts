/** The Bun implementation of the runtime seam: Bun.serve, Bun's fetch, node:process signals. */
import process from "node:process";
import { bunSocketOps } from "./ffi.ts";
import { type Binder, serveWith, sharedPortProblemOf } from "../listen.ts";
import type { Runtime, ServerSocket, SignalName } from "../types.ts";
import { errorText } from "../../log.ts";

/**
 * The part of Bun's global this file uses (Bun 1.4.5), declared here so that `deno check`, which
 * has no Bun types, can check this file. Only the members used below are listed.
 */
interface BunTlsOptions {
  readonly cert: string;
  readonly key: string;
  /** An OpenSSL-style TLS 1.2 cipher list; names BoringSSL does not know are skipped. */
  readonly ciphers: string;
  /** A bitmask of `SSL_OP_*` flags; Bun.serve has no `minVersion`, this is how to set a floor. */
  readonly secureOptions: number;
}

interface BunSocketAddress {
  readonly address: string;
  readonly port: number;
}

interface BunServer {
  readonly hostname: string | undefined;
  readonly port: number | undefined;
  requestIP(request: Request): BunSocketAddress | null;
  /** `false`: stop accepting, close idle keep-alive connections, let in-flight requests finish. */
  stop(closeActiveConnections?: boolean): Promise<void>;
  upgrade(request: Request, options: { headers?: HeadersInit; data: BunSocketAdapter }): boolean;
}

/** Bun's ServerWebSocket, as far as the bridge uses it. */
interface BunServerWebSocket {
  readonly data: BunSocketAdapter;
  send(data: string | ArrayBuffer | Uint8Array): number;
  close(code?: number, reason?: string): void;
}

interface BunServeOptions {
  readonly hostname: string;
  readonly port: number;
  readonly tls?: BunTlsOptions;
  readonly http2?: boolean;
  readonly idleTimeout: number;
  readonly maxRequestBodySize: number;
  readonly development: boolean;
  readonly reusePort: boolean;
  fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  error(error: Error): Response | Promise<Response>;
  readonly websocket: {
    open(ws: BunServerWebSocket): void;
    message(ws: BunServerWebSocket, message: string | Uint8Array): void;
    close(ws: BunServerWebSocket, code: number, reason: string): void;
  };
}

interface BunListenOptions {
  readonly hostname: string;
  readonly port: number;
  readonly socket: { data(): void };
}

interface BunListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

declare const Bun: {
  readonly version: string;
  serve(options: BunServeOptions): BunServer;
  /** A raw TCP listener (bound without SO_REUSEPORT). */
  listen(options: BunListenOptions): BunListener;
  readonly password: {
    /** Runs on Bun's thread pool; throws for a hash it cannot parse. */
    verify(password: string | Uint8Array, hash: string): Promise<boolean>;
  };
};

/** Bun's fetch options beyond the web standard's. */
interface BunRequestInit extends RequestInit {
  /** `false`: hand the body over as sent, whatever its Content-Encoding (Bun's default is true). */
  readonly decompress: boolean;
}

/**
 * Seconds a connection may be silent, including while a handler waits for a slow upstream before
 * it sends any byte. Bun's default is 10 s, which cuts slow PromQL queries; 255 is Bun's maximum
 * (0 would disable the timeout, and leave dead and idle keep-alive connections open for ever).
 */
const IDLE_TIMEOUT_SECONDS = 255;

/**
 * Bun 1.4.5's server (uWebSockets) closes a new connection that has not sent a whole request head
 * within about 10 s, whatever `idleTimeout` says (measured: a half-sent head, silent or a byte a
 * second, was closed after 10-12 s).
 */
const HEADER_TIMEOUT_CAP_SECONDS = 10;

/**
 * Bun.serve refuses request bodies over 128 MiB by default (the handler's stream errors with
 * "Request body exceeded maxRequestBodySize" and the client gets 413). promgate streams request
 * bodies to the upstream without buffering, so the upstream decides what is too large, as with
 * Deno.serve and nginx' `client_max_body_size 0`.
 */
const MAX_REQUEST_BODY_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * TLS 1.2 suites: forward secret and AEAD only (Mozilla's "intermediate" list minus the DHE suites
 * BoringSSL lacks). Bun's default list adds AES-CBC and static-RSA suites. TLS 1.3 suites are not
 * configurable in BoringSSL and are all AEAD.
 */
const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * No SSLv3, TLS 1.0 or TLS 1.1. Bun 1.4.5 already refuses them by default; setting the flags keeps
 * that true if the default changes. (Values of OpenSSL's and BoringSSL's SSL_OP_NO_* flags.)
 */
const SSL_OP_NO_SSLV3 = 0x02000000;
const SSL_OP_NO_TLSV1 = 0x04000000;
const SSL_OP_NO_TLSV1_1 = 0x10000000;
const TLS_SECURE_OPTIONS = SSL_OP_NO_SSLV3 | SSL_OP_NO_TLSV1 | SSL_OP_NO_TLSV1_1;

/**
 * Offer HTTP/2 by ALPN over TLS (experimental in Bun 1.4.5's Bun.serve, but it passed streaming,
 * slow, HEAD and upload tests). Plain HTTP stays HTTP/1.1 only.
 */
const OFFER_HTTP2 = true;

/**
 * Bun.serve does not tell a handler which HTTP version a request came in on, and HTTP/2 requests
 * carry a Host header made from `:authority`, so nothing in the Request tells them apart. Every
 * request is logged as HTTP/1.1; over TLS some of them are really HTTP/2.
 */
const PROTOCOL = "HTTP/1.1";

/**
 * Bun upgrades through `server.upgrade()` inside `fetch` and then calls the `websocket` handlers
 * given to Bun.serve; this adapter turns that into the WebSocket-style object the bridge uses.
 * The handler returns {@link UPGRADED}'s response, which `fetch` turns into the `undefined` Bun
 * expects after an upgrade.
 */
class BunSocketAdapter implements ServerSocket {
  #ws: BunServerWebSocket | null = null;
  #onopen: (() => void) | null = null;
  /** Bun may open the socket inside upgrade(), before the bridge has set onopen. */
  get onopen(): (() => void) | null {
    return this.#onopen;
  }
  set onopen(listener: (() => void) | null) {
    this.#onopen = listener;
    if (listener && this.#ws) listener();
  }
  get ws(): BunServerWebSocket | null {
    return this.#ws;
  }
  set ws(ws: BunServerWebSocket | null) {
    this.#ws = ws;
  }
  onmessage: ServerSocket["onmessage"] = null;
  onclose: ServerSocket["onclose"] = null;
  send(data: string | ArrayBuffer | Uint8Array): void {
    this.ws?.send(data);
  }
  close(code?: number, reason?: string): void {
    this.ws?.close(code, reason);
  }
}

/** Responses that stand for "upgraded"; `fetch` answers Bun with undefined for them. */
const UPGRADED = new WeakSet<Response>();
/**
 * The Bun server each upgrade request came in on, for `upgrade()`. Only requests that carry an
 * Upgrade header are entered: a WeakMap entry per request is garbage the collector must trace.
 */
const SERVER_OF = new WeakMap<Request, BunServer>();

function acceptWebSocket(req: Request, protocol: string | null) {
  const server = SERVER_OF.get(req);
  const socket = new BunSocketAdapter();
  const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
  if (!server || !server.upgrade(req, { headers, data: socket })) {
    throw new Error("this request cannot be upgraded to a WebSocket");
  }
  const response = new Response(null, { status: 200 });
  UPGRADED.add(response);
  return { socket, response };
}

const WEBSOCKET_HANDLERS: BunServeOptions["websocket"] = {
  open(ws) {
    ws.data.ws = ws;
    ws.data.onopen?.();
  },
  message(ws, message) {
    ws.data.onmessage?.({ data: message });
  },
  close(ws, code, reason) {
    ws.data.onclose?.({ code, reason });
  },
};

/**
 * Bun's server, bound as lib/runtime/listen.ts says. Bun's `server.reload()` ignores `tls` (tried
 * with Bun 1.4.5: the old certificate stays), so a new certificate takes a new server there too.
 */
const binder: Binder = {
  reusePortProblem: null,
  claimPort(hostname, port) {
    let probe: BunListener;
    try {
      probe = Bun.listen({ hostname, port, socket: { data() {} } });
    } catch (error) {
      // Bun.listen says only "Failed to listen at HOST"; say what Bun.serve would have said.
      const why = errorText(error);
      throw new Error(`Failed to start server. Is port ${port} in use? (${why})`);
    }
    const bound = probe.port;
    probe.stop(true);
    return bound;
  },
  bind(options, port, reusePort) {
    const handler = options.handler;
    const server = Bun.serve({
      hostname: options.hostname,
      port,
      ...(options.tls
        ? {
          tls: {
            cert: options.tls.cert,
            key: options.tls.key,
            ciphers: TLS12_CIPHERS,
            secureOptions: TLS_SECURE_OPTIONS,
          },
          http2: OFFER_HTTP2,
        }
        : {}),
      idleTimeout: IDLE_TIMEOUT_SECONDS,
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
      // Never Bun's developer error page: it shows the error and its stack if onError throws.
      development: false,
      // Must be explicit: with `development: false` Bun 1.4.5 sets SO_REUSEPORT, so a second
      // promgate on the same port would bind too and silently take half the connections. TLS
      // servers do set it, for certificate reloads, after claimPort has proved the port free.
      reusePort,
      fetch: async (req, bunServer) => {
        const peer = bunServer.requestIP(req);
        if (req.headers.has("upgrade")) SERVER_OF.set(req, bunServer);
        const client = peer
          ? { address: peer.address, port: peer.port, protocol: PROTOCOL }
          : { address: "", protocol: PROTOCOL };
        const response = await handler(req, client);
        return UPGRADED.has(response) ? undefined : response;
      },
      websocket: WEBSOCKET_HANDLERS,
      error: (error) => options.onError(error),
    });
    return {
      hostname: server.hostname ?? options.hostname,
      port: server.port ?? port,
      shutdown: () => server.stop(false),
    };
  },
};

/**
 * With `decompress: false` Bun's fetch neither decodes the body nor adds an Accept-Encoding of its
 * own (it adds `gzip, deflate, br, zstd` when decompressing), so the upstream sees the client's.
 */
function fetchUpstream(url: string, init: RequestInit): Promise<Response> {
  const bunInit: BunRequestInit = { ...init, redirect: "manual", decompress: false };
  return fetch(url, bunInit);
}

function onSignal(signal: SignalName, listener: () => void): () => void {
  process.on(signal, listener);
  return () => {
    process.off(signal, listener);
  };
}

/** bcrypt looks at no more than this many bytes of a password. */
const BCRYPT_MAX_PASSWORD_BYTES = 72;

const encoder = new TextEncoder();

/**
 * bcrypt via `Bun.password.verify`, which runs on Bun's own thread pool (native code, ~10x faster
 * than bcrypt-ts, and no Worker of ours). Two differences from htpasswd's bcrypt are undone here:
 * Bun hashes a password longer than 72 bytes with SHA-512 first where bcrypt truncates it (so we
 * pass the first 72 UTF-8 bytes), and it throws for a malformed hash (a mismatch here).
 */
async function verifyBcrypt(password: string, encoded: string): Promise<boolean> {
  const bytes = encoder.encode(password);
  try {
    return await Bun.password.verify(
      bytes.byteLength > BCRYPT_MAX_PASSWORD_BYTES
        ? bytes.subarray(0, BCRYPT_MAX_PASSWORD_BYTES)
        : bytes,
      encoded,
    );
  } catch {
    return false;
  }
}

/** The Bun runtime. */
export const bunRuntime: Runtime = {
  name: "bun",
  version: Bun.version,
  serve: (options) => serveWith(binder, options),
  claimPort: binder.claimPort,
  sharedPortProblem: () => sharedPortProblemOf(binder),
  fetchUpstream,
  onSignal,
  verifyBcrypt,
  acceptWebSocket,
  socketOps: bunSocketOps,
  clientTimeoutCaps: {
    headerSeconds: HEADER_TIMEOUT_CAP_SECONDS,
    idleSeconds: IDLE_TIMEOUT_SECONDS,
  },
};
