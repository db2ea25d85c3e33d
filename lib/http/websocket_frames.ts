/**
 * An open WebSocket to an upstream (opened by websocket_client.ts): RFC 6455 frames in and out,
 * and the closing handshake.
 */
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { type Socket } from "node:net";

/** What {@link openWebSocket} needs besides the URL. */
export interface OpenOptions {
  /** Subprotocols to offer, in the client's order. */
  readonly protocols: readonly string[];
  /** Extra request headers (the handshake's own are added here and must not be among them). */
  readonly headers: Headers;
  /** How long connecting and the handshake may take together. */
  readonly timeoutMs: number;
  /** How long the peer has to answer our Close frame before the connection is dropped. */
  readonly closeTimeoutMs: number;
  /** The largest message accepted from the upstream, in bytes (larger: closed with 1009). */
  readonly maxMessageBytes?: number;
}
export type WsData = string | ArrayBuffer;

/** Messages larger than this are refused unless the caller says otherwise (Deno's own limit). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/**
 * An open WebSocket to the upstream, from {@link openWebSocket}; set the handlers, then call
 * {@link UpstreamWebSocket.start}. States: open → closing (our Close sent, or theirs received,
 * or the peer broke the protocol) → closed (the connection is gone).
 */
export class UpstreamWebSocket {
  /** The subprotocol the upstream chose ("" for none). */
  protocol: string;
  /** Called for each whole message. */
  onmessage: ((data: WsData) => void) | null = null;
  /**
   * Called once, when the WebSocket is over: with the peer's close code and reason as soon as
   * its Close arrives (the connection itself then ends in the background), with 1011 when the
   * peer broke the protocol, or with 1006 when the connection ended or was dropped without a
   * Close from the peer.
   */
  onclose: ((code: number, reason: string) => void) | null = null;

  #socket: Socket;
  #state: "open" | "closing" | "closed" = "open";
  #closeTimeoutMs: number;
  #maxMessageBytes: number;
  #dropTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether `onclose` has been called. */
  #notified = false;
  // Bytes received but not yet parsed, and how many the next step needs before it can run.
  #chunks: Buffer[] = [];
  #have = 0;
  #need = 2;
  // A fragmented message being received.
  #fragments: Buffer[] | null = null;
  #fragmentsOpcode = 0;
  #fragmentsBytes = 0;
  #text = new TextDecoder("utf-8", { fatal: true });
  /** Bytes that came with the handshake's answer, parsed by start(). */
  #early: Buffer;
  /** The peer broke the protocol: nothing more it sends is read. */
  #broken = false;

  constructor(socket: Socket, protocol: string, options: OpenOptions, early: Buffer) {
    this.#socket = socket;
    this.protocol = protocol;
    this.#closeTimeoutMs = options.closeTimeoutMs;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#early = early;
  }

  /**
   * Starts reading, once `onmessage` and `onclose` are set: frames that came with the
   * handshake's answer are delivered now, and nothing is lost in between.
   */
  start(): void {
    const socket = this.#socket;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("close", () => this.#ended());
    if (socket.destroyed) return this.#ended();
    socket.resume();
    const early = this.#early;
    this.#early = Buffer.alloc(0);
    this.#receive(early);
  }

  /** "open", "closing" or "closed", as a WebSocket's readyState 1, 2, 3. */
  get state(): "open" | "closing" | "closed" {
    return this.#state;
  }

