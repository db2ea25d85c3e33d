/**
 * The upstream side of a WebSocket pass-through: a small RFC 6455 client over node:net/node:tls,
 * which Deno and Bun both provide. This file opens the connection and does the handshake; the
 * open socket and its frames are websocket_frames.ts.
 *
 * Why not the web-standard `WebSocket`: its `close()` waits for the peer's Close frame with no
 * bound and nothing can cut it short on Deno (Deno 2.9.6 has no `terminate()`; a socket stays
 * CLOSING, with its descriptor, as long as the upstream stays silent), so an upstream that never
 * answers a Close kept every connection a departed client had opened. Here the socket is ours:
 * {@link UpstreamWebSocket.close} gives the closing handshake a deadline and then drops the
 * connection, and {@link UpstreamWebSocket.terminate} drops it at once.
 *
 * Scope: what a proxy needs. No extensions are offered (permessage-deflate would make promgate
 * inflate and deflate every message); fragmented messages are joined; pings are answered.
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type OpenOptions, UpstreamWebSocket } from "./websocket_frames.ts";

/** The outcome of {@link openWebSocket}: an open socket, or why not ("timeout" or a reason). */
export type OpenResult =
  | { readonly ok: true; readonly socket: UpstreamWebSocket }
  | { readonly ok: false; readonly timeout: boolean; readonly reason: string };

/** A message from the upstream: text, or a binary message's bytes. */

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A response head longer than this is no WebSocket handshake. */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Connects to `url` (ws: or wss:) and makes the opening handshake. Resolves once the upstream
 * has accepted (101 with the right Sec-WebSocket-Accept), never rejects.
 */
export function openWebSocket(url: URL, options: OpenOptions): Promise<OpenResult> {
  return new Promise((resolve) => {
    const key = randomBytes(16).toString("base64");
    const socket = connectTo(url);
    let head = Buffer.alloc(0);
    let settled = false;
    const fail = (reason: string, timeout = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, timeout, reason });
    };
    const timer = setTimeout(() => fail("timeout", true), options.timeoutMs);
    // An error with no listener would be thrown; "close" always follows one.
    socket.on("error", (error: Error) => fail(`failed: ${error.message}`));
    socket.on("close", () => fail("closed during the handshake"));
    socket.once(url.protocol === "wss:" ? "secureConnect" : "connect", () => {
      socket.setNoDelay(true);
      socket.write(handshakeRequest(url, key, options));
    });
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.byteLength > MAX_HEAD_BYTES) fail("sent a response head over 64 KiB");
        return;
      }
      socket.off("data", onData);
      socket.pause(); // until the caller has set its handlers and calls start()
      const text = head.subarray(0, end).toString("latin1");
      const problem = handshakeProblem(text, key, options);
      if (problem !== null) return fail(problem);
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners("close");
      const ws = new UpstreamWebSocket(
        socket,
        chosenProtocol(text),
        options,
        head.subarray(end + 4),
      );
      resolve({ ok: true, socket: ws });
    };
    socket.on("data", onData);
  });
}

function connectTo(url: URL): Socket {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const tls = url.protocol === "wss:";
  const port = Number(url.port) || (tls ? 443 : 80);
  if (!tls) return tcpConnect({ host, port });
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  return tlsConnect({
    host,
    port,
    ALPNProtocols: ["http/1.1"],
    ...(isIp ? {} : { servername: host }),
  });
}

function handshakeRequest(url: URL, key: string, options: OpenOptions): string {
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  if (options.protocols.length > 0) {
    lines.push(`Sec-WebSocket-Protocol: ${options.protocols.join(", ")}`);
  }
  // Headers holds only valid names and values (no CR or LF), so each is one line.
  for (const [name, value] of options.headers) lines.push(`${name}: ${value}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/** Why the response head does not accept our handshake, or null when it does. */
function handshakeProblem(head: string, key: string, options: OpenOptions): string | null {
  const [statusLine, ...lines] = head.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (status !== "101") return `refused the handshake (${statusLine.slice(0, 40)})`;
  const headers = headerMap(lines);
  const expected = createHash("sha1").update(key + GUID).digest("base64");
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return "answered 101 without Upgrade: websocket";
  }
  if (headers.get("sec-websocket-accept") !== expected) {
    return "answered with a wrong Sec-WebSocket-Accept";
  }
  if (headers.has("sec-websocket-extensions")) {
    return "chose an extension none was offered";
  }
  const protocol = headers.get("sec-websocket-protocol");
  if (protocol !== undefined && !options.protocols.includes(protocol)) {
    return `chose the subprotocol ${JSON.stringify(protocol)}, which was not offered`;
  }
  return null;
}

function chosenProtocol(head: string): string {
  return headerMap(head.split("\r\n").slice(1)).get("sec-websocket-protocol") ?? "";
}

function headerMap(lines: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) map.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return map;
}
