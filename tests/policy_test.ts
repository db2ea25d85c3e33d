/** Route access rules: allow lists with groups, and the Prometheus-aware read-only policy. */
import type { RouteConfig } from "../lib/config/types.ts";
import { authorize, type Groups, policyWarnings, type RoutePolicy } from "../lib/http/policy.ts";
import { assert, assertEquals } from "./_assert.ts";
import { configWith, routeConfig } from "./_config.ts";

const groups: Groups = new Map([["ops", new Set(["alice"])], ["viewers", new Set(["bob"])]]);
const open: RoutePolicy = { allow: null, readOnly: false, admins: [] };
const readOnly: RoutePolicy = { allow: null, readOnly: true, admins: ["@ops"] };

Deno.test("a route restricted to users and groups refuses everyone else with a reason", () => {
  const policy: RoutePolicy = { ...open, allow: ["carol", "@viewers"] };
  assertEquals(authorize(policy, groups, "carol", "GET", "/graph"), null);
  assertEquals(authorize(policy, groups, "bob", "GET", "/graph"), null);
  assertEquals(
    authorize(policy, groups, "alice", "GET", "/graph"),
    'user "alice" is not allowed on this route',
  );
  assertEquals(
    authorize(policy, groups, null, "GET", "/graph"),
    "user (anonymous) is not allowed on this route",
  );
  assertEquals(
    authorize({ ...open, allow: ["@nosuchgroup"] }, groups, "bob", "GET", "/"),
    'user "bob" is not allowed on this route',
  );
});

Deno.test("a read-only route lets queries through, GET and POST alike", () => {
  for (
    const [method, path] of [
      ["GET", "/api/v1/query"],
      ["POST", "/api/v1/query"],
      ["POST", "/api/v1/query_range"],
      ["POST", "/api/v1/series"],
      ["POST", "/api/v1/read"],
      ["GET", "/graph"],
      ["GET", "/-/healthy"],
      ["GET", "/api/v1/writer"],
      ["GET", "/api/v1/administrators"],
    ]
  ) {
    assertEquals(authorize(readOnly, groups, "bob", method, path), null, `${method} ${path}`);
  }
});

Deno.test("a read-only route refuses admin API, quit, reload, remote write and PUT/DELETE", () => {
  for (
    const [method, path] of [
      ["POST", "/api/v1/admin/tsdb/delete_series"],
      ["PUT", "/api/v1/admin/tsdb/snapshot"],
      ["POST", "/api/v1/admin"],
      ["POST", "/-/quit"],
      ["PUT", "/-/quit"],
      ["POST", "/-/reload"],
      ["POST", "/api/v1/write"],
      ["POST", "/api/v1/otlp/v1/metrics"],
      ["DELETE", "/api/v2/silence/123"],
      ["put", "/metrics/job/x"],
    ]
  ) {
    const denial = authorize(readOnly, groups, "bob", method, path);
    assertEquals(typeof denial, "string", `${method} ${path} passed`);
    assertEquals(authorize(readOnly, groups, null, method, path) !== null, true);
    // The route's admins (here the ops group) may.
    assertEquals(authorize(readOnly, groups, "alice", method, path), null, `${method} ${path}`);
  }
});

Deno.test("a read-only route finds write endpoints under any prefix the upstream serves them at", () => {
  for (
    const [method, path] of [
      ["POST", "/prometheus/api/v1/admin/tsdb/snapshot"],
      ["POST", "/prometheus/-/reload"],
      ["POST", "/prometheus/-/quit"],
      ["PUT", "/x/-/quit/"],
      ["POST", "/a/b/api/v1/write"],
      ["POST", "/eu/api/v1/otlp/v1/metrics"],
      ["GET", "/prometheus/-/quit"],
    ]
  ) {
    const denial = authorize(readOnly, groups, "bob", method, path);
    assertEquals(typeof denial, "string", `${method} ${path} passed`);
    assertEquals(authorize(readOnly, groups, "alice", method, path), null, `${method} ${path}`);
  }
});

