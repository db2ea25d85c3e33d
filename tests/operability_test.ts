/**
 * What operators of a Prometheus stack add on top of the proxy, through the real process: the
 * logged-in user told to the upstream (Grafana's auth-proxy mode), routes restricted to users
 * and groups, the Prometheus-aware read-only policy against the real Debian prometheus, and
 * promgate's own metrics (checked with the real promtool).
 */
import { startPrometheus } from "./_prometheus.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import {
  basic,
  freePort,
  makeHtpasswd,
  needs,
  type Promgate,
  run,
  startPromgate,
  tempDir,
} from "./_util.ts";

const USERS = { alice: "alice-pw", bob: "bob-pw" };
const as = (user: keyof typeof USERS, extra: Record<string, string> = {}) => ({
  headers: { authorization: basic(user, USERS[user]), ...extra },
});

async function start(dir: string, config: Record<string, unknown>): Promise<Promgate> {
  await makeHtpasswd(`${dir}/.htpasswd`, USERS);
  return await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { htpasswdFile: ".htpasswd" },
    accessLog: false,
    groups: { ops: ["alice"] },
    ...config,
  });
}

Deno.test(
  "tells the upstream who logged in, and no client can claim to be someone",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    const gate = await start(dir, {
      routes: [
        { path: "/grafana/", upstream: `${upstream.url}/echo/`, forwardUser: "X-WEBAUTH-USER" },
        { path: "/fwd/", upstream: `${upstream.url}/echo/`, forwardUser: true },
        { path: "/plain/", upstream: `${upstream.url}/echo/` },
        { path: "/public/", upstream: `${upstream.url}/echo/`, auth: false },
      ],
    });
    try {
      const spoof = { "x-webauth-user": "admin", "x-forwarded-user": "admin" };
      const seen = async (path: string, init: RequestInit) =>
        (await (await fetch(`${gate.url}${path}`, init)).json()).headers;
      const grafana = await seen("/grafana/x", as("bob", spoof));
      assertEquals([grafana["x-webauth-user"], grafana["x-forwarded-user"]], ["bob", undefined]);
      const fwd = await seen("/fwd/x", as("alice", spoof));
      assertEquals(fwd["x-forwarded-user"], "alice");
      const plain = await seen("/plain/x", as("alice", spoof));
      assertEquals(plain["x-forwarded-user"], undefined, "a spoofed header is never passed on");
      const pub = await seen("/public/x", { headers: spoof });
      assertEquals(pub["x-forwarded-user"], undefined);
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a route restricted to a group answers 403 to other users",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    const gate = await start(dir, {
      routes: [{ path: "/ops/", upstream: `${upstream.url}/echo/`, allow: ["@ops"] }],
    });
    try {
      assertEquals((await fetch(`${gate.url}/ops/x`, as("alice"))).status, 200);
      const bob = await fetch(`${gate.url}/ops/x`, as("bob"));
      assertEquals([bob.status, await bob.text()], [403, "403 Forbidden\n"]);
      assertEquals((await fetch(`${gate.url}/ops/x`)).status, 401, "anonymous: 401 first");
      const logged = /refused GET \/ops\/x with 403: user "bob" is not allowed/;
      const deadline = performance.now() + 3000;
      while (!logged.test(gate.stderr()) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assertMatch(gate.stderr(), logged);
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a read-only Prometheus route runs queries but refuses admin, quit, reload and remote write",
  needs("htpasswd", "prometheus"),
  async () => {
    const dir = await tempDir();
    const port = freePort();
    const prometheus = await startPrometheus(dir, `http://127.0.0.1:${port}/prometheus`, {
      extraArgs: ["--web.enable-admin-api", "--web.enable-lifecycle"],
    });
    const gate = await start(dir, {
      listen: { hostname: "127.0.0.1", port },
      routes: [{
        path: "/prometheus/",
        upstream: `${prometheus.url}/`,
        readOnly: true,
        admins: ["@ops"],
      }],
    });
    try {
      const url = `${gate.url}/prometheus`;
      const form = (user: "alice" | "bob") => ({
        method: "POST",
        body: "query=up",
        ...as(user, { "content-type": "application/x-www-form-urlencoded" }),
      });
      assertEquals((await fetch(`${url}/api/v1/query?query=up`, as("bob"))).status, 200);
      const posted = await fetch(`${url}/api/v1/query`, form("bob"));
      assertEquals(posted.status, 200, "POST queries (Grafana's long queries) pass");
      assertEquals((await posted.json()).status, "success");
      for (
        const [method, path] of [
          ["POST", "/api/v1/admin/tsdb/snapshot"],
          ["POST", "/api/v1/admin/tsdb/clean_tombstones"],
          ["POST", "/api/v1/%61dmin/tsdb/snapshot"],
          ["POST", "/api/v1/query/../admin/tsdb/snapshot"],
          ["POST", "/-/reload"],
          ["PUT", "/-/quit"],
          ["POST", "/api/v1/write"],
        ]
      ) {
        const r = await fetch(`${url}${path}`, { method, ...as("bob") });
        assertEquals(r.status, 403, `${method} ${path}`);
        await r.body?.cancel();
      }
      // The route's admins reach Prometheus itself (admin API enabled: a snapshot is taken).
      const snapshot = await fetch(`${url}/api/v1/admin/tsdb/snapshot`, {
        method: "POST",
        ...as("alice"),
      });
      assertEquals(snapshot.status, 200);
      assertEquals((await snapshot.json()).status, "success");
      const reload = await fetch(`${url}/-/reload`, { method: "POST", ...as("alice") });
      assertEquals(reload.status, 200);
      await reload.body?.cancel();
    } finally {
      assertEquals(await gate.stop(), 0);
      await prometheus.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "serves its own metrics, protected, in a format promtool accepts",
  needs("htpasswd", "promtool"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    const gate = await start(dir, {
      metrics: { path: "/-/promgate/metrics" },
      routes: [{ path: "/p/", upstream: `${upstream.url}/echo/` }],
    });
    try {
      for (let i = 0; i < 3; i++) {
        await (await fetch(`${gate.url}/p/x`, as("alice"))).body?.cancel();
      }
      await (await fetch(`${gate.url}/p/x`, as("bob", { authorization: basic("bob", "no") })))
        .body?.cancel();
      assertEquals((await fetch(`${gate.url}/-/promgate/metrics`)).status, 401);
      const r = await fetch(`${gate.url}/-/promgate/metrics`, as("alice"));
      assertEquals(r.status, 200);
      assertMatch(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      const text = await r.text();
      assert(
        text.includes('promgate_requests_total{route="/p/",method="GET",code="200"} 3'),
        text,
      );
      assert(text.includes('promgate_auth_failures_total{reason="wrong_password"} 1'), text);
      assert(text.includes('promgate_auth_failures_total{reason="missing"} 1'), text);
      assert(text.includes('promgate_auth_cache_total{result="hit"}'), text);
      assertMatch(text, /promgate_build_info\{version="[^"]+",runtime="(deno|bun) /);
      const check = await run("promtool", ["check", "metrics"], { stdin: text });
      assertEquals([check.code, check.stdout + check.stderr], [0, ""]);
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
