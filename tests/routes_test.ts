/**
 * Which route serves a request path, what path the upstream sees, and how upstream redirects are
 * mapped back into the client's URL space (the `/graph` → `/graph/` case of DESIGN.md fact 3).
 */
import { assertEquals } from "./_assert.ts";
import { parseConfig } from "../lib/config/load.ts";
import { type RouteConfig } from "../lib/config/types.ts";
import { routeConfig } from "./_config.ts";
import { matchRoute, rewriteLocation, type RouteMatch } from "../lib/http/routes.ts";

const route = (path: string, upstream: string, overrides: Partial<RouteConfig> = {}) =>
  routeConfig(path, upstream, { timeoutMs: 60_000, ...overrides });

/** Routes sorted longest prefix first, as loadConfig sorts them. */
function sorted(...routes: RouteConfig[]): RouteConfig[] {
  return routes.sort((a, b) => b.prefix.length - a.prefix.length);
}

/** The match reduced to what a test compares: kind, the route's path, and the target. */
function summary(m: RouteMatch): [string, string?, string?] {
  if (m.kind === "none") return ["none"];
  if (m.kind === "redirect") return ["redirect", m.route.path, m.location];
  return ["route", m.route.path, m.upstreamPath];
}

const PROM = route("/prometheus/", "http://localhost:9090/");

Deno.test("a route written with a trailing slash serves every path below it", () => {
  assertEquals(summary(matchRoute([PROM], "/prometheus/")), ["route", "/prometheus/", "/"]);
  assertEquals(summary(matchRoute([PROM], "/prometheus/metrics")), [
    "route",
    "/prometheus/",
    "/metrics",
  ]);
  assertEquals(summary(matchRoute([PROM], "/prometheus/api/v1/query")), [
    "route",
    "/prometheus/",
    "/api/v1/query",
  ]);
});

Deno.test("a route without a trailing slash serves its own path and every path below it", () => {
  const r = route("/prometheus", "http://localhost:9090/");
  assertEquals(summary(matchRoute([r], "/prometheus")), ["route", "/prometheus", "/"]);
  assertEquals(summary(matchRoute([r], "/prometheus/metrics")), [
    "route",
    "/prometheus",
    "/metrics",
  ]);
});

Deno.test("a route never matches a longer name that merely starts with it (/prometheusfoo)", () => {
  for (const r of [PROM, route("/prometheus", "http://localhost:9090/")]) {
    assertEquals(summary(matchRoute([r], "/prometheusfoo")), ["none"], r.path);
    assertEquals(summary(matchRoute([r], "/prometheusfoo/metrics")), ["none"], r.path);
    assertEquals(summary(matchRoute([r], "/prometheus.metrics")), ["none"], r.path);
  }
});

Deno.test("GET /prometheus redirects to /prometheus/ when the route is written with a slash", () => {
  assertEquals(summary(matchRoute([PROM], "/prometheus")), [
    "redirect",
    "/prometheus/",
    "/prometheus/",
  ]);
});

Deno.test("an encoded slash (%2F) is not a path boundary", () => {
  assertEquals(summary(matchRoute([PROM], "/prometheus%2Fmetrics")), ["none"]);
  assertEquals(summary(matchRoute([PROM], "/prometheus%2fmetrics")), ["none"]);
  assertEquals(
    summary(matchRoute([PROM], "/prometheus/api%2Fv1/query")),
    ["route", "/prometheus/", "/api%2Fv1/query"],
    "and it reaches the upstream still encoded",
  );
});

