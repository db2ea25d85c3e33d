/**
 * Issue 6 item 5 (header read and idle timeouts): `listen.headerTimeoutSeconds` closes a client
 * that does not send a whole request head in time (silent, a byte at a time, over TLS, or on a
 * keep-alive connection after a response), and `listen.idleTimeoutSeconds` closes an idle
 * keep-alive connection; neither closes a connection whose request is still being answered.
 * Run against the real process on Deno, Bun and the binary (deno task test:e2e).
 */
import { assert, assertEquals } from "../_assert.ts";
import { makeCert, needs, startUpstream, tempDir } from "../_util.ts";
import { secondsUntilClosed, startGate } from "./_helpers.ts";

const encoder = new TextEncoder();
const HEADER_S = 2;
const IDLE_S = 3;
/**
 * The sweep looks once a second; Bun's listener (TCP_DEFER_ACCEPT) accepts a silent client only
 * after about a second; a busy CI machine may add a little more.
 */
const SLACK_S = 3.5;

/** A connection that sends `head`, then (if `every` is set) one more header byte every `every` ms. */
async function sender(port: number, head: string, every?: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (head) await conn.write(encoder.encode(head));
  const timer = every
    ? setInterval(() => conn.write(encoder.encode("x")).catch(() => {}), every)
    : undefined;
  return { conn, stop: () => clearInterval(timer) };
}

/** Config for startGate: both timeouts short. */
const SHORT_TIMEOUTS = {
  listen: {
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutSeconds: HEADER_S,
    idleTimeoutSeconds: IDLE_S,
  },
  accessLog: false,
};

function assertWithin(label: string, seconds: number, limit: number): void {
  assert(
    seconds >= limit - 0.5 && seconds <= limit + SLACK_S,
    `${label}: closed after ${seconds.toFixed(1)} s, expected ${limit} s (+${SLACK_S})`,
  );
}

Deno.test({
  ...needs("htpasswd"),
  name: "closes clients that send no whole request head in time, and idle keep-alive connections",
  async fn() {
    const upstream = startUpstream(() => new Response("ok\n"));
    const gate = await startGate(
      {},
      [{ path: "/", upstream: `${upstream.url}/`, auth: false }],
      SHORT_TIMEOUTS,
    );
    const started = performance.now();
    const clients = {
      silent: await sender(gate.port, ""),
      halfHead: await sender(gate.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: "),
      trickledHead: await sender(gate.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ", 200),
      idle: await sender(gate.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
      // One whole request, then the next head a byte at a time.
      keepAliveTrickle: await sender(gate.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nG", 200),
    };
    try {
      const closed = await Promise.all(
        Object.values(clients).map(({ conn }) => secondsUntilClosed(conn, started)),
      );
      const [silent, halfHead, trickledHead, idle, keepAliveTrickle] = closed;
      console.log(
        `header ${HEADER_S} s, idle ${IDLE_S} s: closed after ` +
          Object.keys(clients).map((name, i) => `${name} ${closed[i].toFixed(1)} s`).join(", "),
      );
      assertWithin("nothing sent", silent, HEADER_S);
      assertWithin("half a head", halfHead, HEADER_S);
      assertWithin("a head a byte at a time", trickledHead, HEADER_S);
      assertWithin("idle keep-alive", idle, IDLE_S);
      // The trickle is noticed once it has gone on for the header timeout.
      assertWithin("the next head a byte at a time", keepAliveTrickle, HEADER_S);
      // Whoever sends a whole request is served as usual meanwhile.
      const r = await fetch(`${gate.url}/`);
      assertEquals([r.status, await r.text()], [200, "ok\n"]);
      assert(
        /closed \d+ connections? that sent no whole request head within 2 s/.test(gate.output()),
      );
    } finally {
      for (const { conn, stop } of Object.values(clients)) {
        stop();
        try {
          conn.close();
        } catch { /* closed by the server */ }
      }
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "keeps connections whose answer is slow, streams with pauses, or is a quiet WebSocket",
  async fn() {
    const upstream = startUpstream(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/slow") {
        await new Promise((r) => setTimeout(r, (IDLE_S + HEADER_S + 1) * 1000));
        return new Response("slow\n");
      }
      if (path === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (e) => socket.send(e.data);
        return response;
      }
      // Part of the body, a pause longer than both timeouts, then the rest.
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode("first "));
          await new Promise((r) => setTimeout(r, (IDLE_S + HEADER_S + 1) * 1000));
          controller.enqueue(encoder.encode("last\n"));
          controller.close();
        },
      });
      return new Response(body);
    });
    const gate = await startGate(
      {},
      [{ path: "/", upstream: `${upstream.url}/`, auth: false }],
      SHORT_TIMEOUTS,
    );
    try {
      const ws = new WebSocket(`${gate.url.replace("http", "ws")}/ws`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const [slow, paused] = await Promise.all([
        fetch(`${gate.url}/slow`).then((r) => r.text()),
        fetch(`${gate.url}/paused`).then((r) => r.text()),
      ]);
      assertEquals([slow, paused], ["slow\n", "first last\n"]);
      // The WebSocket said nothing for longer than both timeouts and is still open.
      assertEquals(ws.readyState, WebSocket.OPEN);
      const echoed = new Promise((resolve) => ws.onmessage = (e) => resolve(e.data));
      ws.send("still there");
      assertEquals(await echoed, "still there");
      ws.close();
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd", "openssl"),
  name: "closes a TLS client that completes the handshake but sends no request head",
  async fn() {
    const dir = await tempDir();
    const { certFile } = await makeCert(dir);
    const upstream = startUpstream(() => new Response("ok\n"));
    const gate = await startGate({}, [{ path: "/", upstream: `${upstream.url}/`, auth: false }], {
      listen: { hostname: "127.0.0.1", port: 0, headerTimeoutSeconds: HEADER_S },
      tls: { certFile, keyFile: `${dir}/key.pem` },
      accessLog: false,
    });
    try {
      const caCerts = [await Deno.readTextFile(certFile)];
      const started = performance.now();
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: gate.port, caCerts });
      await conn.handshake();
      await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
      assertWithin("TLS, half a head", await secondsUntilClosed(conn, started), HEADER_S);
      try {
        conn.close();
      } catch { /* closed by the server */ }
    } finally {
      await gate.close();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
