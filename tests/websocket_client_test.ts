/**
 * The upstream WebSocket client of lib/http/websocket_client.ts against real servers: Deno's own
 * WebSocket server for the common path, and raw TCP servers for what Deno's would never send
 * (fragments, pings, a wrong accept key, silence after a Close).
 */
import { assert, assertEquals } from "./_assert.ts";
import { startUpstream } from "./_util.ts";
import { type OpenOptions, UpstreamWebSocket } from "../lib/http/websocket_frames.ts";
import { openWebSocket } from "../lib/http/websocket_client.ts";

const encoder = new TextEncoder();
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function options(more: Partial<OpenOptions> = {}): OpenOptions {
  return { protocols: [], headers: new Headers(), timeoutMs: 3000, closeTimeoutMs: 1000, ...more };
}

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** Collects a socket's messages and its close; `next()` waits for the next message. */
function watch(ws: UpstreamWebSocket) {
  const messages: (string | ArrayBuffer)[] = [];
  const waiters: (() => void)[] = [];
  ws.onmessage = (data) => {
    messages.push(data);
    waiters.splice(0).forEach((w) => w());
  };
  const closed = new Promise<[number, string]>((r) => ws.onclose = (code, why) => r([code, why]));
  ws.start();
  return {
    closed,
    async next() {
      while (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
      return messages.shift()!;
    },
  };
}

async function open(url: string, more: Partial<OpenOptions> = {}): Promise<UpstreamWebSocket> {
  const result = await openWebSocket(new URL(url), options(more));
  if (!result.ok) throw new Error(`did not open: ${result.reason}`);
  return result.socket;
}

/**
 * A raw TCP WebSocket server: answers the handshake with `answer(key)` (default: a correct 101)
 * then calls `talk` with the connection and every later byte it reads.
 */
function rawServer(
  talk: (conn: Deno.Conn, received: Uint8Array[]) => Promise<void> | void,
  answer?: (accept: string) => string,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { closedByPeer: 0, received: [] as Uint8Array[] };
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buffer = new Uint8Array(65536);
        let head = "";
        try {
          while (!head.includes("\r\n\r\n")) {
            const n = await conn.read(buffer);
            if (n === null) return;
            head += new TextDecoder().decode(buffer.subarray(0, n));
          }
          const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
          const accept = await acceptKey(key);
          await conn.write(encoder.encode(
            answer?.(accept) ??
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
          ));
          const talking = talk(conn, state.received);
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            state.received.push(buffer.slice(0, n));
          }
          await talking;
          state.closedByPeer++;
        } catch { /* reset */ }
      })();
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    state,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  return new Uint8Array([(fin ? 0x80 : 0) | opcode, payload.byteLength, ...payload]);
}

/** The opcodes of the (masked, small) client frames in `bytes`. */
function clientOpcodes(bytes: Uint8Array): number[] {
  const ops: number[] = [];
  for (let i = 0; i + 1 < bytes.length;) {
    ops.push(bytes[i] & 0x0f);
    i += 2 + 4 + (bytes[i + 1] & 0x7f);
  }
  return ops;
}

function joined(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

Deno.test("messages of every length pass both ways, with the subprotocol the server chose", async () => {
  const upstream = startUpstream((req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "v2" });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send("hello first"); // sent right after the 101
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  try {
    const ws = await open(upstream.url.replace("http", "ws"), { protocols: ["v1", "v2"] });
    assertEquals(ws.protocol, "v2");
    const w = watch(ws);
    assertEquals(await w.next(), "hello first", "a message sent with the 101 is not lost");
    for (const size of [0, 125, 126, 300, 65535, 65536, 300_000]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      ws.send(bytes);
      const back = new Uint8Array(await w.next() as ArrayBuffer);
      assertEquals(back.byteLength, size);
      assert(back.every((b, i) => b === bytes[i]), `binary of ${size} bytes changed`);
    }
    ws.send("ünïcødé ✓");
    assertEquals(await w.next(), "ünïcødé ✓");
    ws.close(1000, "done");
    assertEquals(await w.closed, [1000, "done"], "Deno's server answers our Close");
  } finally {
    await upstream.close();
  }
});

Deno.test("fragments are joined, pings answered, and the server's Close answered", async () => {
  const server = rawServer(async (conn) => {
    await conn.write(frame(0x9, encoder.encode("p")));
    await conn.write(frame(0x1, encoder.encode("hel"), false));
    await conn.write(frame(0x0, encoder.encode("lo"), true));
    await conn.write(frame(0x8, new Uint8Array([0x0f, 0xa0, ...encoder.encode("bye")])));
  });
  try {
    const w = watch(await open(server.url));
    assertEquals(await w.next(), "hello");
    assertEquals(await w.closed, [4000, "bye"]);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(clientOpcodes(joined(server.state.received)), [0xa, 0x8], "a pong, then Close");
  } finally {
    server.close();
  }
});

Deno.test("a server that never answers our Close is dropped after the close timeout", async () => {
  const server = rawServer(() => {});
  try {
    const ws = await open(server.url, { closeTimeoutMs: 500 });
    const w = watch(ws);
    const started = performance.now();
    ws.close(1001, "going");
    const [code] = await w.closed;
    const seconds = (performance.now() - started) / 1000;
    assertEquals(code, 1006);
    assert(seconds >= 0.45 && seconds < 2, `dropped after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(server.state.closedByPeer, 1, "the server saw the connection end");
  } finally {
    server.close();
  }
});

Deno.test("a handshake the server refuses, gets wrong or never answers does not open", async () => {
  const notFound = startUpstream(() => new Response("no\n", { status: 404 }));
  const wrongKey = rawServer(
    () => {},
    () =>
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
  );
  const otherProtocol = rawServer(
    () => {},
    (accept) =>
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: evil\r\n\r\n`,
  );
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of silent) held.push(conn);
  })().catch(() => {});
  try {
    const refused = await openWebSocket(new URL(notFound.url.replace("http", "ws")), options());
    assert(!refused.ok && /404/.test(refused.reason), JSON.stringify(refused));
    const wrong = await openWebSocket(new URL(wrongKey.url), options());
    assert(!wrong.ok && /Sec-WebSocket-Accept/.test(wrong.reason), JSON.stringify(wrong));
    const other = await openWebSocket(new URL(otherProtocol.url), options({ protocols: ["v1"] }));
    assert(!other.ok && /not offered/.test(other.reason), JSON.stringify(other));
    const port = (silent.addr as Deno.NetAddr).port;
    const late = await openWebSocket(
      new URL(`ws://127.0.0.1:${port}/`),
      options({ timeoutMs: 300 }),
    );
    assert(!late.ok && late.timeout, JSON.stringify(late));
    const down = await openWebSocket(new URL("ws://127.0.0.1:1/"), options());
    assert(
      !down.ok && !down.timeout && /ECONNREFUSED|refused/i.test(down.reason),
      JSON.stringify(down),
    );
  } finally {
    await notFound.close();
    wrongKey.close();
    otherProtocol.close();
    silent.close();
    for (const conn of held) conn.close();
  }
});

Deno.test("a malformed frame closes with 1011 for the bridge and drops the connection", async () => {
  const server = rawServer(async (conn) => {
    await conn.write(new Uint8Array([0x83, 0])); // opcode 3 is reserved
  });
  try {
    const w = watch(await open(server.url));
    const [code, reason] = await w.closed;
    assertEquals(code, 1011);
    assert(reason.includes("opcode 3"), reason);
  } finally {
    server.close();
  }
});