Deno.test("a read-only route lets queries POST under any prefix, and nothing else POST", () => {
  for (
    const path of [
      "/prometheus/api/v1/query",
      "/prometheus/api/v1/query_range",
      "/x/api/v1/labels",
      "/api/v1/query_exemplars",
      "/api/v1/format_query",
      "/api/v1/parse_query",
    ]
  ) {
    assertEquals(authorize(readOnly, groups, "bob", "POST", path), null, path);
  }
  for (
    const [method, path] of [
      ["POST", "/api/v2/silences"], // Alertmanager: create or update a silence
      ["POST", "/alertmanager/api/v2/alerts"], // Alertmanager: inject alerts
      ["DELETE", "/api/v2/silence/0b1f"],
      ["POST", "/metrics/job/batch"], // Pushgateway: push
      ["PUT", "/pushgateway/metrics/job/batch/instance/a"],
      ["POST", "/metrics/job/x/a/api/v1/query"], // a push whose labels end like a query
      ["POST", "/metrics/job@base64/eA==/a/api/v1/query"],
      ["GET", "/pushgateway/metrics/job/x"],
      ["POST", "/api/v1/query/x"],
      ["POST", "/api/v1/querying"],
      ["PROPFIND", "/"],
    ]
  ) {
    const denial = authorize(readOnly, groups, "bob", method, path);
    assertEquals(typeof denial, "string", `${method} ${path} passed`);
    assertEquals(authorize(readOnly, groups, "alice", method, path), null, `${method} ${path}`);
  }
  // Reads of the same endpoints pass.
  for (const path of ["/api/v2/silences", "/api/v2/alerts/groups", "/metrics", "/api/v1/status"]) {
    assertEquals(authorize(readOnly, groups, "bob", "GET", path), null, path);
    assertEquals(authorize(readOnly, groups, "bob", "HEAD", path), null, path);
  }
});

/** policyWarnings for `routes` (sorted as loadConfig sorts them). */
function warnings(...routes: RouteConfig[]): string[] {
  return policyWarnings(configWith(routes).routes);
}

const ro = (admins: string[] = []): Partial<RouteConfig> => ({
  policy: { allow: null, readOnly: true, admins },
});

Deno.test("the README example config is sound", () => {
  assertEquals(
    warnings(
      routeConfig("/prometheus/", "http://127.0.0.1:9090/", ro(["@ops"])),
      routeConfig("/prometheus/api/v1/write", "http://127.0.0.1:9090/api/v1/write", {
        policy: { allow: ["@scrapers"], readOnly: false, admins: [] },
      }),
      routeConfig("/alertmanager/", "http://127.0.0.1:9093/", {
        policy: { allow: ["@ops"], readOnly: false, admins: [] },
      }),
      routeConfig("/grafana/", "http://127.0.0.1:3000", { stripPrefix: false }),
      routeConfig("/healthz", "http://127.0.0.1:9090/-/healthy", { auth: false }),
    ),
    [],
  );
});

Deno.test("a second route to a read-only upstream without readOnly is reported", () => {
  const found = warnings(
    routeConfig("/prometheus/", "http://localhost:9090/", ro(["@ops"])),
    routeConfig("/raw/", "http://127.0.0.1:9090/"),
  );
  assertEquals(found, [
    'routes "/prometheus/" and "/raw/" reach the same upstream (http://localhost:9090), so ' +
    '"readOnly" of "/prometheus/" can be bypassed through "/raw/". On "/raw/", give it ' +
    '"readOnly": true, or an "allow" within the "admins" of "/prometheus/"; or point it at a ' +
    "different upstream.",
  ]);
  // The same route with readOnly and no extra admins is fine; with an extra admin it is not.
  assertEquals(
    warnings(
      routeConfig("/prometheus/", "http://localhost:9090/", ro(["@ops"])),
      routeConfig("/raw/", "http://localhost:9090/", ro(["@ops"])),
    ),
    [],
  );
  const admins = warnings(
    routeConfig("/prometheus/", "http://localhost:9090/", ro(["@ops"])),
    routeConfig("/raw/", "http://localhost:9090/", ro(["@ops", "bob"])),
  );
  assertEquals(admins.length, 1);
  assert(admins[0].includes('"admins" of "/prometheus/"'), admins[0]);
});

Deno.test("the route shapes of issue 12 are reported when another route reaches their upstream", () => {
  // A bare-origin route for /api/v1/ next to /prom/ -> the root: /prom/api/v1/admin/... gets
  // there. Next to a catch-all "/" it is sound: every /api/v1/... client path is its own.
  const bare = warnings(
    routeConfig("/api/v1/", "http://prom:9090", { stripPrefix: false, ...ro() }),
    routeConfig("/prom/", "http://prom:9090/"),
  );
  assertEquals(bare.length, 1, bare.join("\n"));
  assert(bare[0].startsWith('routes "/api/v1/" and "/prom/"'), bare[0]);
  assertEquals(
    warnings(
      routeConfig("/api/v1/", "http://prom:9090", { stripPrefix: false, ...ro() }),
      routeConfig("/", "http://prom:9090/"),
    ),
    [],
  );
  // /promapi/ -> /api/ read-only, and /q/ -> /api/v1/query unrestricted: nothing to write there.
  assertEquals(
    warnings(
      routeConfig("/promapi/", "http://prom:9090/api/", ro()),
      routeConfig("/q/", "http://prom:9090/api/v1/query"),
    ),
    [],
  );
  // ... but /v1/ -> /api/v1/ unrestricted reaches the admin API.
  assertEquals(
    warnings(
      routeConfig("/promapi/", "http://prom:9090/api/", ro()),
      routeConfig("/v1/", "http://prom:9090/api/v1/"),
    ).length,
    1,
  );
  // Another upstream (port, host or scheme) is not compared.
  assertEquals(
    warnings(
      routeConfig("/prometheus/", "http://prom:9090/", ro()),
      routeConfig("/b/", "http://prom:9091/"),
      routeConfig("/c/", "http://other:9090/"),
      routeConfig("/d/", "https://prom:9090/"),
    ),
    [],
  );
});

