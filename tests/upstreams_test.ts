/**
 * Routes with several upstreams (lib/http/upstreams.ts, lib/http/proxy.ts): which upstream a
 * request goes to, how health checks and failed requests move an upstream down and back, which
 * requests are retried on the other, and the 503 when none is up. Upstreams are real servers on
 * 127.0.0.1; a "dead" one is a free port nobody listens on.
 */
import { assert, assertEquals } from "./_assert.ts";
import { configWith, routeConfig } from "./_config.ts";
import { freePort, startUpstream, type Upstream } from "./_util.ts";
import type { RouteConfig } from "../lib/config/types.ts";
import { createHandler } from "../lib/http/handler.ts";
import { Metrics } from "../lib/http/metrics.ts";
import { rewriteLocation } from "../lib/http/routes.ts";
import { UpstreamPool, UpstreamPools } from "../lib/http/upstreams.ts";
import { NO_ACCESS_LOG } from "../lib/http/access_log.ts";
import { denoRuntime } from "../lib/runtime/deno/adapter.ts";
import { DEFAULTS } from "../lib/defaults.ts";

const CHECK = {
  path: "/-/ready",
  intervalMs: 60_000,
  timeoutMs: 500,
  unhealthyAfter: 2,
  healthyAfter: 2,
};

function pooled(hrefs: string[], overrides: Partial<RouteConfig> = {}): RouteConfig {
  return routeConfig("/prom/", hrefs[0], { upstreams: hrefs, auth: false, ...overrides });
}

const noFetch = () => Promise.reject(new Error("no network in this test"));

Deno.test("first-available sends everything to the first upstream while it is up", () => {
  const pool = new UpstreamPool(pooled(["http://a:9090/", "http://b:9090/"]), noFetch);
  const [a, b] = pool.members;
  assertEquals(pool.pick(), a);
  assertEquals(pool.pick(a), b, "a retry goes to the other one");
  pool.failed(a, "connection refused");
  assertEquals(pool.pick(), b);
  pool.answeredBadly(b, 503);
  assertEquals(pool.pick(), b, "one 503 (a query that timed out) does not take it out");
  pool.succeeded(b);
  pool.answeredBadly(b, 503);
  assertEquals(pool.pick(), b, "an answer in between starts the count again");
  pool.answeredBadly(b, 502);
  assertEquals(pool.pick(), null, "none up: no pick, so the route answers 503");
});

Deno.test("least-loaded picks the upstream with fewest requests in flight, equals in turn", () => {
  const route = pooled(["http://a:9090/", "http://b:9090/", "http://c:9090/"], {
    balance: "least-loaded",
  });
  const pool = new UpstreamPool(route, noFetch);
  const [a, b, c] = pool.members;
  const doneA = pool.begin(pool.pick()!);
  assertEquals(pool.pick(), b);
  const doneB = pool.begin(b);
  assertEquals(pool.pick(), c);
  pool.begin(c);
  doneA();
  doneA(); // a second call changes nothing
  assertEquals(a.inFlight, 0);
  assertEquals(pool.pick(), a);
  doneB();
  // a and b: none in flight, both served once; a comes first.
  assertEquals(pool.pick(), a);
});

Deno.test("without health checks, a failed upstream is passed over for downSeconds, then tried", () => {
  let now = 0;
  const route = pooled(["http://a:9090/", "http://b:9090/"]);
  const notices: string[] = [];
  const pool = new UpstreamPool(route, noFetch, { notice: (l) => notices.push(l) }, () => now);
  const [a] = pool.members;
  pool.failed(a, "connection refused");
  assertEquals(notices, [
    "upstream http://a:9090 of route /prom/ is down: connection refused",
  ]);
  now = DEFAULTS.upstreams.downSeconds * 1000 - 1;
  assert(pool.pick() !== a);
  now += 1;
  assertEquals(pool.pick(), a, "tried again");
  pool.succeeded(a);
  assertEquals(a.up, true);
  assertEquals(
    notices.at(-1),
    "upstream http://a:9090 of route /prom/ is up again: it answered a request",
  );
});

Deno.test("active checks mark an upstream down after unhealthyAfter fails and up after healthyAfter passes", async () => {
  let ready = true;
  const server = startUpstream(() =>
    new Response(ready ? "ok" : "not ready", { status: ready ? 200 : 503 })
  );
  const dead = `http://127.0.0.1:${freePort()}`;
  try {
    const route = pooled([`${server.url}/`, `${dead}/`], { healthCheck: CHECK });
    const pool = new UpstreamPool(route, denoRuntime.fetchUpstream);
    const [live, gone] = pool.members;
    await pool.checkAll();
    assertEquals([live.up, gone.up], [true, true], "one failed check is not enough");
    await pool.checkAll();
    assertEquals([live.up, gone.up], [true, false]);
    ready = false;
    await pool.checkAll();
    await pool.checkAll();
    assertEquals(live.up, false, "503 from the check path counts as failed");
    assertEquals(pool.pick(), null);
    ready = true;
    await pool.checkAll();
    assertEquals(live.up, false, "healthyAfter is 2");
    await pool.checkAll();
    assertEquals(live.up, true);
    // With checks, time alone never brings one back; a passed check does.
    pool.failed(live, "connection reset");
    assertEquals(pool.pick(), null);
  } finally {
    await server.close();
  }
});

