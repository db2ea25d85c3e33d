/**
 * How a request on a tenancy route is made into what the upstream receives
 * (lib/http/tenancy/request.ts): parameters read as Go reads them and every occurrence
 * rewritten, bodies bounded, endpoints classified, the tenant header set and spoofing removed.
 */
import assert from "node:assert/strict";
import type { TenancyConfig } from "../../lib/config/mod.ts";
import {
  applyTenancy,
  classify,
  FormError,
  parsePairs,
  type TenancyForward,
  type TenancyOutcome,
} from "../../lib/http/tenancy/mod.ts";

const TENANCY: TenancyConfig = {
  label: "tenant",
  header: "x-scope-orgid",
  values: [["alice", ["a"]], ["@team-b", ["b", "c"]], ["carol", ["a", "c"]]],
  unrestricted: ["@ops"],
  maxBodyBytes: 1024,
};
const GROUPS = new Map([["team-b", new Set(["bob", "carol"])], ["ops", new Set(["root"])]]);

interface Call {
  user?: string | null;
  method?: string;
  path?: string;
  search?: string;
  headers?: [string, string][];
  body?: string;
  tenancy?: TenancyConfig;
}

function run(c: Call): Promise<TenancyOutcome> {
  const headers = c.headers ?? [];
  const method = c.method ?? "GET";
  const request = new Request(`http://promgate${c.path ?? "/api/v1/query"}${c.search ?? ""}`, {
    method,
    headers,
    body: c.body,
  });
  return applyTenancy({
    tenancy: c.tenancy ?? TENANCY,
    groups: GROUPS,
    user: c.user === undefined ? "alice" : c.user,
    request,
    upstreamPath: c.path ?? "/api/v1/query",
    search: c.search ?? "",
    headerEntries: [...request.headers],
  });
}

async function forwarded(c: Call): Promise<TenancyForward> {
  const out = await run(c);
  assert.ok(out.ok, `refused: ${!out.ok && out.status} ${!out.ok && out.reason}`);
  return out;
}

async function refused(c: Call, status: number): Promise<string> {
  const out = await run(c);
  assert.ok(!out.ok, "forwarded, but should be refused");
  assert.equal(out.status, status, out.reason);
  return out.text;
}

/** The decoded values of `name` in a query string or body. */
const valuesOf = (text: string, name: string) =>
  parsePairs(text.replace(/^\?/, ""), "x").filter((p) => p.name === name).map((p) => p.value);

Deno.test("a GET query is rewritten in the URL; other parameters stay byte for byte", async () => {
  const out = await forwarded({ search: "?query=up&time=1%2E5&x=a+b" });
  assert.equal(out.search, "?query=up%7Btenant%3D%22a%22%7D&time=1%2E5&x=a+b");
  assert.deepEqual(valuesOf(out.search, "query"), ['up{tenant="a"}']);
});

Deno.test("'+' and percent-escapes are read as Go reads them", async () => {
  const out = await forwarded({ search: "?query=sum+by+(job)+(%7B__name__%3D~%22.%2B%22%7D)" });
  assert.deepEqual(valuesOf(out.search, "query"), [
    'sum by (job) ({__name__=~".+",tenant="a"})',
  ]);
});

Deno.test("a percent-encoded parameter name is still recognised", async () => {
  const out = await forwarded({ search: "?quer%79=up" });
  assert.deepEqual(valuesOf(out.search, "query"), ['up{tenant="a"}']);
});

Deno.test("repeated query= are all rewritten", async () => {
  const out = await forwarded({ search: "?query=up&query=%7Btenant%3D%22b%22%7D" });
  assert.deepEqual(valuesOf(out.search, "query"), ['up{tenant="a"}', '{tenant="b",tenant="a"}']);
});

Deno.test("POST: the body's query and the URL's are both rewritten, with a new Content-Length", async () => {
  const body = "query=" + encodeURIComponent('{tenant="b"}') + "&time=1";
  const out = await forwarded({
    method: "POST",
    search: "?query=other_metric",
    headers: [["content-type", "application/x-www-form-urlencoded"], ["content-length", "99"]],
    body,
  });
  const sent = await out.request.text();
  assert.deepEqual(valuesOf(sent, "query"), ['{tenant="b",tenant="a"}']);
  assert.ok(sent.endsWith("&time=1"));
  assert.deepEqual(valuesOf(out.search, "query"), ['other_metric{tenant="a"}']);
  const length = out.headerEntries.filter(([n]) => n === "content-length");
  assert.deepEqual(length, [["content-length", String(new TextEncoder().encode(sent).length)]]);
  assert.equal(out.request.method, "POST");
});

Deno.test("POST with a charset parameter is a form too", async () => {
  const out = await forwarded({
    method: "POST",
    headers: [["content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"]],
    body: "query=up",
  });
  assert.deepEqual(valuesOf(await out.request.text(), "query"), ['up{tenant="a"}']);
});

