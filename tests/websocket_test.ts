/**
 * WebSocket upgrades pass through promgate (Grafana Live needs them): authenticated like any
 * request, with the subprotocol the upstream chose, cookies and the forwarded user sent on, and
 * messages and closes flowing both ways.
 */
import { assert, assertEquals } from "./_assert.ts";
import { basic, makeHtpasswd, needs, startPromgate, startUpstream, tempDir } from "./_util.ts";

const PASSWORD = "ws-pw-1";

function startEchoUpstream() {
  const seen: Headers[] = [];
  const closes: number[] = [];
  const upstream = startUpstream((req) => {
    seen.push(new Headers(req.headers));
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) =>
      p.trim()
    );
    const { socket, response } = Deno.upgradeWebSocket(req, {
      protocol: offered.includes("v2.live") ? "v2.live" : undefined,
    });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      if (e.data === "bye") return socket.close(4000, "done");
      socket.send(typeof e.data === "string" ? `echo:${e.data}` : e.data);
    };
    socket.onclose = (e) => closes.push(e.code);
    return response;
  });
  return Object.assign(upstream, { seen, closes });
}

function open(url: string, init: { protocols?: string[]; headers?: Record<string, string> }) {
  // Deno and Bun both take headers in the WebSocket constructor's options.
  const ws = new WebSocket(url, init as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const messages: unknown[] = [];
  const waiters: (() => void)[] = [];
  ws.onmessage = (e) => {
    messages.push(e.data);
    waiters.splice(0).forEach((w) => w());
  };
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
    return messages.shift();
  };
  return { ws, opened, closed, next };
}

async function upgradeStatus(port: number, path: string, auth?: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = [
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...(auth ? [`Authorization: ${auth}`] : []),
  ].join("\r\n") + "\r\n\r\n";
  await conn.write(new TextEncoder().encode(head));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  conn.close();
  return Number(new TextDecoder().decode(buf.subarray(0, n ?? 0)).split(" ")[1]);
}

Deno.test(
  "a WebSocket passes through with the upstream's subprotocol, cookies and the user",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startEchoUpstream();
    await makeHtpasswd(`${dir}/.htpasswd`, { alice: PASSWORD });
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [
        { path: "/grafana/", upstream: `${upstream.url}/`, forwardUser: "X-WEBAUTH-USER" },
        { path: "/down/", upstream: "http://127.0.0.1:1/" },
      ],
    });
    try {
      const ws = open(`${gate.url.replace("http", "ws")}/grafana/api/live/ws`, {
        protocols: ["v1", "v2.live"],
        headers: {
          authorization: basic("alice", PASSWORD),
          cookie: "grafana_session=abc",
          "x-webauth-user": "mallory",
        },
      });
      await ws.opened;
      assertEquals(ws.ws.protocol, "v2.live");
      ws.ws.send("hello");
      assertEquals(await ws.next(), "echo:hello");
      ws.ws.send(new Uint8Array([0, 1, 255]));
      assertEquals([...new Uint8Array(await ws.next() as ArrayBuffer)], [0, 1, 255]);
      const big = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
      ws.ws.send(big);
      const back = new Uint8Array(await ws.next() as ArrayBuffer);
      assert(back.byteLength === big.byteLength && back.every((b, i) => b === big[i]), "300 kB");
      const headers = upstream.seen[0];
      assertEquals(headers.get("cookie"), "grafana_session=abc");
      assertEquals(headers.get("x-webauth-user"), "alice", "promgate's user, not the client's");
      assertEquals(headers.get("authorization"), null);
      assertEquals(headers.get("x-forwarded-for"), "127.0.0.1");
      // The upstream closes with its own code; the client sees it.
      ws.ws.send("bye");
      const close = await ws.closed;
      assertEquals([close.code, close.reason], [4000, "done"]);

      assertEquals(await upgradeStatus(gate.port, "/grafana/api/live/ws"), 401);
      const auth = basic("alice", PASSWORD);
      assertEquals(await upgradeStatus(gate.port, "/down/ws", auth), 502);
      await new Promise((r) => setTimeout(r, 100));
      assert(gate.stdout().includes('"GET /grafana/api/live/ws HTTP/1.1" 101'), gate.stdout());
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a browser leaving the page (close 1001) closes the upstream's side with 1001",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startEchoUpstream();
    await makeHtpasswd(`${dir}/.htpasswd`, { alice: PASSWORD });
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [{ path: "/grafana/", upstream: `${upstream.url}/` }],
    });
    try {
      // Deno's WebSocket client only sends 1000 or 3000-4999; raw frames say 1001 as browsers do.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gate.port });
      await conn.write(new TextEncoder().encode(
        [
          "GET /grafana/api/live/ws HTTP/1.1",
          "Host: 127.0.0.1",
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          `Authorization: ${basic("alice", PASSWORD)}`,
        ].join("\r\n") + "\r\n\r\n",
      ));
      const buf = new Uint8Array(1024);
      const n = await conn.read(buf);
      assert(new TextDecoder().decode(buf.subarray(0, n ?? 0)).startsWith("HTTP/1.1 101"));
      // A masked Close with code 1001 (the mask is all zero, so the bytes read as they are).
      await conn.write(new Uint8Array([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]));
      const started = Date.now();
      while (upstream.closes.length === 0 && Date.now() - started < 3000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      conn.close();
      assertEquals(upstream.closes, [1001], "the upstream saw the client's close code");
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