Deno.test("a reload keeps what the previous pools knew of an upstream", () => {
  const route = pooled(["http://a:9090/", "http://b:9090/"], { healthCheck: CHECK });
  const old = new UpstreamPools(configWith([route]), noFetch);
  old.get(route)!.failed(old.get(route)!.members[0], "refused");
  const next = new UpstreamPools(configWith([route]), noFetch);
  next.start(old);
  next.stop();
  old.stop();
  assertEquals(next.health(), [["/prom/", "http://a:9090", false], [
    "/prom/",
    "http://b:9090",
    true,
  ]]);
});

Deno.test("a route with one upstream and no checks gets no pool (sent exactly as before)", () => {
  const pools = new UpstreamPools(configWith([routeConfig("/p/", "http://a:9090/")]), noFetch);
  assertEquals(pools.get(routeConfig("/p/", "http://a:9090/")), undefined);
});

Deno.test("a Location to any of the route's upstreams is mapped back under the route", () => {
  const route = pooled(["http://a:9090/", "http://b:9090/"]);
  assertEquals(rewriteLocation("http://b:9090/graph/", route), "/prom/graph/");
  assertEquals(rewriteLocation("http://c:9090/graph/", route), "http://c:9090/graph/");
});

/** A handler over one route with a dead upstream first and `live` second. */
function handlerWith(live: Upstream, overrides: Partial<RouteConfig> = {}) {
  const dead = `http://127.0.0.1:${freePort()}/`;
  const route = pooled([dead, `${live.url}/`], overrides);
  const config = configWith([route], { auth: null });
  const upstreams = new UpstreamPools(config, denoRuntime.fetchUpstream);
  const metrics = new Metrics({ version: "t", runtime: "t", commit: "t" });
  metrics.upstreamHealth = () => upstreams.health();
  const errors: string[] = [];
  const handler = createHandler({
    state: () => ({ config, authenticator: null, accessLog: NO_ACCESS_LOG, upstreams }),
    client: denoRuntime,
    metrics,
    onUpstreamError: (l) => void errors.push(l),
  });
  const conn = { address: "127.0.0.1", protocol: "HTTP/1.1" };
  const send = (path: string, init?: RequestInit) =>
    Promise.resolve(handler(new Request(`http://gate.test${path}`, init), conn));
  return { send, metrics, errors, pool: upstreams.get(route)!, dead: new URL(dead).origin };
}

Deno.test("a GET whose first upstream refuses the connection is answered by the other", async () => {
  const live = startUpstream((req) => new Response(`live ${new URL(req.url).pathname}`));
  try {
    const h = handlerWith(live);
    const r = await h.send("/prom/api/v1/query?query=up");
    assertEquals([r.status, await r.text()], [200, "live /api/v1/query"]);
    assertEquals(h.errors, []);
    const text = h.metrics.render();
    assert(
      text.includes(`promgate_upstream_retries_total{route="/prom/",upstream="${live.url}"} 1`),
      text,
    );
    assert(text.includes(`promgate_upstream_up{route="/prom/",upstream="${h.dead}"} 0`), text);
    // The dead one is now passed over: the next request goes straight to the live one.
    await (await h.send("/prom/x")).text();
    assert(
      h.metrics.render().includes(
        `promgate_upstream_requests_total{route="/prom/",upstream="${h.dead}"} 1`,
      ),
    );
  } finally {
    await live.close();
  }
});

Deno.test("a POST is not sent twice: its body streamed to the failed upstream", async () => {
  const live = startUpstream(() => new Response("live"));
  try {
    const h = handlerWith(live);
    const r = await h.send("/prom/api/v1/write", { method: "POST", body: "samples" });
    assertEquals(r.status, 502);
    await r.body?.cancel();
    // It marked the dead one down, so the next POST goes to the live one.
    const again = await h.send("/prom/api/v1/write", { method: "POST", body: "samples" });
    assertEquals([again.status, await again.text()], [200, "live"]);
  } finally {
    await live.close();
  }
});

Deno.test("no upstream up: 503 at once, with the reason for the log", async () => {
  const live = startUpstream(() => new Response("live"));
  const h = handlerWith(live, { healthCheck: { ...CHECK, unhealthyAfter: 1 } });
  await live.close();
  await h.pool.checkAll();
  const started = performance.now();
  const r = await h.send("/prom/api/v1/query?query=up");
  const ms = performance.now() - started;
  assertEquals(r.status, 503);
  assertEquals(await r.text(), "503 Service Unavailable: no healthy upstream\n");
  assert(ms < 100, `${ms} ms`);
  assert(h.errors[0].includes("no healthy upstream for route /prom/"), h.errors[0]);
});

Deno.test("a WebSocket upgrade with no upstream up gets 503 at once", async () => {
  const live = startUpstream(() => new Response("live"));
  const h = handlerWith(live, { healthCheck: { ...CHECK, unhealthyAfter: 1 } });
  await live.close();
  await h.pool.checkAll();
  const r = await h.send("/prom/api/live/ws", {
    headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13" },
  });
  assertEquals(r.status, 503);
  await r.body?.cancel();
  assert(h.errors[0].includes("no healthy upstream for route /prom/"), h.errors[0]);
});