Deno.test("POST bodies that are not a form are refused with 415", async () => {
  const multipart = "--x\r\nContent-Disposition: form-data; name=query\r\n\r\nup\r\n--x--\r\n";
  for (
    const type of ["multipart/form-data; boundary=x", "application/json", "text/plain", "x y"]
  ) {
    await refused(
      { method: "POST", headers: [["content-type", type]], body: multipart },
      415,
    );
  }
  await refused({ method: "POST", body: "query=up", headers: [["content-type", ""]] }, 415);
});

Deno.test("a POST with an empty body and no Content-Type reads the URL only", async () => {
  const out = await forwarded({ method: "POST", search: "?query=up" });
  assert.deepEqual(valuesOf(out.search, "query"), ['up{tenant="a"}']);
  assert.equal(await out.request.text(), "");
});

Deno.test("a body over maxBodyBytes gets 413, by its Content-Length or by what arrives", async () => {
  const big = "query=" + "x".repeat(2000);
  const form = ["content-type", "application/x-www-form-urlencoded"] as [string, string];
  await refused({ method: "POST", headers: [form], body: big }, 413);
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode("x".repeat(400)));
      c.close();
    },
  });
  const request = new Request("http://promgate/api/v1/query", {
    method: "POST",
    headers: [form],
    body: stream,
    // @ts-ignore: duplex is needed for a stream body but missing from lib.dom's types.
    duplex: "half",
  });
  const out = await applyTenancy({
    tenancy: TENANCY,
    groups: GROUPS,
    user: "alice",
    request,
    upstreamPath: "/api/v1/query",
    search: "",
    headerEntries: [...request.headers],
  });
  assert.ok(!out.ok && out.status === 413);
});

Deno.test("parameters Go would skip or misread are refused with 400", async () => {
  for (const search of ["?query=up;x=1", "?query=%zz", "?query=%E0%A4", "?a=%"]) {
    const text = await refused({ search }, 400);
    assert.match(text, /^400 Bad Request: the URL has/);
  }
  assert.throws(() => parsePairs("a;b=c", "URL"), FormError);
});

Deno.test("an unparseable query is refused with the parser's message, never forwarded", async () => {
  const text = await refused({ search: "?query=sum(up" }, 400);
  assert.match(text, /query in the URL: unexpected end of input at line 1, column 7/);
  await refused({ search: "?query=" }, 400);
});

Deno.test("series/labels/label values/federate: every match[] narrowed, one added if none", async () => {
  for (
    const path of ["/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values", "/federate"]
  ) {
    const none = await forwarded({ path, search: "?start=1" });
    assert.equal(none.search, "?start=1&match%5B%5D=%7Btenant%3D%22a%22%7D", path);
    const two = await forwarded({ path, search: "?match[]=up&match%5B%5D=%7Bjob%3D%22x%22%7D" });
    assert.deepEqual(valuesOf(two.search, "match[]"), ['up{tenant="a"}', '{job="x",tenant="a"}']);
  }
  const empty = await forwarded({ path: "/api/v1/labels" });
  assert.equal(empty.search, "?match%5B%5D=%7Btenant%3D%22a%22%7D");
});

Deno.test("a match[] in the POST body counts: no second one is added to the URL", async () => {
  const out = await forwarded({
    method: "POST",
    path: "/api/v1/series",
    headers: [["content-type", "application/x-www-form-urlencoded"]],
    body: "match[]=up",
  });
  assert.equal(out.search, "");
  assert.deepEqual(valuesOf(await out.request.text(), "match[]"), ['up{tenant="a"}']);
});

Deno.test("several values: the union of the user's entries in config order, as one regex", async () => {
  const out = await forwarded({ user: "carol", search: "?query=up" });
  assert.deepEqual(valuesOf(out.search, "query"), ['up{tenant=~"b|c|a"}']);
  assert.ok(out.headerEntries.some(([n, v]) => n === "x-scope-orgid" && v === "b|c|a"));
});

Deno.test("the tenant header replaces every client spelling of it", async () => {
  const out = await forwarded({
    user: "bob",
    search: "?query=up",
    headers: [["X-Scope-OrgID", "evil"], ["x_scope_orgid", "evil"], ["X-Scope_OrgId", "evil"]],
  });
  const sent = out.headerEntries.filter(([n]) => n.replace(/_/g, "-") === "x-scope-orgid");
  assert.deepEqual(sent, [["x-scope-orgid", "b|c"]]);
});

Deno.test("unrestricted users pass unchanged, minus a client-sent tenant header", async () => {
  const out = await forwarded({
    user: "root",
    path: "/api/v1/targets",
    search: "?query=up",
    headers: [["x-scope-orgid", "b"], ["accept", "*/*"]],
  });
  assert.equal(out.search, "?query=up");
  assert.deepEqual(out.headerEntries, [["accept", "*/*"]]);
  assert.equal(out.filter, null);
});

Deno.test("a user neither restricted nor unrestricted gets 403", async () => {
  await refused({ user: "mallory", search: "?query=up" }, 403);
  await refused({ user: null, search: "?query=up" }, 403);
});

Deno.test("header mode without a label: any path, the header set, nothing rewritten", async () => {
  const headerOnly = { ...TENANCY, label: null };
  const out = await forwarded({ tenancy: headerOnly, path: "/api/v1/targets", search: "?q=1" });
  assert.equal(out.search, "?q=1");
  assert.ok(out.headerEntries.some(([n, v]) => n === "x-scope-orgid" && v === "a"));
});