Deno.test("the longest matching route wins, by whole path segments", () => {
  const routes = sorted(
    route("/", "http://fallback:8080/", { auth: false }),
    route("/prometheus/", "http://localhost:9090/"),
    route("/prometheus/api/", "http://api:9090/"),
  );
  assertEquals(summary(matchRoute(routes, "/prometheus/api/v1/query")), [
    "route",
    "/prometheus/api/",
    "/v1/query",
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheus/apix")), [
    "route",
    "/prometheus/",
    "/apix",
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheus/graph")), [
    "route",
    "/prometheus/",
    "/graph",
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheusfoo")), ["route", "/", "/prometheusfoo"]);
  assertEquals(summary(matchRoute(routes, "/")), ["route", "/", "/"]);
});

/** Routes as loadConfig resolves them from JSON (public routes, so no htpasswd file is needed). */
async function configRoutes(routes: unknown[]): Promise<RouteConfig[]> {
  const text = JSON.stringify({ routes: routes.map((r) => ({ auth: false, ...r as object })) });
  return (await parseConfig(text, "/nonexistent/config.json")).routes;
}

Deno.test("routes listed in any order in the config: the longest prefix still wins", async () => {
  const routes = await configRoutes([
    { path: "/", upstream: "http://fallback:8080/" },
    { path: "/prometheus/", upstream: "http://localhost:9090/" },
    { path: "/prometheus/api", upstream: "http://api:9090/" },
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheus/api/v1/query")), [
    "route",
    "/prometheus/api",
    "/v1/query",
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheus/graph")), [
    "route",
    "/prometheus/",
    "/graph",
  ]);
  assertEquals(summary(matchRoute(routes, "/metrics")), ["route", "/", "/metrics"]);
});

Deno.test("a config upstream without a path passes the path on; with '/' it replaces the prefix", async () => {
  const routes = await configRoutes([
    { path: "/prometheus/", upstream: "http://localhost:9090" },
    { path: "/alertmanager/", upstream: "http://localhost:9093/" },
  ]);
  assertEquals(summary(matchRoute(routes, "/prometheus/metrics")), [
    "route",
    "/prometheus/",
    "/prometheus/metrics",
  ]);
  assertEquals(summary(matchRoute(routes, "/alertmanager/api/v2/alerts")), [
    "route",
    "/alertmanager/",
    "/api/v2/alerts",
  ]);
});

Deno.test("a root route serves every path, unchanged", () => {
  const root = route("/", "http://localhost:9090/");
  assertEquals(summary(matchRoute([root], "/")), ["route", "/", "/"]);
  assertEquals(summary(matchRoute([root], "/api/v1/query")), ["route", "/", "/api/v1/query"]);
});

Deno.test("no route means no match", () => {
  assertEquals(summary(matchRoute([PROM], "/")), ["none"]);
  assertEquals(summary(matchRoute([PROM], "/metrics")), ["none"]);
  assertEquals(summary(matchRoute([], "/prometheus/")), ["none"]);
});

Deno.test("the route prefix is replaced by the upstream URL's own path", () => {
  const withSlash = route("/prometheus/", "http://localhost:9090/prom/");
  assertEquals(summary(matchRoute([withSlash], "/prometheus/metrics")), [
    "route",
    "/prometheus/",
    "/prom/metrics",
  ]);
  assertEquals(summary(matchRoute([withSlash], "/prometheus/")), [
    "route",
    "/prometheus/",
    "/prom/",
  ]);
  const deep = route("/p/", "http://localhost:9090/a/b/");
  assertEquals(summary(matchRoute([deep], "/p/c/d")), ["route", "/p/", "/a/b/c/d"]);
  const noSlash = route("/metrics", "http://localhost:9100/metrics");
  assertEquals(summary(matchRoute([noSlash], "/metrics")), ["route", "/metrics", "/metrics"]);
  assertEquals(summary(matchRoute([noSlash], "/metrics/x")), [
    "route",
    "/metrics",
    "/metrics/x",
  ]);
});

Deno.test("an upstream given as a bare origin sees the client's path unchanged (stripPrefix off)", () => {
  const bare = route("/prometheus/", "http://localhost:9090", { stripPrefix: false });
  assertEquals(summary(matchRoute([bare], "/prometheus/metrics")), [
    "route",
    "/prometheus/",
    "/prometheus/metrics",
  ]);
  assertEquals(summary(matchRoute([bare], "/prometheus/")), [
    "route",
    "/prometheus/",
    "/prometheus/",
  ]);
});

// ---------------------------------------------------------------------------------------------
// rewriteLocation

const PUBLIC = "https://example.com";

Deno.test("maps Prometheus' root-relative /graph/ redirect under /prometheus/", () => {
  assertEquals(rewriteLocation("/graph/", PROM, PUBLIC), "/prometheus/graph/");
  assertEquals(rewriteLocation("/", PROM, PUBLIC), "/prometheus/");
  assertEquals(
    rewriteLocation("/graph?g0.expr=up#top", PROM, PUBLIC),
    "/prometheus/graph?g0.expr=up#top",
    "query and fragment are kept",
  );
});

Deno.test("leaves a redirect that is already under /prometheus/ alone", () => {
  assertEquals(
    rewriteLocation("/prometheus/classic/graph?g0.expr=up", PROM, PUBLIC),
    "/prometheus/classic/graph?g0.expr=up",
  );
  assertEquals(rewriteLocation("/prometheus", PROM, PUBLIC), "/prometheus");
});

Deno.test({
  // BUG: lib/http/routes.ts rewriteLocation (lines 60, 68) rebuilds the Location from a parsed URL,
  // and URL.search is "" for an empty query, so "/prometheus/classic/graph?" (the exact
  // Location Prometheus sends for /graph/) comes back as "/prometheus/classic/graph": the
  // already-prefixed Location is not left unchanged as the design says.
  ignore: false,
  name: "passes Prometheus' already-prefixed /prometheus/classic/graph? on byte for byte",
  fn() {
    assertEquals(
      rewriteLocation("/prometheus/classic/graph?", PROM, PUBLIC),
      "/prometheus/classic/graph?",
    );
  },
});

Deno.test("answers an absolute redirect to the upstream's own origin with a root-relative one", () => {
  assertEquals(rewriteLocation("http://localhost:9090/graph/", PROM, PUBLIC), "/prometheus/graph/");
  assertEquals(
    rewriteLocation("http://localhost:9090/prometheus/graph?g0.expr=up#top", PROM, PUBLIC),
    "/prometheus/graph?g0.expr=up#top",
    "already under the prefix: only the origin goes",
  );
  assertEquals(
    rewriteLocation("//localhost:9090/graph/", PROM, PUBLIC),
    "/prometheus/graph/",
    "a scheme-relative URL is absolute too",
  );
  assertEquals(rewriteLocation("http://localhost:9090", PROM, PUBLIC), "/prometheus/");
  assertEquals(
    rewriteLocation("http://localhost:9090/prometheus/classic/graph?", PROM, PUBLIC),
    "/prometheus/classic/graph?",
    "an empty query is kept",
  );
});

Deno.test("never names the client's Host in a rewritten Location (issue 12 item 9)", () => {
  const fromHost = "http://evil.example";
  for (const location of ["http://localhost:9090/x", "//localhost:9090/x", "/x"]) {
    const rewritten = rewriteLocation(location, PROM, fromHost);
    assertEquals(rewritten, "/prometheus/x", location);
  }
});

Deno.test("an upstream path that starts with // does not become a redirect to another host", () => {
  const root = route("/", "http://localhost:9090/");
  assertEquals(
    rewriteLocation("http://localhost:9090//evil.example/x", root, PUBLIC),
    "/evil.example/x",
  );
  assertEquals(
    rewriteLocation("http://localhost:9090/..//evil.example", root, PUBLIC),
    "/evil.example",
  );
});

Deno.test("leaves redirects to other origins alone", () => {
  for (
    const other of [
      "https://example.org/x",
      "http://localhost:9091/graph/",
      "https://localhost:9090/graph/",
      "//evil.example/graph/",
    ]
  ) {
    assertEquals(rewriteLocation(other, PROM, PUBLIC), other);
  }
});

Deno.test("leaves relative redirects alone, since they already resolve under the route", () => {
  for (const relative of ["graph/", "../graph", "?x=1", "#frag", "./"]) {
    assertEquals(rewriteLocation(relative, PROM, PUBLIC), relative);
  }
});

Deno.test("maps redirects below a non-root upstream path back under the route", () => {
  const r = route("/prometheus/", "http://localhost:9090/prom/");
  assertEquals(rewriteLocation("/prom/graph/", r, PUBLIC), "/prometheus/graph/");
  assertEquals(rewriteLocation("/prom", r, PUBLIC), "/prometheus");
  assertEquals(
    rewriteLocation("http://localhost:9090/prom/graph", r, PUBLIC),
    "/prometheus/graph",
  );
  assertEquals(
    rewriteLocation("/elsewhere", r, PUBLIC),
    "/elsewhere",
    "outside the upstream path there is nothing to map it to",
  );
});

Deno.test("does not touch redirects of a root route or of a bare-origin upstream", () => {
  const root = route("/", "http://localhost:9090/");
  assertEquals(rewriteLocation("/graph/", root, PUBLIC), "/graph/");
  const bare = route("/prometheus/", "http://localhost:9090", { stripPrefix: false });
  assertEquals(rewriteLocation("/prometheus/graph/", bare, PUBLIC), "/prometheus/graph/");
  assertEquals(rewriteLocation("/graph/", bare, PUBLIC), "/graph/");
});

Deno.test("leaves a Location that is not a URL at all alone", () => {
  assertEquals(rewriteLocation("http://[::1", PROM, PUBLIC), "http://[::1");
});
