/**
 * Issue 12 item 6: WebSocket close without a timeout. 300 sockets to an upstream that never
 * answers the Close frame kept 600 upstream connections and ~300 descriptors open indefinitely
 * after the clients left. Now either side gets CLOSE_TIMEOUT_MS (5 s) to answer promgate's Close,
 * then its connection is dropped (upstream) or let go to the client timeouts (client).
 */
import { assert, assertEquals } from "../_assert.ts";
import { startPromgate, tempDir } from "../_util.ts";
import { secondsUntilClosed } from "./_helpers.ts";

const encoder = new TextEncoder();
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Clients per test: enough to see a leak, few enough for a shared 2-core machine. */
const CLIENTS = 20;
/** promgate's close timeout (lib/http/websocket.ts CLOSE_TIMEOUT_MS) plus slack for a busy machine. */
const BOUND_MS = 5000 + 3000;

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * A WebSocket upstream on raw TCP that accepts every handshake and then ignores everything:
 * it never answers a Close and never closes a connection itself (unless `closeFirst`, when it
 * sends its own Close right after the handshake and still never closes). `open` counts the
 * connections promgate has not closed yet.
 */
function startDeafUpstream(options: { closeFirst?: boolean } = {}) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { open: 0, accepted: 0 };
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    state.open++;
    state.accepted++;
    const buffer = new Uint8Array(16 * 1024);
    let head = "";
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (head !== null && !head.includes("\r\n\r\n")) {
          head += new TextDecoder().decode(buffer.subarray(0, n));
          if (!head.includes("\r\n\r\n")) continue;
          const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
          await conn.write(encoder.encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
          ));
          // Close 1001 "bye", unmasked as a server sends it.
          if (options.closeFirst) {
            await conn.write(new Uint8Array([0x88, 5, 0x03, 0xe9, 0x62, 0x79, 0x65]));
          }
        }
        // Everything after the handshake, Close frames included, is read and ignored.
      }
    } catch { /* reset: closed too */ }
    state.open--;
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
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

/** Opens a WebSocket to promgate on raw TCP; resolves once the 101 head has arrived. */
async function connectRaw(port: number, path: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    [
      `GET ${path} HTTP/1.1`,
      "Host: 127.0.0.1",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
    ].join("\r\n") + "\r\n\r\n",
  ));
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert(head.startsWith("HTTP/1.1 101"), `promgate answered: ${head.split("\r\n")[0]}`);
  return conn;
}

/** A masked client Close frame with code 1000 (the mask is all zero: the bytes stay as they are). */
const CLIENT_CLOSE = new Uint8Array([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);

/** Sockets promgate's process holds open (its /proc fd table), or -1 where there is no /proc. */
function socketCount(pid: number): number {
  try {
    let n = 0;
    for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        if (Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")) n++;
      } catch { /* closed meanwhile */ }
    }
    return n;
  } catch {
    return -1;
  }
}

async function until(probe: () => boolean, ms: number): Promise<number> {
  const started = performance.now();
  while (!probe() && performance.now() - started < ms) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - started) / 1000;
}

Deno.test({
  name: `${CLIENTS} WebSocket clients leave an upstream that never answers Close: promgate lets go`,
  async fn() {
    const dir = await tempDir();
    const upstream = startDeafUpstream();
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      routes: [{ path: "/live/", upstream: `http://127.0.0.1:${upstream.port}/`, auth: false }],
      accessLog: false,
    });
    try {
      const before = socketCount(gate.pid);
      const clients: Deno.Conn[] = [];
      for (let i = 0; i < CLIENTS; i++) clients.push(await connectRaw(gate.port, "/live/ws"));
      assertEquals(upstream.state.open, CLIENTS, "one upstream connection per client");
      // Half leave with a Close frame, half just drop the connection.
      for (const [i, conn] of clients.entries()) {
        if (i % 2 === 0) await conn.write(CLIENT_CLOSE).catch(() => {});
        conn.close();
      }
      const seconds = await until(() => upstream.state.open === 0, BOUND_MS);
      const after = socketCount(gate.pid);
      console.log(
        `upstream connections left: ${upstream.state.open} of ${CLIENTS} after ` +
          `${seconds.toFixed(1)} s; promgate sockets before ${before}, after ${after}`,
      );
      assertEquals(upstream.state.open, 0, `still open after ${BOUND_MS / 1000} s`);
      if (before >= 0) {
        assert(after <= before + 2, `promgate holds ${after - before} more sockets than before`);
      }
    } finally {
      assertEquals(await gate.stop(), 0);
      upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a client that never answers promgate's Close is let go by the client timeouts",
  async fn() {
    const dir = await tempDir();
    const upstream = startDeafUpstream({ closeFirst: true });
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0, idleTimeoutSeconds: 1 },
      routes: [{ path: "/live/", upstream: `http://127.0.0.1:${upstream.port}/`, auth: false }],
      accessLog: false,
    });
    try {
      const started = performance.now();
      const conns = await Promise.all(
        Array.from({ length: 4 }, () => connectRaw(gate.port, "/live/ws")),
      );
      // The clients read (promgate's Close among it) but never answer.
      const seconds = await Promise.all(conns.map((conn) => secondsUntilClosed(conn, started)));
      console.log(`clients closed after ${seconds.map((s) => s.toFixed(1)).join(", ")} s`);
      for (const s of seconds) assert(s < BOUND_MS / 1000 + 2, `closed only after ${s} s`);
    } finally {
      assertEquals(await gate.stop(), 0);
      upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
