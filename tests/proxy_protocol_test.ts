/** The PROXY protocol v1/v2 header parser (lib/runtime/proxy_protocol.ts). */
import { assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { parseProxyHeader, V1_MAX_BYTES, V2_MAX_BYTES } from "../lib/runtime/proxy_protocol.ts";
import type { ListenOptions } from "../lib/runtime/listen.ts";
import { currentRuntime } from "../lib/runtime/mod.ts";
import { parseConfig } from "../lib/config/load.ts";

const text = (s: string) => new TextEncoder().encode(s);
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: version/command byte, family byte, then `body` (its length is filled in). */
function v2(command: number, family: number, body: number[]): Uint8Array {
  return new Uint8Array([
    ...SIGNATURE,
    0x20 | command,
    family,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

const TCP4_BODY = [203, 0, 113, 7, 127, 0, 0, 1, 0x12, 0x67, 0x30, 0x39]; // :4711 -> :12345

Deno.test("v1 TCP4 and TCP6 give the client's address and port, and the bytes to strip", () => {
  const line = "PROXY TCP4 203.0.113.7 127.0.0.1 4711 12321\r\n";
  const bytes = text(line + "GET / HTTP/1.1\r\n");
  assertEquals(parseProxyHeader(bytes), {
    kind: "header",
    length: line.length,
    source: { address: "203.0.113.7", port: 4711 },
  });
  const six = "PROXY TCP6 2001:DB8:0:0::7 ::1 65535 443\r\n";
  assertEquals(parseProxyHeader(text(six)), {
    kind: "header",
    length: six.length,
    source: { address: "2001:db8::7", port: 65535 },
  });
  const unknown = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
  assertEquals(parseProxyHeader(text(unknown)), {
    kind: "header",
    length: unknown.length,
    source: null,
  });
});

Deno.test("v2 TCP4, TCP6 and LOCAL, with TLVs after the addresses", () => {
  assertEquals(parseProxyHeader(v2(1, 0x11, TCP4_BODY)), {
    kind: "header",
    length: 16 + 12,
    source: { address: "203.0.113.7", port: 4711 },
  });
  const six = [
    ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
    ...new Array(15).fill(0),
    1,
    0x01,
    0xbb,
    0x30,
    0x39,
    // A TLV (PP2_TYPE_AUTHORITY "x"), which is skipped.
    0x02,
    0x00,
    0x01,
    0x78,
  ];
  const header = v2(1, 0x21, six);
  const withData = new Uint8Array([...header, ...text("GET /")]);
  assertEquals(parseProxyHeader(withData), {
    kind: "header",
    length: header.length,
    source: { address: "2001:db8::7", port: 443 },
  });
  const mapped = [...new Array(10).fill(0), 0xff, 0xff, 198, 51, 100, 9, ...new Array(20).fill(0)];
  assertEquals(
    parseProxyHeader(v2(1, 0x21, mapped)),
    { kind: "header", length: 16 + 36, source: { address: "198.51.100.9", port: 0 } },
    "an IPv4-mapped source is the IPv4 address",
  );
  assertEquals(parseProxyHeader(v2(0, 0x00, [])), { kind: "header", length: 16, source: null });
  assertEquals(
    parseProxyHeader(v2(0, 0x11, TCP4_BODY)),
    { kind: "header", length: 28, source: null },
    "LOCAL ignores any addresses",
  );
  assertEquals(
    parseProxyHeader(v2(1, 0x31, new Array(216).fill(0))),
    { kind: "header", length: 16 + 216, source: null },
    "a UNIX-socket source: the connection's own address stands",
  );
});

Deno.test("truncated headers ask for more bytes, at every cut", () => {
  const one = text("PROXY TCP4 203.0.113.7 127.0.0.1 4711 12321\r\n");
  const two = v2(1, 0x11, TCP4_BODY);
  for (const whole of [one, two]) {
    for (let cut = 0; cut < whole.length; cut++) {
      assertEquals(parseProxyHeader(whole.subarray(0, cut)), { kind: "incomplete" }, `${cut}`);
    }
  }
});

Deno.test("garbage and broken headers are refused, never read as an address", () => {
  const refused = (bytes: Uint8Array, why: string) =>
    assertEquals(parseProxyHeader(bytes).kind, "invalid", why);
  refused(text("GET / HTTP/1.1\r\n"), "a plain HTTP request");
  refused(text("\x16\x03\x01\x02\x00"), "a TLS ClientHello");
  refused(text("PROXY TCP4 203.0.113.7 127.0.0.1 4711\r\n"), "a word missing");
  refused(text("PROXY TCP4 203.0.113.7 127.0.0.1 4711 12321 x\r\n"), "a word too many");
  refused(text("PROXY TCP4 203.0.113.7 127.0.0.1 4711 12321\n"), "LF without CR");
  refused(text("PROXY TCP4 2001:db8::7 127.0.0.1 4711 12321\r\n"), "IPv6 as TCP4");
  refused(text("PROXY TCP6 203.0.113.7 ::1 4711 12321\r\n"), "IPv4 as TCP6");
  refused(text("PROXY TCP4 203.0.113.07 127.0.0.1 4711 12321\r\n"), "a leading zero");
  refused(text("PROXY TCP4 203.0.113.7 127.0.0.1 65536 12321\r\n"), "a port out of range");
  refused(text("PROXY TCP4 evil 127.0.0.1 1 2\r\n"), "not an address");
  refused(text("PROXY UDP4 203.0.113.7 127.0.0.1 4711 12321\r\n"), "an unknown family");
  refused(text("PROXY  TCP4 203.0.113.7 127.0.0.1 4711 12321\r\n"), "two spaces");
  refused(text("proxy TCP4 203.0.113.7 127.0.0.1 4711 12321\r\n"), "lower case");
  const badVersion = v2(1, 0x11, TCP4_BODY);
  badVersion[12] = 0x11;
  refused(badVersion, "v2 signature with version 1");
  refused(v2(2, 0x11, TCP4_BODY), "an unknown v2 command");
  refused(v2(1, 0x11, TCP4_BODY.slice(0, 8)), "TCP4 addresses cut short by the length");
  refused(v2(1, 0x21, new Array(20).fill(0)), "TCP6 addresses cut short by the length");
  const signature = new Uint8Array(SIGNATURE);
  signature[7] = 0x50;
  refused(signature, "a signature with a wrong byte");
});

Deno.test("oversized headers are refused before they are whole", () => {
  // v1: no CRLF within 107 bytes.
  const long = text("PROXY TCP4 " + "1".repeat(V1_MAX_BYTES));
  assertEquals(parseProxyHeader(long).kind, "invalid");
  const exactly = text("PROXY UNKNOWN " + "x".repeat(V1_MAX_BYTES - 16) + "\r\n");
  assertEquals(exactly.length, V1_MAX_BYTES);
  assertEquals(parseProxyHeader(exactly).kind, "header", "107 bytes is allowed");
  // v2: the length field alone says it is too long; only its 16 bytes need to have arrived.
  const big = v2(1, 0x11, new Array(V2_MAX_BYTES - 16 + 1).fill(0));
  assertEquals(parseProxyHeader(big.subarray(0, 16)).kind, "invalid");
  const most = v2(1, 0x11, [...TCP4_BODY, ...new Array(V2_MAX_BYTES - 16 - 12).fill(0)]);
  assertEquals(parseProxyHeader(most), {
    kind: "header",
    length: V2_MAX_BYTES,
    source: { address: "203.0.113.7", port: 4711 },
  });
});

// -- the front listener, in front of the runtime's real server ----------------------------------

/** A server behind a PROXY protocol front that answers with the ClientInfo it was given. */
async function frontedServer(trusted: (address: string) => boolean, headerTimeoutMs = 2000) {
  const runtime = await currentRuntime();
  const refused: string[] = [];
  const options: ListenOptions = {
    hostname: "127.0.0.1",
    port: 0,
    tls: null,
    handler: (_req, info) => Response.json({ address: info.address, port: info.port }),
    onError: () => new Response("error", { status: 500 }),
    proxyProtocol: { trusted, headerTimeoutMs, onRefused: (line) => refused.push(line) },
  };
  const server = await runtime.serve(options);
  return { server, refused };
}

/** Sends `bytes` on a new connection to `port`; resolves with everything read until it closes. */
async function exchange(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(bytes);
  let out = "";
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    out += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  return out;
}

const REQUEST = text("GET / HTTP/1.1\r\nHost: promgate.test\r\nConnection: close\r\n\r\n");
const join = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));
const bodyOf = (response: string) => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));

