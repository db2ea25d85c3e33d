/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), as load balancers
 * send it before the first byte of a connection to say which client it is for.
 *
 * {@link parseProxyHeader} is a pure parser: bytes in, the source address (or a reason to close)
 * out. Bounded: a v1 header is at most 107 bytes, a v2 header at most 536 (16 + 520 of addresses
 * and TLVs), and whatever is longer is refused rather than buffered.
 *
 * Neither Deno.serve nor Bun.serve can be handed a socket whose first bytes were already read, so
 * {@link startProxyFront} listens in front of the real server: it reads and strips the header
 * and pipes the rest of the connection (TLS included: it terminates in the real server) to the
 * real server on a private 127.0.0.1 port, remembering by the pipe's local port which client each
 * piped connection is for. The real server sees that port as its peer's (ClientInfo.port).
 */
import { connect, createServer, type Socket } from "node:net";
import { formatIp } from "../http/mod.ts";

/** The most bytes a v1 header may take, CRLF included. */
export const V1_MAX_BYTES = 107;
/** The most bytes a v2 header is accepted with (the spec's advice for receivers: 536). */
export const V2_MAX_BYTES = 536;

/** v2's fixed 12-byte signature. */
const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V1_PREFIX = "PROXY ";

/** Where a proxied connection came from. */
export interface ProxySource {
  readonly address: string;
  readonly port: number;
}

/** What the bytes received so far say. */
export type ProxyHeader =
  /** Not enough bytes yet to decide; read more (the caller bounds time and length). */
  | { readonly kind: "incomplete" }
  /** Not a PROXY header, or a broken one: close the connection. */
  | { readonly kind: "invalid"; readonly reason: string }
  /**
   * A whole header of `length` bytes: strip them. `source` is null where the header names no
   * client (v1 UNKNOWN, v2 LOCAL such as a balancer's health check, or an address family other
   * than TCP over IPv4/IPv6): the connection's own peer address stands.
   */
  | { readonly kind: "header"; readonly length: number; readonly source: ProxySource | null };

const INCOMPLETE: ProxyHeader = { kind: "incomplete" };
const invalid = (reason: string): ProxyHeader => ({ kind: "invalid", reason });

/** Reads a PROXY protocol v1 or v2 header at the start of `bytes` (see {@link ProxyHeader}). */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX.charCodeAt(0)) return parseV1(bytes);
  return invalid("no PROXY protocol header");
}

function parseV2(bytes: Uint8Array): ProxyHeader {
  const seen = Math.min(bytes.length, V2_SIGNATURE.length);
  for (let i = 0; i < seen; i++) {
    if (bytes[i] !== V2_SIGNATURE[i]) return invalid("no PROXY protocol header");
  }
  if (bytes.length < 16) return INCOMPLETE;
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f;
  if (version !== 2) return invalid(`PROXY protocol v2 header with version ${version}`);
  if (command > 1) return invalid(`PROXY protocol v2 header with command ${command}`);
  const length = 16 + ((bytes[14] << 8) | bytes[15]);
  if (length > V2_MAX_BYTES) return invalid(`PROXY protocol v2 header of ${length} bytes`);
  if (bytes.length < length) return INCOMPLETE;
  // LOCAL: the balancer's own connection (health checks); the addresses, if any, are ignored.
  if (command === 0) return { kind: "header", length, source: null };
  const family = bytes[13];
  const body = bytes.subarray(16, length);
  if (family === 0x11) { // TCP over IPv4: src, dst (4 bytes each), src port, dst port
    if (body.length < 12) return invalid("PROXY protocol v2 TCP4 addresses cut short");
    const address = [...body.subarray(0, 4)].join(".");
    return { kind: "header", length, source: { address, port: (body[8] << 8) | body[9] } };
  }
  if (family === 0x21) { // TCP over IPv6: src, dst (16 bytes each), src port, dst port
    if (body.length < 36) return invalid("PROXY protocol v2 TCP6 addresses cut short");
    const address = ipv6Text(body.subarray(0, 16));
    return { kind: "header", length, source: { address, port: (body[32] << 8) | body[33] } };
  }
  // UNSPEC, UDP, UNIX sockets: the spec says to accept and use the connection's own address.
  return { kind: "header", length, source: null };
}

function parseV1(bytes: Uint8Array): ProxyHeader {
  const end = bytes.indexOf(0x0a);
  const prefix = Math.min(bytes.length, V1_PREFIX.length);
  for (let i = 0; i < prefix; i++) {
    if (bytes[i] !== V1_PREFIX.charCodeAt(i)) return invalid("no PROXY protocol header");
  }
  if (end < 0) {
    return bytes.length >= V1_MAX_BYTES
      ? invalid(`PROXY protocol v1 header longer than ${V1_MAX_BYTES} bytes`)
      : INCOMPLETE;
  }
  const length = end + 1;
  if (length > V1_MAX_BYTES) {
    return invalid(`PROXY protocol v1 header longer than ${V1_MAX_BYTES} bytes`);
  }
  if (end === 0 || bytes[end - 1] !== 0x0d) return invalid("PROXY protocol v1 line without CRLF");
  const line = String.fromCharCode(...bytes.subarray(0, end - 1));
  const words = line.split(" ");
  if (words[1] === "UNKNOWN") return { kind: "header", length, source: null };
  if (words.length !== 6 || (words[1] !== "TCP4" && words[1] !== "TCP6")) {
    return invalid("malformed PROXY protocol v1 line");
  }
  const [, family, source, destination, sourcePort, destinationPort] = words;
  const v4 = family === "TCP4";
  const okAddress = (a: string) => v4 ? isIpv4(a) : ipv6Bytes(a) !== null;
  if (!okAddress(source) || !okAddress(destination)) {
    return invalid(`PROXY protocol v1 line with a bad ${family} address`);
  }
  if (!isPort(sourcePort) || !isPort(destinationPort)) {
    return invalid("PROXY protocol v1 line with a bad port");
  }
  const address = v4 ? source : ipv6Text(ipv6Bytes(source)!);
  return { kind: "header", length, source: { address, port: Number(sourcePort) } };
}