Deno.test("a public route and an allow-restricted one to the same upstream are reported", () => {
  const allow = { policy: { allow: ["@ops"], readOnly: false, admins: [] } };
  const publicRoute = warnings(
    routeConfig("/alertmanager/", "http://127.0.0.1:9093/", allow),
    routeConfig("/am-status", "http://127.0.0.1:9093/api/v2/status", { auth: false }),
  );
  assertEquals(publicRoute.length, 1, publicRoute.join("\n"));
  assert(
    publicRoute[0].includes('authentication and "allow" of "/alertmanager/"') ||
      publicRoute[0].includes('authentication of "/alertmanager/"'),
    publicRoute[0],
  );
  assert(publicRoute[0].includes('remove "auth": false'), publicRoute[0]);
  const everyone = warnings(
    routeConfig("/alertmanager/", "http://127.0.0.1:9093/", allow),
    routeConfig("/am/", "http://127.0.0.1:9093/"),
  );
  assertEquals(everyone.length, 1, everyone.join("\n"));
  assert(everyone[0].includes('"allow" of "/alertmanager/"'), everyone[0]);
  // A narrower allow list, or only the health endpoint, is fine.
  assertEquals(
    warnings(
      routeConfig("/alertmanager/", "http://127.0.0.1:9093/", allow),
      routeConfig("/am/", "http://127.0.0.1:9093/", {
        policy: { allow: ["@ops"], readOnly: false, admins: [] },
      }),
      routeConfig("/am-ready", "http://127.0.0.1:9093/-/ready", { auth: false }),
    ),
    [],
  );
});

Deno.test("a longer route that shadows the way into a restricted upstream path is not reported", () => {
  // "/" would reach /api/v1/write as /api/v1/write, but that client path belongs to the longer route.
  assertEquals(
    warnings(
      routeConfig("/api/v1/write", "http://p:9090/api/v1/write", {
        policy: { allow: ["@scrapers"], readOnly: false, admins: [] },
      }),
      routeConfig("/", "http://p:9090/", ro()),
    ),
    [],
  );
});

Deno.test("admins on a public read-only route are reported: nobody can be recognised there", () => {
  const found = warnings(
    routeConfig("/public/", "http://p:9090/", { auth: false, ...ro(["@ops"]) }),
  );
  assertEquals(found, [
    'route "/public/": "admins" never apply on a public route ("auth": false): nobody logs in ' +
    'there, so everyone is read-only. Remove "admins", or remove "auth": false so that admins ' +
    "can log in.",
  ]);
});

Deno.test("a public read-only route next to an authenticated one is reported only for the login", () => {
  const found = warnings(
    routeConfig("/public/", "http://p:9090/", { auth: false, ...ro() }),
    routeConfig("/prometheus/", "http://p:9090/", ro(["@ops"])),
  );
  // Anonymous clients can read through /public/ what /prometheus/ keeps behind a login, but
  // /prometheus/'s admins are no way around /public/'s readOnly: anonymous clients never get in.
  assertEquals(found.length, 1, found.join("\n"));
  assert(found[0].includes('authentication of "/prometheus/"'), found[0]);
});

Deno.test("a read-only view next to a writable route for a few is sound unless its admins differ", () => {
  const opsOnly = { policy: { allow: ["@ops"], readOnly: false, admins: [] } };
  // Everyone reads through /prometheus/, @ops does everything through /prometheus-admin/.
  assertEquals(
    warnings(
      routeConfig("/prometheus-admin/", "http://p:9090/", opsOnly),
      routeConfig("/prometheus/", "http://p:9090/", ro(["@ops"])),
    ),
    [],
  );
  const found = warnings(
    routeConfig("/prometheus-admin/", "http://p:9090/", opsOnly),
    routeConfig("/prometheus/", "http://p:9090/", ro(["bob"])),
  );
  // Both ways: bob writes through /prometheus/ only, @ops through /prometheus-admin/ only.
  assertEquals(found.length, 2, found.join("\n"));
  assertEquals(found.slice(0, 1), [
    'routes "/prometheus-admin/" and "/prometheus/" reach the same upstream (http://p:9090), so ' +
    '"admins" of "/prometheus-admin/" can be bypassed through "/prometheus/". On "/prometheus/", ' +
    'list as "admins" only users who may write through "/prometheus-admin/"; or point it at a ' +
    "different upstream.",
  ]);
});