Deno.test("behind the front, requests see the client a v1 or v2 header names", async () => {
  const { server } = await frontedServer((a) => a === "127.0.0.1");
  try {
    const one = await exchange(
      server.port,
      join(text("PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n"), REQUEST),
    );
    assertEquals(bodyOf(one).address, "203.0.113.7", one);
    const two = await exchange(server.port, join(v2(1, 0x11, TCP4_BODY), REQUEST));
    assertEquals(bodyOf(two).address, "203.0.113.7", two);
    const local = await exchange(server.port, join(v2(0, 0x00, []), REQUEST));
    assertEquals(bodyOf(local).address, "127.0.0.1", "LOCAL: the peer itself");
    assertEquals(typeof bodyOf(local).port, "number");
  } finally {
    await server.shutdown();
  }
});

Deno.test("the front closes connections without a header, or from untrusted peers", async () => {
  const trustedFront = await frontedServer((a) => a === "127.0.0.1", 300);
  try {
    assertEquals(await exchange(trustedFront.server.port, REQUEST), "", "no header: closed");
    const garbage = text("PROXY TCP4 evil 127.0.0.1 1 2\r\n");
    assertEquals(await exchange(trustedFront.server.port, join(garbage, REQUEST)), "");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: trustedFront.server.port });
    await conn.write(text("PROX"));
    const n = await conn.read(new Uint8Array(10)).catch(() => null);
    assertEquals(n, null, "half a header, then silence: closed after headerTimeoutMs");
    conn.close();
    assertEquals(trustedFront.refused.length, 3, trustedFront.refused.join("\n"));
  } finally {
    await trustedFront.server.shutdown();
  }
  const untrusted = await frontedServer(() => false);
  try {
    const header = text("PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n");
    assertEquals(await exchange(untrusted.server.port, join(header, REQUEST)), "");
    assertEquals(untrusted.refused, [
      "closed a connection from 127.0.0.1: not in listen.trustedProxies",
    ]);
  } finally {
    await untrusted.server.shutdown();
  }
});

// -- listen.proxyProtocol in the config -------------------------------------------------------

const parse = (top: Record<string, unknown>) =>
  parseConfig(
    JSON.stringify({
      routes: [{ path: "/", upstream: "http://127.0.0.1:9/", auth: false }],
      ...top,
    }),
    "/tmp/inline.json",
  );

Deno.test("listen.proxyProtocol needs trustedProxies and one server thread, and says so", async () => {
  const alone = await assertRejects(() => parse({ listen: { proxyProtocol: true }, workers: 1 }));
  assertStringIncludes(alone.message, "listen.proxyProtocol: needs listen.trustedProxies");
  const threads = await assertRejects(() =>
    parse({ listen: { proxyProtocol: true, trustedProxies: ["10.0.0.0/8"] } })
  );
  assertStringIncludes(threads.message, 'listen.proxyProtocol: needs "workers": 1');
  const ok = await parse({
    listen: { proxyProtocol: true, trustedProxies: ["10.0.0.0/8"] },
    workers: 1,
  });
  assertEquals(ok.listen.proxyProtocol, true);
});
