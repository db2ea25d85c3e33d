/** Route access rules: allow lists with groups, and the Prometheus-aware read-only policy. */
import { authorize, type Groups, type RoutePolicy } from "../lib/policy.ts";
import { assertEquals } from "./_assert.ts";

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