function isPort(text: string): boolean {
  return /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535;
}

function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** An IPv6 address in text (no zone, no embedded IPv4) as 16 bytes, or null. */
function ipv6Bytes(text: string): Uint8Array | null {
  if (text.length > 39) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const words = (half: string) => half === "" ? [] : half.split(":");
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  if (!all.every((w) => /^[0-9a-fA-F]{1,4}$/.test(w))) return null;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    const n = parseInt(w, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/**
 * 16 bytes as IPv6 text in RFC 5952's short form, or, for an IPv4-mapped address
 * (::ffff:a.b.c.d, what a dual-stack balancer reports for IPv4 clients), as the IPv4 address.
 */
function ipv6Text(bytes: Uint8Array): string {
  if (bytes.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff))) {
    return [...bytes.subarray(12)].join(".");
  }
  return formatIp(bytes);
}

/** What {@link startProxyFront} needs. */
export interface ProxyFrontOptions {
  /** The public address and port (0: a free one). */
  readonly hostname: string;
  readonly port: number;
  /** Whether a peer may send PROXY headers; connections from any other peer are closed. */
  readonly trusted: (address: string) => boolean;
  /** The real server's private port on 127.0.0.1. */
  readonly backendPort: number;
  /** How long a trusted peer has to send a whole header before its connection is closed. */
  readonly headerTimeoutMs: number;
  /** Told why a connection was closed before it reached the real server. */
  readonly onRefused?: (line: string) => void;
}

/** A listening front. */
export interface ProxyFront {
  readonly hostname: string;
  readonly port: number;
  /**
   * The client address a header named for the piped connection whose local port (the real
   * server's peer port) is `port`; undefined for a port that is not one of this front's pipes.
   */
  clientOf(port: number): string | undefined;
  /** Stops accepting; open pipes are left to finish (the real server's shutdown ends them). */
  close(): Promise<void>;
}

/** Starts a front listener (see the module's comment); resolves once it listens. */
export function startProxyFront(options: ProxyFrontOptions): Promise<ProxyFront> {
  const clients = new Map<number, string>();
  const server = createServer({ noDelay: true }, (socket) => accept(socket, options, clients));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.hostname, port: options.port }, () => {
      server.off("error", reject);
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : options.port;
      resolve({
        hostname: options.hostname,
        port,
        clientOf: (p) => clients.get(p),
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

function accept(socket: Socket, options: ProxyFrontOptions, clients: Map<number, string>): void {
  const peer = socket.remoteAddress ?? "";
  const refuse = (why: string) => {
    options.onRefused?.(`closed a connection from ${peer}: ${why}`);
    socket.destroy();
  };
  if (!options.trusted(peer)) return refuse("not in listen.trustedProxies");
  let buffered = new Uint8Array(0);
  const timer = setTimeout(
    () => refuse(`no PROXY protocol header within ${options.headerTimeoutMs} ms`),
    options.headerTimeoutMs,
  );
  socket.on("error", () => socket.destroy());
  socket.on("close", () => clearTimeout(timer));
  const onData = (chunk: Uint8Array) => {
    const joined = new Uint8Array(buffered.length + chunk.length);
    joined.set(buffered);
    joined.set(chunk, buffered.length);
    buffered = joined;
    const header = parseProxyHeader(buffered);
    if (header.kind === "incomplete") return;
    clearTimeout(timer);
    socket.off("data", onData);
    if (header.kind === "invalid") return refuse(header.reason);
    socket.pause();
    const client = header.source?.address ?? normalPeer(peer);
    pipe(socket, buffered.subarray(header.length), client, options.backendPort, clients);
  };
  socket.on("data", onData);
}

/** A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; the log wants a.b.c.d. */
function normalPeer(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

function pipe(
  socket: Socket,
  rest: Uint8Array,
  client: string,
  backendPort: number,
  clients: Map<number, string>,
): void {
  const backend = connect({ host: "127.0.0.1", port: backendPort, noDelay: true });
  let localPort: number | undefined;
  backend.on("connect", () => {
    // Entered before any byte reaches the real server, so its handler always finds it.
    localPort = backend.localPort;
    if (localPort !== undefined) clients.set(localPort, client);
    if (rest.length > 0) backend.write(rest);
    socket.pipe(backend);
    backend.pipe(socket);
    socket.resume();
  });
  const end = () => {
    if (localPort !== undefined && clients.get(localPort) === client) clients.delete(localPort);
    socket.destroy();
    backend.destroy();
  };
  backend.on("close", end);
  socket.on("close", end);
  backend.on("error", end);
}