  /** Sends one message (a no-op unless open, as the web-standard WebSocket does). */
  send(data: string | ArrayBuffer | Uint8Array): void {
    if (this.#state !== "open") return;
    if (typeof data === "string") this.#frame(OP_TEXT, Buffer.from(data, "utf8"));
    else this.#frame(OP_BINARY, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  }

  /**
   * Starts the closing handshake with `code` (none: an empty Close) and `reason`; if the peer has
   * not answered and ended the connection within the close timeout, the connection is dropped.
   */
  close(code?: number, reason = ""): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#frame(OP_CLOSE, closePayload(code, reason));
    this.#dropAfter(this.#closeTimeoutMs);
  }

  /** Drops the connection now, without a closing handshake (`onclose` gets 1006 if not yet called). */
  terminate(): void {
    this.#socket.destroy();
    this.#ended();
  }

  /** Parses `chunk` and what came before it into frames. */
  #receive(chunk: Buffer): void {
    if (chunk.byteLength === 0 || this.#state === "closed" || this.#broken) return;
    this.#chunks.push(chunk);
    this.#have += chunk.byteLength;
    if (this.#have < this.#need) return;
    let buf = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#have = 0;
    this.#need = 2;
    while (buf.byteLength >= 2 && !this.#isClosed() && !this.#broken) {
      const used = this.#parseFrame(buf);
      if (used === 0) break;
      buf = buf.subarray(used);
    }
    if (buf.byteLength > 0 && !this.#isClosed() && !this.#broken) {
      this.#chunks.push(buf);
      this.#have = buf.byteLength;
    }
  }

  /** Handles one frame at the start of `buf`; returns its length, or 0 when it is not all here. */
  #parseFrame(buf: Buffer): number {
    const b0 = buf[0];
    const b1 = buf[1];
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buf.byteLength < 4) return this.#wait(4);
      length = buf.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buf.byteLength < 10) return this.#wait(10);
      const high = buf.readUInt32BE(2);
      length = buf.readUInt32BE(6);
      if (high !== 0) return this.#fail(1009, "message too big");
      offset = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const maskAt = offset;
    if (masked) offset += 4;
    if ((b0 & 0x70) !== 0) return this.#fail(1002, "reserved bits set");
    if (opcode >= 0x8 && (!fin || length > 125)) return this.#fail(1002, "bad control frame");
    if (length + this.#fragmentsBytes > this.#maxMessageBytes) {
      return this.#fail(1009, "message too big");
    }
    if (buf.byteLength < offset + length) return this.#wait(offset + length);
    let payload = buf.subarray(offset, offset + length);
    if (masked) payload = unmask(payload, buf.subarray(maskAt, maskAt + 4));
    this.#onFrame(fin, opcode, payload);
    return offset + length;
  }

  /** Whether the connection is gone (a method: a handler may have closed it mid-parse). */
  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #wait(bytes: number): number {
    this.#need = bytes;
    return 0;
  }

  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragments) return void this.#fail(1002, "a new message inside a fragmented one");
        if (fin) return this.#deliver(opcode, payload);
        this.#fragments = [Buffer.from(payload)];
        this.#fragmentsOpcode = opcode;
        this.#fragmentsBytes = payload.byteLength;
        return;
      case OP_CONTINUATION: {
        if (!this.#fragments) return void this.#fail(1002, "a continuation of nothing");
        this.#fragments.push(Buffer.from(payload));
        this.#fragmentsBytes += payload.byteLength;
        if (!fin) return;
        const whole = Buffer.concat(this.#fragments);
        this.#fragments = null;
        this.#fragmentsBytes = 0;
        return this.#deliver(this.#fragmentsOpcode, whole);
      }
      case OP_PING:
        if (this.#state === "open") this.#frame(OP_PONG, payload);
        return;
      case OP_PONG:
        return;
      case OP_CLOSE:
        return this.#onClose(payload);
      default:
        return void this.#fail(1002, `unknown opcode ${opcode}`);
    }
  }

  #deliver(opcode: number, payload: Buffer): void {
    if (this.#state !== "open") return; // after our Close, messages are dropped
    if (opcode === OP_BINARY) {
      const copy = new Uint8Array(payload.byteLength);
      copy.set(payload);
      return this.onmessage?.(copy.buffer);
    }
    let text: string;
    try {
      text = this.#text.decode(payload);
    } catch {
      return void this.#fail(1007, "invalid UTF-8");
    }
    this.onmessage?.(text);
  }

  #onClose(payload: Buffer): void {
    let code = 1005;
    let reason = "";
    if (payload.byteLength === 1) return void this.#fail(1002, "a one-byte Close payload");
    if (payload.byteLength >= 2) {
      code = payload.readUInt16BE(0);
      try {
        reason = this.#text.decode(payload.subarray(2));
      } catch {
        reason = "";
      }
    }
    if (this.#state === "open") {
      // Their Close first: answer it, then the server ends the connection (RFC 6455 §7.1.1).
      this.#state = "closing";
      this.#frame(OP_CLOSE, code === 1005 ? Buffer.alloc(0) : payload.subarray(0, 2));
    }
    this.#socket.end();
    this.#dropAfter(this.#closeTimeoutMs);
    this.#notify(code, reason);
  }

  /**
   * Closes with `code` for a protocol error of the peer's, reads no further, and drops the
   * connection; `onclose` then reports 1011 (the bridge's client did nothing wrong) and `why`.
   */
  #fail(code: number, why: string): number {
    this.#broken = true;
    if (this.#state === "open") {
      this.#state = "closing";
      this.#frame(OP_CLOSE, closePayload(code, ""));
    }
    this.#notify(1011, `upstream failed: ${why}`);
    this.#socket.end();
    this.#dropAfter(Math.min(1000, this.#closeTimeoutMs));
    return 0;
  }

  #dropAfter(ms: number): void {
    if (this.#dropTimer !== undefined) return;
    this.#dropTimer = setTimeout(() => this.terminate(), ms);
  }

  #ended(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#dropTimer);
    this.#chunks = [];
    this.#fragments = null;
    this.#notify(1006, "");
  }

  #notify(code: number, reason: string): void {
    if (this.#notified) return;
    this.#notified = true;
    this.onclose?.(code, reason);
  }

  /** Writes one frame, masked as a client must (RFC 6455 §5.3). */
  #frame(opcode: number, payload: Uint8Array): void {
    const length = payload.byteLength;
    const size = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(size + 4 + length);
    frame[0] = 0x80 | opcode;
    if (size === 2) frame[1] = 0x80 | length;
    else if (size === 4) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    const mask = randomBytes(4);
    mask.copy(frame, size);
    for (let i = 0; i < length; i++) frame[size + 4 + i] = payload[i] ^ mask[i & 3];
    this.#socket.write(frame);
  }
}

function closePayload(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const text = Buffer.from(reason, "utf8").subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.byteLength);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

function unmask(payload: Buffer, mask: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.byteLength);
  for (let i = 0; i < payload.byteLength; i++) out[i] = payload[i] ^ mask[i & 3];
  return out;
}
