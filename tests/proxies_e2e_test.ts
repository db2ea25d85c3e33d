/**
 * End-to-end: promgate behind load balancers. With listen.trustedProxies, the client address a
 * trusted peer names (X-Forwarded-For, Forwarded) is what the access log shows and the failed-login
 * throttle counts; from other peers, and without trustedProxies, those headers change nothing.
 */
import { assert, assertEquals } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import { basic, curlStatus, makeHtpasswd, needs, run, startPromgate, tempDir } from "./_util.ts";
import { curlFrom, NEEDS_HAPROXY, startHaProxy } from "./_haproxy.ts";

const PASSWORD = "correct horse";
const GOOD = basic("admin", PASSWORD);
const WRONG = basic("admin", "wrong");

/** A promgate with `listen` extras, whose throttle blocks for long enough to see it. */
async function setup(listen: Record<string, unknown>, top: Record<string, unknown> = {}) {
  const dir = await tempDir();
  const upstream = startTestUpstream();
  await makeHtpasswd(`${dir}/.htpasswd`, { admin: PASSWORD });
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port: 0, ...listen },
    auth: { htpasswdFile: ".htpasswd", throttle: { baseDelaySeconds: 60 } },
    routes: [{ path: "/", upstream: `${upstream.url}/` }],
    ...top,
  });
  /** A request from 127.0.0.1 with `headers`; resolves with its status and, if echoed, body. */
  const get = async (headers: Record<string, string>) => {
    const r = await fetch(`${gate.url}/echo`, { headers });
    const body = r.status === 200 ? await r.json() : await r.text();
    return { status: r.status, body };
  };
  return {
    dir,
    gate,
    get,
    /** The access log's client addresses (combined format: the first field), once `n` logged. */
    loggedClients: async (n: number) => {
      const lines = () => gate.stdout().split("\n").filter(Boolean);
      for (let i = 0; i < 250 && lines().length < n; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return lines().map((line) => line.split(" ")[0]);
    },
    async close() {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Five wrong passwords "from" `address` (as X-Forwarded-For names it). */
async function fiveFailures(get: (h: Record<string, string>) => Promise<{ status: number }>) {
  for (let i = 0; i < 5; i++) {
    const r = await get({ authorization: WRONG, "x-forwarded-for": "203.0.113.7" });
    assertEquals(r.status, 401, `attempt ${i + 1}`);
  }
}

Deno.test(
  "behind a trusted proxy, the forwarded address is logged and throttled, not the proxy's",
  needs("htpasswd"),
  async () => {
    const s = await setup({ trustedProxies: ["127.0.0.1"] });
    try {
      await fiveFailures(s.get);
      const blocked = await s.get({ authorization: GOOD, "x-forwarded-for": "203.0.113.7" });
      assertEquals(blocked.status, 429, "203.0.113.7 is blocked, even with the right password");
      // The client spoofed a leftmost hop; the proxy appended what it saw: still 203.0.113.7.
      const spoof = await s.get({
        authorization: GOOD,
        "x-forwarded-for": "198.51.100.1, 203.0.113.7",
      });
      assertEquals(spoof.status, 429, "a made-up hop left of the client does not help");
      const other = await s.get({ authorization: GOOD, "x-forwarded-for": "198.51.100.9" });
      assertEquals(other.status, 200, "another client behind the same proxy is not blocked");
      assertEquals(
        (other.body as { headers: Record<string, string> }).headers["x-forwarded-for"],
        "198.51.100.9, 127.0.0.1",
        "the upstream gets the chain with the peer appended",
      );
      const byForwarded = await s.get({ authorization: GOOD, forwarded: "for=203.0.113.7" });
      assertEquals(byForwarded.status, 200, "Forwarded is not read unless configured");
      const logged = await s.loggedClients(9);
      assertEquals(logged.slice(0, 7), [
        ...new Array(7).fill("203.0.113.7"),
      ], logged.join("\n"));
      assertEquals(logged.slice(7), ["198.51.100.9", "127.0.0.1"]);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "with clientAddressHeader Forwarded, a trusted proxy's Forwarded header names the client",
  needs("htpasswd"),
  async () => {
    const s = await setup({ trustedProxies: ["127.0.0.1"], clientAddressHeader: "Forwarded" });
    try {
      const forwarded = 'for="[2001:db8::7]:4711";proto=https';
      const r = await s.get({ authorization: GOOD, forwarded, "x-forwarded-for": "192.0.2.1" });
      assertEquals(r.status, 200);
      const garbage = await s.get({ authorization: GOOD, forwarded: "for=unknown" });
      assertEquals(garbage.status, 200);
      assertEquals(await s.loggedClients(2), ["2001:db8::7", "127.0.0.1"]);
    } finally {
      await s.close();
    }
  },
);

for (
  const [name, listen] of [
    ["without trustedProxies", {}],
    ["from a peer that is not trusted", { trustedProxies: ["127.0.0.2", "10.0.0.0/8"] }],
  ] as const
) {
  Deno.test(
    `${name}, X-Forwarded-For and Forwarded change nothing`,
    needs("htpasswd"),
    async () => {
      const s = await setup(listen);
      try {
        await fiveFailures(s.get);
        const other = await s.get({
          authorization: GOOD,
          "x-forwarded-for": "198.51.100.9",
          forwarded: "for=198.51.100.9",
        });
        assertEquals(other.status, 429, "every attempt counted against 127.0.0.1");
        const logged = await s.loggedClients(6);
        assert(logged.length === 6 && logged.every((a) => a === "127.0.0.1"), logged.join("\n"));
      } finally {
        await s.close();
      }
    },
  );
}

Deno.test(
  "behind a real HAProxy with option forwardfor, the client's address is logged and throttled",
  NEEDS_HAPROXY,
  async () => {
    const s = await setup({ trustedProxies: ["127.0.0.1"] });
    const haproxy = await startHaProxy(s.dir, s.gate.port, "http");
    try {
      const through = `${haproxy.url}/echo`;
      for (let i = 0; i < 5; i++) {
        assertEquals(await curlFrom("127.0.0.2", through, WRONG), 401, `attempt ${i + 1}`);
      }
      assertEquals(await curlFrom("127.0.0.2", through, GOOD), 429, "127.0.0.2 is blocked");
      // Another client of the same HAProxy, lying about its address: HAProxy appends the truth.
      assertEquals(await curlFrom("127.0.0.4", through, GOOD, "127.0.0.2"), 200);
      // A client that is not the proxy, claiming to be behind it: its header changes nothing.
      const direct = `${s.gate.url}/echo`;
      assertEquals(await curlFrom("127.0.0.3", direct, GOOD, "127.0.0.4"), 200);
      assertEquals(await curlFrom("127.0.0.3", direct, WRONG, "127.0.0.2"), 401);
      const logged = await s.loggedClients(9);
      assertEquals(logged, [
        ...new Array(6).fill("127.0.0.2"),
        "127.0.0.4",
        "127.0.0.3",
        "127.0.0.3",
      ]);
    } finally {
      await haproxy.stop();
      await s.close();
    }
  },
);

for (const mode of ["proxy-v2", "proxy-v1"] as const) {
  Deno.test(
    `behind a real HAProxy sending PROXY protocol (${mode}), the client's address is logged and throttled`,
    NEEDS_HAPROXY,
    async () => {
      const s = await setup({ trustedProxies: ["127.0.0.1"], proxyProtocol: true }, { workers: 1 });
      const haproxy = await startHaProxy(s.dir, s.gate.port, mode);
      try {
        const through = `${haproxy.url}/echo`;
        for (let i = 0; i < 5; i++) {
          assertEquals(await curlFrom("127.0.0.2", through, WRONG), 401, `attempt ${i + 1}`);
        }
        assertEquals(await curlFrom("127.0.0.2", through, GOOD), 429, "127.0.0.2 is blocked");
        // Another client of the same HAProxy claiming to be 127.0.0.2 in a header: not blocked,
        // and logged as itself (the header comes from an untrusted client, 127.0.0.4).
        assertEquals(await curlFrom("127.0.0.4", through, GOOD, "127.0.0.2"), 200);
        // A client that connects directly sends no PROXY header: its connection is closed.
        const direct = await curlStatus("--interface", "127.0.0.3", `${s.gate.url}/echo`);
        assertEquals(direct.stdout, "000", "no answer without a PROXY header");
        const logged = await s.loggedClients(7);
        assertEquals(logged, [...new Array(6).fill("127.0.0.2"), "127.0.0.4"]);
      } finally {
        await haproxy.stop();
        await s.close();
      }
    },
  );
}

Deno.test(
  "with proxyProtocol, a connection from a peer that is not trusted is closed, header or not",
  NEEDS_HAPROXY,
  async () => {
    const s = await setup({ trustedProxies: ["127.0.0.9"], proxyProtocol: true }, { workers: 1 });
    const haproxy = await startHaProxy(s.dir, s.gate.port, "proxy-v2");
    try {
      assertEquals(await curlFrom("127.0.0.2", `${haproxy.url}/echo`, GOOD), 0, "no answer");
      assertEquals(s.gate.stdout(), "", "nothing reached the server");
    } finally {
      await haproxy.stop();
      await s.close();
    }
  },
);

Deno.test(
  "with proxyProtocol, a request slower than headerTimeoutSeconds is not cut off",
  NEEDS_HAPROXY,
  async () => {
    const listen = { trustedProxies: ["127.0.0.1"], proxyProtocol: true, headerTimeoutSeconds: 1 };
    const s = await setup(listen, { workers: 1 });
    const haproxy = await startHaProxy(s.dir, s.gate.port, "proxy-v2");
    try {
      const r = await run("curl", [
        "-sS",
        "--interface",
        "127.0.0.2",
        "-H",
        `authorization: ${GOOD}`,
        `${haproxy.url}/slow?ms=2500`,
      ]);
      assertEquals(r.stdout, "finally\n", r.stderr);
      assertEquals(await s.loggedClients(1), ["127.0.0.2"]);
    } finally {
      await haproxy.stop();
      await s.close();
    }
  },
);
