/**
 * The client address behind trusted proxies (lib/http/client_address.ts) and the config's
 * listen.trustedProxies / listen.clientAddressHeader checks.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  AddressBlocks,
  clientAddress,
  clientAddressFor,
  formatIp,
  forwardedForNodes,
  parseBlock,
  parseIp,
} from "../lib/http/client_address.ts";
import { parseConfig } from "../lib/config/load.ts";
import { trustedProxyProblem } from "../lib/config/rules.ts";

const LB = new AddressBlocks(["10.0.0.0/8", "127.0.0.1", "::1", "2001:db8:aa::/48"]);
const xff = (value: string) => new Headers({ "x-forwarded-for": value });
const fwd = (value: string) => new Headers({ forwarded: value });

Deno.test("IP addresses parse strictly and print in their canonical form", () => {
  const canon = (s: string) => {
    const b = parseIp(s);
    return b === null ? null : formatIp(b);
  };
  assertEquals(canon("192.0.2.1"), "192.0.2.1");
  assertEquals(canon("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assertEquals(canon("2001:db8:0:1:0:0:0:0"), "2001:db8:0:1::");
  assertEquals(canon("::"), "::");
  assertEquals(canon("::1"), "::1");
  assertEquals(canon("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
  assertEquals(canon("::ffff:192.0.2.1"), "192.0.2.1", "IPv4-mapped IPv6 is the IPv4 address");
  assertEquals(canon("64:ff9b::192.0.2.1"), "64:ff9b::c000:201");
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4:80",
      "[::1]",
      "fe80::1%eth0",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "::g",
      "1.2.3.4::",
      "localhost",
      "unknown",
      "x".repeat(100),
    ]
  ) {
    assertEquals(parseIp(bad), null, JSON.stringify(bad));
  }
});

Deno.test("CIDR blocks match by prefix, IPv4 and IPv6 apart", () => {
  assert(LB.has("10.255.3.4"));
  assert(LB.has("127.0.0.1"));
  assert(!LB.has("127.0.0.2"), "a single address is a /32");
  assert(!LB.has("11.0.0.1"));
  assert(LB.has("::1"));
  assert(LB.has("::ffff:10.1.1.1"), "IPv4-mapped peers (a dual-stack listener) match IPv4 blocks");
  assert(LB.has("2001:db8:aa:ffff::9"));
  assert(!LB.has("2001:db8:ab::9"));
  assert(!LB.has("garbage"));
  const odd = new AddressBlocks(["192.0.2.128/25", "0.0.0.0/0"]);
  assert(odd.has("8.8.8.8"), "/0 holds every IPv4 address");
  assert(!odd.has("2001:db8::1"), "an IPv4 /0 holds no IPv6 address");
  const half = new AddressBlocks(["192.0.2.128/25"]);
  assert(half.has("192.0.2.200") && !half.has("192.0.2.127"));
  assertEquals(parseBlock("10.0.0.0/33"), null);
  assertEquals(parseBlock("::/129"), null);
  assertEquals(parseBlock("10.0.0.0/08"), null);
  assertEquals(parseBlock("10.0.0.0/"), null);
});

Deno.test("from an untrusted peer, forwarding headers change nothing", () => {
  assertEquals(clientAddress("198.51.100.4", xff("203.0.113.7"), LB), "198.51.100.4");
  const forwarded = "for=203.0.113.7";
  assertEquals(clientAddress("198.51.100.4", fwd(forwarded), LB, "forwarded"), "198.51.100.4");
  assertEquals(clientAddress("127.0.0.2", xff("10.0.0.1"), LB), "127.0.0.2");
  const none = new AddressBlocks([]);
  assertEquals(clientAddress("127.0.0.1", xff("203.0.113.7"), none), "127.0.0.1");
});

Deno.test("from a trusted peer, the rightmost untrusted X-Forwarded-For address is the client", () => {
  assertEquals(clientAddress("10.0.0.5", xff("203.0.113.7"), LB), "203.0.113.7");
  // The client prepended a lie; the load balancer appended what it saw.
  assertEquals(clientAddress("10.0.0.5", xff("192.0.2.66, 203.0.113.7"), LB), "203.0.113.7");
  // Several trusted proxies: skipped from the right.
  const chain = "192.0.2.66, 203.0.113.7, 10.1.1.1, 10.2.2.2";
  assertEquals(clientAddress("127.0.0.1", xff(chain), LB), "203.0.113.7");
  // Every hop trusted: the leftmost.
  assertEquals(clientAddress("10.0.0.5", xff("10.9.9.9, 10.1.1.1"), LB), "10.9.9.9");
  // Several header lines are one list.
  const two = new Headers([["x-forwarded-for", "192.0.2.66"], ["x-forwarded-for", "203.0.113.7"]]);
  assertEquals(clientAddress("10.0.0.5", two, LB), "203.0.113.7");
  // Ports some proxies add, IPv6, canonical output.
  assertEquals(clientAddress("10.0.0.5", xff("203.0.113.7:4711"), LB), "203.0.113.7");
  assertEquals(clientAddress("::1", xff("[2001:DB8::7]:4711"), LB), "2001:db8::7");
  assertEquals(clientAddress("::1", xff("2001:db8:0::7"), LB), "2001:db8::7");
  assertEquals(clientAddress("10.0.0.5", xff("::ffff:203.0.113.7"), LB), "203.0.113.7");
  // No header, or an empty one: the peer.
  assertEquals(clientAddress("10.0.0.5", new Headers(), LB), "10.0.0.5");
  assertEquals(clientAddress("10.0.0.5", xff("  "), LB), "10.0.0.5");
});

Deno.test("garbage in a trusted chain gives the peer, never something that is not an address", () => {
  for (
    const bad of [
      "evil",
      "203.0.113.7, <script>",
      "203.0.113.7,,",
      "203.0.113.7, unknown",
      "1.2.3.4 5.6.7.8",
      "203.0.113.7\u00e9",
      "[::1",
      "[203.0.113.7]:80",
      "203.0.113.7:99999999",
      "2001:db8::1::80",
    ]
  ) {
    assertEquals(clientAddress("10.0.0.5", xff(bad), LB), "10.0.0.5", JSON.stringify(bad));
  }
  // Garbage left of the client does not matter: the walk stops at the first untrusted hop.
  assertEquals(clientAddress("10.0.0.5", xff("evil, 203.0.113.7"), LB), "203.0.113.7");
  // A huge chain of trusted hops is walked without trouble.
  const long = Array.from({ length: 2000 }, () => "10.0.0.1").join(",");
  assertEquals(clientAddress("10.0.0.5", xff(long), LB), "10.0.0.1");
});

Deno.test("Forwarded (RFC 7239): for= nodes, quoted IPv6 with port, unknown and obfuscated", () => {
  const f = (v: string, peer = "10.0.0.5") => clientAddress(peer, fwd(v), LB, "forwarded");
  assertEquals(f("for=203.0.113.7"), "203.0.113.7");
  assertEquals(f('For="[2001:db8:cafe::17]:4711"'), "2001:db8:cafe::17");
  assertEquals(f('for="203.0.113.7:4711";proto=https;by=10.0.0.5'), "203.0.113.7");
  assertEquals(f("for=192.0.2.66, for=203.0.113.7;proto=http, for=10.1.1.1"), "203.0.113.7");
  assertEquals(f('for=192.0.2.43, for="[::1]"', "::1"), "192.0.2.43");
  assertEquals(f("for=unknown"), "10.0.0.5");
  assertEquals(f("for=_hidden, for=10.1.1.1"), "10.0.0.5");
  assertEquals(f('for="_hidden:_port"'), "10.0.0.5");
  assertEquals(f("proto=https"), "10.0.0.5", "an element without for=");
  assertEquals(f("for=203.0.113.7;for=192.0.2.1"), "10.0.0.5", "two for= in one element");
  assertEquals(f("for=[2001:db8::1]"), "10.0.0.5", "IPv6 must be quoted (brackets are no token)");
  assertEquals(f('for="203.0.113.7'), "10.0.0.5", "an unclosed quote");
  assertEquals(f("for=203.0.113.7 garbage"), "10.0.0.5");
  assertEquals(f('for="2001:db8::1"'), "10.0.0.5", "IPv6 needs brackets");
  // Which header is read is the config's choice: the other one is ignored.
  const both = new Headers({ forwarded: "for=192.0.2.66", "x-forwarded-for": "203.0.113.7" });
  assertEquals(clientAddress("10.0.0.5", both, LB), "203.0.113.7");
  assertEquals(clientAddress("10.0.0.5", both, LB, "forwarded"), "192.0.2.66");
  // A quoted comma or semicolon does not split.
  assertEquals(forwardedForNodes('for="a,b";by=x, for=c'), ["a,b", "c"]);
  assertEquals(forwardedForNodes('for="\\"x\\""'), ['"x"']);
});

Deno.test("clientAddressFor reads the listen settings", () => {
  const listen = { trustedProxies: ["127.0.0.1"] };
  assertEquals(clientAddressFor(listen, "127.0.0.1", xff("203.0.113.7")), "203.0.113.7");
  assertEquals(clientAddressFor(listen, "127.0.0.3", xff("203.0.113.7")), "127.0.0.3");
  assertEquals(clientAddressFor({}, "127.0.0.1", xff("203.0.113.7")), "127.0.0.1");
  const byForwarded = { trustedProxies: ["127.0.0.1"], clientAddressHeader: "forwarded" as const };
  assertEquals(clientAddressFor(byForwarded, "127.0.0.1", xff("203.0.113.7")), "127.0.0.1");
  assertEquals(clientAddressFor(byForwarded, "127.0.0.1", fwd("for=203.0.113.7")), "203.0.113.7");
});

Deno.test("every trustedProxies entry the config accepts is one the handler reads", () => {
  const good = [
    "10.0.0.0/8",
    "127.0.0.1",
    "::1",
    "::",
    "::/0",
    "0.0.0.0/0",
    "fd00::/8",
    "2001:db8:0000:0000:0000:0000:0000:0001/128",
    "::ffff:10.0.0.0/104",
    "10.1.2.3/8",
  ];
  for (const entry of good) {
    assertEquals(trustedProxyProblem(entry), null, entry);
    assert(parseBlock(entry) !== null, entry);
  }
  const bad = [
    "10.0.0.0/33",
    "::/129",
    "10.0.0.0/8/8",
    "10.0.0.0/-1",
    "10.0.0.0/ 8",
    "010.0.0.1",
    "10.0.0.1:80",
    "[::1]",
    "fe80::1%eth0",
    "localhost",
    "10.0.0.0/",
    "::ffff:10.0.0.0/8",
  ];
  for (const entry of bad) {
    assert(trustedProxyProblem(entry) !== null, entry);
    assertEquals(parseBlock(entry), null, entry);
  }
});

const parse = (listen: unknown) =>
  parseConfig(
    JSON.stringify({
      listen,
      routes: [{ path: "/", upstream: "http://127.0.0.1:9/", auth: false }],
    }),
    "/tmp/inline.json",
  );

Deno.test("a bad trustedProxies entry is refused at start-up, naming its JSON path and the fix", async () => {
  const e = await assertRejects(() => parse({ trustedProxies: ["10.0.0.0/8", "10.0.0.0/40"] }));
  assert(
    e.message.includes(
      'listen.trustedProxies[1]: "10.0.0.0/40": the prefix length after "/" ' +
        "must be a number from 0 to 32.",
    ),
    e.message,
  );
  const port = await assertRejects(() => parse({ trustedProxies: ["10.0.0.1:80"] }));
  assert(port.message.includes("includes a port; give the address only."), port.message);
  const header = await assertRejects(() => parse({ clientAddressHeader: "X-Real-IP" }));
  assert(header.message.includes("listen.clientAddressHeader:"), header.message);
  const notList = await assertRejects(() => parse({ trustedProxies: "10.0.0.0/8" }));
  assert(notList.message.includes("listen.trustedProxies:"), notList.message);
});

Deno.test("trustedProxies and clientAddressHeader load; left out, listen is as before", async () => {
  const c = await parse({ trustedProxies: ["10.0.0.0/8"], clientAddressHeader: "Forwarded" });
  assertEquals(c.listen.trustedProxies, ["10.0.0.0/8"]);
  assertEquals(c.listen.clientAddressHeader, "forwarded");
  const plain = await parse({});
  assertEquals("trustedProxies" in plain.listen, false);
  assertEquals("clientAddressHeader" in plain.listen, false);
});