Deno.test("rules and alerts are asked for without compression and filtered", async () => {
  const out = await forwarded({
    path: "/api/v1/rules",
    headers: [["accept-encoding", "gzip, br"]],
  });
  assert.ok(out.filter !== null);
  assert.equal(out.request.headers.get("accept-encoding"), null);
  assert.ok(!out.headerEntries.some(([n]) => n === "accept-encoding"));
});

Deno.test("endpoints under Prometheus' own route prefix are recognised by their ending", () => {
  assert.equal(classify("GET", "/prometheus/api/v1/query").kind, "query");
  assert.equal(classify("POST", "/x/y/api/v1/query_range").kind, "query");
  assert.equal(classify("GET", "/p/api/v1/label/__name__/values").kind, "match");
  assert.equal(classify("GET", "/p/federate").kind, "match");
  assert.equal(classify("GET", "/p/api/v1/alerts").kind, "alerts");
});

Deno.test("HEAD on a filtered answer is denied: its Content-Length would be the unfiltered size", () => {
  assert.equal(classify("HEAD", "/p/api/v1/rules").kind, "deny");
  assert.equal(classify("HEAD", "/p/api/v1/alerts").kind, "deny");
  assert.equal(classify("HEAD", "/p/api/v1/query").kind, "query");
});

Deno.test("what could reveal other tenants is denied; unknown paths too", () => {
  const denied = [
    "/api/v1/targets",
    "/api/v1/metadata",
    "/api/v1/targets/metadata",
    "/api/v1/status/tsdb",
    "/api/v1/status/config",
    "/api/v1/status/flags",
    "/api/v1/admin/tsdb/delete_series",
    "/api/v1/write",
    "/api/v1/read",
    "/api/v1/query_exemplar",
    "/api/v1/label/job",
    "/classic/alerts",
    "/classic/rules",
    "/classic/targets",
    "/consoles/index.html",
    "/metrics",
    "/static/api/v1/targets",
    "/static/classic/targets",
    "/assets/api/x.js",
    "/debug/pprof/heap",
    "/anything",
  ];
  for (const path of denied) assert.equal(classify("GET", path).kind, "deny", path);
  assert.equal(classify("DELETE", "/api/v1/query").kind, "deny");
  assert.equal(classify("POST", "/api/v1/rules").kind, "deny");
  assert.equal(classify("POST", "/federate").kind, "deny");
});

Deno.test("an allow-listed ending under an API path is an unknown API path: denied", () => {
  const denied = [
    // UI page endings under another API (a newer Prometheus, Thanos, Mimir could serve these).
    "/api/v2/query",
    "/api/v1/x/graph",
    "/api/v1/graph/",
    "/prometheus/api/v1/classic/graph",
    "/federate/graph",
    "/-/query",
    "/debug/graph",
    "/consoles/query",
    // Endpoint endings nested in another path: Pushgateway pushes to /metrics/job/<job>/<labels>.
    "/metrics/job/x/a/api/v1/query",
    "/metrics/job/x/api/v1/label/tenant/values",
    "/api/v1/api/v1/series",
    "/api/v2/federate",
    "/api/v1/-/healthy",
    "/federate/api/v1/status/buildinfo",
  ];
  for (const path of denied) {
    for (const method of ["GET", "POST"]) {
      assert.equal(classify(method, path).kind, "deny", `${method} ${path}`);
    }
  }
});

Deno.test("allow-listed endings under Prometheus' own route prefix still pass", () => {
  const open: [string, string][] = [
    ["/prometheus/graph", "pass"],
    ["/prometheus/query", "pass"],
    ["/prometheus/classic/graph", "pass"],
    ["/p/q/-/healthy", "pass"],
    ["/prometheus/api/v1/status/buildinfo", "pass"],
    ["/prometheus/static/js/main.js", "pass"],
    ["/prometheus/api/v1/query", "query"],
    ["/api/v1/query", "query"],
    ["/metrics-prom/api/v1/series", "match"],
    ["/prometheus/api/v1/label/job/values", "match"],
  ];
  for (const [path, kind] of open) assert.equal(classify("GET", path).kind, kind, path);
});

Deno.test("what the Prometheus UI needs to start passes", () => {
  const open = [
    "/",
    "/graph",
    "/graph/",
    "/classic/graph",
    "/query",
    "/classic/static/js/graph/index.js",
    "/classic/static/vendor/fuzzy/fuzzy.js",
    "/static/js/main.abc.js",
    "/assets/index-x.css",
    "/favicon.ico",
    "/manifest.json",
    "/api/v1/status/buildinfo",
    "/api/v1/format_query",
    "/-/healthy",
    "/-/ready",
  ];
  for (const path of open) assert.equal(classify("GET", path).kind, "pass", path);
});

Deno.test("a restricted WebSocket upgrade is refused", async () => {
  await refused({
    path: "/graph",
    headers: [["upgrade", "websocket"], ["connection", "Upgrade"]],
  }, 403);
});
