/**
 * Hand-written attacks on multi-tenancy: the real promgate (TLS, htpasswd users, a
 * `routes[].tenancy` route) in front of the real Debian Prometheus holding tenants a, b and c
 * (tests/tenancy/_fixture.ts). Every attack either gets refused with the right status and a clear
 * message, or gets an answer equal to Prometheus' own answer to the query with the user's matcher
 * written in by hand, and holding no number or label of another tenant. The last step prints every
 * attack with the status observed.
 */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { gzipSync } from "node:zlib";
import { needs, run } from "../_util.ts";
import { canonical, leaks, observe, type Observed, resultOf, summary } from "./_answers.ts";
import { ANCHOR, type Owner, SPAN } from "./_fixture.ts";
import {
  PASSWORDS,
  PREFIX,
  startTenancyStack,
  type TenancyStack,
  type User,
  waitForAlerts,
} from "./_stack.ts";

/** Instant queries are evaluated here: inside the fixture, 30 minutes before its end. */
const T = ANCHOR - 1800;
const RANGE = `start=${ANCHOR - 5400}&end=${T}&step=600`;
const SERIES_RANGE = `start=${ANCHOR - SPAN}&end=${ANCHOR}`;
const enc = encodeURIComponent;
const q = (query: string) => `/api/v1/query?query=${enc(query)}&time=${T}`;
const FORM = { "content-type": "application/x-www-form-urlencoded" };

interface Request {
  method?: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

interface Attack {
  name: string;
  /** Who attacks: alice (tenant a) unless said otherwise; null sends no credentials. */
  user?: User | null;
  request: Request;
  /** Sends the request some other way than fetch (e.g. curl --path-as-is). */
  send?: (s: TenancyStack, user: User | null) => Promise<Observed>;
  /** Asserts on the answer and returns what it showed, for the summary table. */
  check: (o: Observed, s: TenancyStack) => Promise<string> | string;
}

/** The answer equals Prometheus' own answer to `twin` and holds nothing outside `allowed`. */
function sameAs(twin: Request, allowed: Owner[] = ["a"]) {
  return async (o: Observed, s: TenancyStack) => {
    const truth = await observe(
      await s.direct(twin.path, {
        method: twin.method,
        body: twin.body,
        headers: twin.body !== undefined ? FORM : undefined,
      }),
    );
    assertEquals(truth.status, 200, `ground truth ${twin.path}: ${truth.text}`);
    assertEquals(canonical(o), canonical(truth), `answer vs Prometheus' answer to ${twin.path}`);
    assertEquals(leaks(o.json, allowed), [], "values or labels of other tenants");
    return `${summary(o)} = Prometheus' answer to the hand-restricted query`;
  };
}

/** sameAs for an instant query. */
const sameAsQuery = (twin: string, allowed?: Owner[]) => sameAs({ path: q(twin) }, allowed);

/** A successful answer with no series at all. */
function empty(o: Observed): string {
  assertEquals(resultOf(o), [], "an empty result");
  return "200, empty result";
}

/** Refused with one of `statuses`, and a body matching `message`. */
function refused(statuses: number[], message?: RegExp) {
  return (o: Observed) => {
    assert(
      statuses.includes(o.status),
      `expected ${statuses.join("/")}, got ${o.status}: ${o.text}`,
    );
    if (message) assertMatch(o.text, message);
    assertEquals(leaks(o.json, ["a"]), []);
    return `refused: ${o.text.trim().split("\n")[0].slice(0, 80)}`;
  };
}

/** Every sample line of a /federate answer carries tenant="a" (and there are `min` or more). */
function federatedOnlyA(min: number) {
  return (o: Observed) => {
    assertEquals(o.status, 200, o.text);
    const samples = o.text.split("\n").filter((l) => l && !l.startsWith("#"));
    assert(samples.length >= min, `at least ${min} samples: ${o.text}`);
    for (const line of samples) assertMatch(line, /[{,]tenant="a"[,}]/, "federated sample");
    return `200, ${samples.length} samples, all tenant="a"`;
  };
}

/** A /rules or /alerts answer: every rule and alert labelled with one of `allowed`. */
function onlyLabelled(allowed: Owner[], mustHave: string[], kind: "rules" | "alerts") {
  return (o: Observed) => {
    assertEquals(o.status, 200, o.text);
    const data = (o.json as { data: Record<string, unknown> }).data;
    const names: string[] = [];
    const labelled = (labels: Record<string, string> | undefined, what: string) => {
      assert(
        labels && allowed.includes(labels.tenant as Owner),
        `${what} without an allowed tenant: ${JSON.stringify(labels)}`,
      );
    };
    if (kind === "alerts") {
      for (const a of data.alerts as { labels: Record<string, string> }[]) {
        labelled(a.labels, "alert");
        names.push(a.labels.alertname);
      }
    } else {
      type Rule = {
        name: string;
        labels?: Record<string, string>;
        alerts?: { labels: Record<string, string> }[];
      };
      for (const g of data.groups as { rules: Rule[] }[]) {
        for (const r of g.rules) {
          labelled(r.labels, `rule ${r.name}`);
          for (const a of r.alerts ?? []) labelled(a.labels, `alert of ${r.name}`);
          names.push(r.name);
        }
      }
    }
    for (const name of mustHave) assert(names.includes(name), `${name} missing from ${names}`);
    assertEquals(leaks(o.json, allowed), []);
    return `200, ${names.length} ${kind} (${[...new Set(names)].sort().join(", ")})`;
  };
}

const ATTACKS: Attack[] = [
  // Selectors that reach for everything or for another tenant.
  {
    name: "every series",
    request: { path: q(`{__name__=~".+"}`) },
    check: sameAsQuery(`{__name__=~".+",tenant="a"}`),
  },
  {
    name: "count by tenant over every series",
    request: { path: q(`count by (tenant) ({__name__=~".+"})`) },
    check: sameAsQuery(`count by (tenant) ({__name__=~".+",tenant="a"})`),
  },
  {
    name: `selector naming tenant="b"`,
    request: { path: q(`tenancy_temperature_celsius{tenant="b"}`) },
    check: empty,
  },
  {
    name: `selector with tenant=~".*"`,
    request: { path: q(`tenancy_temperature_celsius{tenant=~".*"}`) },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: `selector with tenant!="a"`,
    request: { path: q(`tenancy_temperature_celsius{tenant!="a"}`) },
    check: empty,
  },
  {
    name: `selector with tenant=~"b|c" only`,
    request: { path: q(`{tenant=~"b|c"}`) },
    check: empty,
  },
  {
    name: `series without the tenant label (tenant="")`,
    request: { path: q(`tenancy_temperature_celsius{tenant=""}`) },
    check: empty,
  },
  {
    name: "a metric only tenant b has",
    request: { path: q(`tenancy_b_only_gauge`) },
    check: empty,
  },
  {
    name: "a metric without tenant label, by __name__",
    request: { path: q(`{__name__="tenancy_shared_info"}`) },
    check: empty,
  },
  {
    name: "Prometheus' own series (up)",
    request: { path: `/api/v1/query?query=up` },
    check: empty,
  },
  // Relabelling and joins.
  {
    name: "label_replace relabels b's series as a's",
    request: {
      path: q(
        `label_replace(tenancy_temperature_celsius{tenant="b"}, "tenant", "a", "tenant", "b")`,
      ),
    },
    check: empty,
  },
  {
    name: "label_replace sets tenant=a on every series",
    request: { path: q(`label_replace(tenancy_temperature_celsius, "tenant", "a", "", "")`) },
    check: sameAsQuery(
      `label_replace(tenancy_temperature_celsius{tenant="a"}, "tenant", "a", "", "")`,
    ),
  },
  {
    name: "label_join copies another label into tenant",
    request: { path: q(`label_join(tenancy_temperature_celsius, "tenant", "", "owner")`) },
    check: sameAsQuery(
      `label_join(tenancy_temperature_celsius{tenant="a"}, "tenant", "", "owner")`,
    ),
  },
  {
    name: "or with b's series",
    request: {
      path: q(`tenancy_temperature_celsius{tenant="a"} or tenancy_temperature_celsius{tenant="b"}`),
    },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: "unless removes a's series to leave the others",
    request: {
      path: q(`tenancy_temperature_celsius unless tenancy_temperature_celsius{tenant="a"}`),
    },
    check: empty,
  },
  {
    name: "on() group_left joins b's value onto a's series",
    request: { path: q(`tenancy_queue_length + on() group_left() tenancy_b_only_gauge`) },
    check: empty,
  },
  {
    name: "on(room) group_left(owner) joins the shared series' labels",
    request: {
      path: q(
        `tenancy_temperature_celsius * on(room) group_left(owner) tenancy_temperature_celsius{room="lobby"}`,
      ),
    },
    check: empty,
  },
  {
    name: "vector() of b's scalar",
    request: { path: q(`vector(scalar(sum(tenancy_b_only_gauge)))`) },
    check: sameAsQuery(`vector(scalar(sum(tenancy_b_only_gauge{tenant="a"})))`),
  },
  {
    name: "vector(1) joined to b's series by on()",
    request: { path: q(`vector(1) + on() group_left() sum(tenancy_b_only_gauge)`) },
    check: empty,
  },
  {
    name: "scalar() of the shared series",
    request: { path: q(`scalar(tenancy_shared_info)`) },
    check: sameAsQuery(`scalar(tenancy_shared_info{tenant="a"})`),
  },
  {
    name: "count_values with tenant as the output label",
    request: { path: q(`count_values("tenant", tenancy_b_only_gauge)`) },
    check: empty,
  },
  {
    name: "absent() of b's metric",
    request: { path: q(`absent(tenancy_b_only_gauge)`) },
    check: sameAsQuery(`absent(tenancy_b_only_gauge{tenant="a"})`),
  },
  // Subqueries and modifiers.
  {
    name: "subquery over b's series",
    request: { path: q(`max_over_time(tenancy_temperature_celsius{tenant="b"}[1h:1m])`) },
    check: empty,
  },
  {
    name: "subquery of an aggregation over everything",
    request: { path: q(`max_over_time(sum by (tenant) ({__name__=~"tenancy_.+"})[1h:5m])`) },
    check: sameAsQuery(
      `max_over_time(sum by (tenant) ({__name__=~"tenancy_.+",tenant="a"})[1h:5m])`,
    ),
  },
  {
    name: "@ end() on b's metric",
    request: { path: q(`tenancy_b_only_gauge @ end()`) },
    check: empty,
  },
  {
    name: "@ end() offset on every series",
    request: { path: q(`{__name__=~"tenancy_.+"} @ end() offset 10m`) },
    check: sameAsQuery(`{__name__=~"tenancy_.+",tenant="a"} @ end() offset 10m`),
  },
  {
    name: "@ a fixed time, rate over a range",
    request: { path: q(`sum by (tenant) (rate(tenancy_requests_total[10m] @ ${ANCHOR}))`) },
    check: sameAsQuery(
      `sum by (tenant) (rate(tenancy_requests_total{tenant="a"}[10m] @ ${ANCHOR}))`,
    ),
  },
  // Lexical tricks.
  {
    name: "a comment hiding a matcher",
    request: { path: q(`tenancy_temperature_celsius # {tenant="b"}`) },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: "an escaped quote inside a matcher value",
    request: { path: q(`tenancy_temperature_celsius{room="north\\",tenant=\\"b"}`) },
    check: empty,
  },
  {
    name: "whitespace and a newline between name and matchers",
    request: { path: q(`tenancy_temperature_celsius \n {room="north"}`) },
    check: sameAsQuery(`tenancy_temperature_celsius{room="north",tenant="a"}`),
  },
  // Other query endpoints.
  {
    name: "query_range over every series",
    request: { path: `/api/v1/query_range?query=${enc(`{__name__=~".+"}`)}&${RANGE}` },
    check: sameAs({
      path: `/api/v1/query_range?query=${enc(`{__name__=~".+",tenant="a"}`)}&${RANGE}`,
    }),
  },
  {
    name: "query_exemplars over every series",
    request: { path: `/api/v1/query_exemplars?query=${enc(`{__name__=~".+"}`)}&${SERIES_RANGE}` },
    check: sameAs({
      path: `/api/v1/query_exemplars?query=${enc(`{__name__=~".+",tenant="a"}`)}&${SERIES_RANGE}`,
    }),
  },
  // How the parameters are read.
  {
    name: "POST: query in the body, another in the URL",
    request: {
      method: "POST",
      path: `/api/v1/query?query=tenancy_b_only_gauge`,
      body: `query=tenancy_temperature_celsius&time=${T}`,
      headers: FORM,
    },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: "POST: b's query in the body, a's in the URL",
    request: {
      method: "POST",
      path: `/api/v1/query?query=tenancy_temperature_celsius`,
      body: `query=tenancy_b_only_gauge&time=${T}`,
      headers: FORM,
    },
    check: empty,
  },
  {
    name: "repeated query= in the URL",
    request: {
      path: `/api/v1/query?query=tenancy_temperature_celsius&query=tenancy_b_only_gauge&time=${T}`,
    },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: "repeated query= in the body",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: `query=tenancy_b_only_gauge&query=tenancy_temperature_celsius&time=${T}`,
      headers: FORM,
    },
    check: empty,
  },
  {
    name: "+ for spaces and percent-encoded braces",
    request: {
      path:
        `/api/v1/query?query=sum+by+(tenant)+(tenancy_temperature_celsius%7Btenant%3D%22b%22%7D)&time=${T}`,
    },
    check: empty,
  },
  {
    name: "form content type with a charset",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: `query=tenancy_temperature_celsius&time=${T}`,
      headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" },
    },
    check: sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`),
  },
  {
    name: "form content type in capitals",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: `query=tenancy_temperature_celsius&time=${T}`,
      headers: { "content-type": "Application/X-WWW-Form-URLEncoded" },
    },
    check: async (o, s) => {
      if (o.status === 415) return refused([415])(o);
      return await sameAsQuery(`tenancy_temperature_celsius{tenant="a"}`)(o, s);
    },
  },
  {
    name: "percent-encoded parameter name (%71uery) in the URL",
    request: { path: `/api/v1/query?%71uery=tenancy_b_only_gauge&time=${T}` },
    check: noDataOf("b"),
  },
  {
    name: "percent-encoded parameter name in the body",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: `%71uery=tenancy_b_only_gauge&time=${T}`,
      headers: FORM,
    },
    check: noDataOf("b"),
  },
  {
    name: "chunked form body (no content-length)",
    request: { method: "POST", path: `/api/v1/query`, headers: FORM },
    send: (s, user) =>
      sendChunked(s, user!, `/api/v1/query`, [`query=tenancy_b_o`, `nly_gauge&time=${T}`]),
    check: empty,
  },
  {
    name: "gzip-encoded form body",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      headers: { ...FORM, "content-encoding": "gzip" },
    },
    send: async (s, user) =>
      await observe(
        await s.as(user)(`/api/v1/query`, {
          method: "POST",
          headers: { ...FORM, "content-encoding": "gzip" },
          body: new Uint8Array(gzipSync(`query=tenancy_b_only_gauge&time=${T}`)),
        }),
      ),
    check: noDataOf("b"),
  },
  {
    name: "; as a parameter separator (Go skips such pairs)",
    request: { path: `/api/v1/query?query=tenancy_b_only_gauge;time=1` },
    check: refused([400]),
  },
  {
    name: "a bad percent escape",
    request: { path: `/api/v1/query?query=tenancy_b_only_gauge%zz` },
    check: refused([400]),
  },
  {
    name: "non-form POST (JSON)",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: JSON.stringify({ query: "tenancy_b_only_gauge" }),
      headers: { "content-type": "application/json" },
    },
    check: refused([415]),
  },
  {
    name: "non-form POST (multipart)",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body:
        `--x\r\ncontent-disposition: form-data; name="query"\r\n\r\ntenancy_b_only_gauge\r\n--x--\r\n`,
      headers: { "content-type": "multipart/form-data; boundary=x" },
    },
    check: refused([415]),
  },
  {
    name: "oversized form body",
    request: {
      method: "POST",
      path: `/api/v1/query`,
      body: `query=tenancy_temperature_celsius&pad=${"x".repeat(1024 * 1024 + 10)}`,
      headers: FORM,
    },
    check: refused([413]),
  },
  {
    name: "unparseable PromQL",
    request: { path: q(`sum(tenancy_temperature_celsius`) },
    check: refused([400], /query/),
  },
  {
    name: "empty query",
    request: { path: `/api/v1/query?query=&time=${T}` },
    check: refused([400]),
  },
  {
    name: "PUT on the query endpoint",
    request: { method: "PUT", path: q("tenancy_b_only_gauge") },
    check: refused([403, 405]),
  },
  // match[] endpoints.
  {
    name: "series: match[] every series",
    request: { path: `/api/v1/series?match[]=${enc(`{__name__=~".+"}`)}&${SERIES_RANGE}` },
    check: sameAs({
      path: `/api/v1/series?match[]=${enc(`{__name__=~".+",tenant="a"}`)}&${SERIES_RANGE}`,
    }),
  },
  {
    name: "series: match%5B%5D (as browsers encode it) naming tenant b",
    request: { path: `/api/v1/series?match%5B%5D=${enc(`{tenant="b"}`)}&${SERIES_RANGE}` },
    check: empty,
  },
  {
    name: "series: match[] of b's metric",
    request: { path: `/api/v1/series?match[]=tenancy_b_only_gauge&${SERIES_RANGE}` },
    check: empty,
  },
  {
    name: "series: two match[], one naming tenant b",
    request: {
      path: `/api/v1/series?match[]=tenancy_temperature_celsius&match[]=${
        enc(`{tenant="b"}`)
      }&${SERIES_RANGE}`,
    },
    check: sameAs({
      path: `/api/v1/series?match[]=${
        enc(`tenancy_temperature_celsius{tenant="a"}`)
      }&${SERIES_RANGE}`,
    }),
  },
  {
    name: "series: POST match[] in body and URL",
    request: {
      method: "POST",
      path: `/api/v1/series?match[]=${enc(`{tenant="b"}`)}`,
      body: `match[]=${enc(`{__name__=~"tenancy_.+"}`)}&${SERIES_RANGE}`,
      headers: FORM,
    },
    check: sameAs({
      path: `/api/v1/series?match[]=${enc(`{__name__=~"tenancy_.+",tenant="a"}`)}&${SERIES_RANGE}`,
    }),
  },
  {
    name: "series: no match[] at all",
    request: { path: `/api/v1/series?${SERIES_RANGE}` },
    check: sameAs({ path: `/api/v1/series?match[]=${enc(`{tenant="a"}`)}&${SERIES_RANGE}` }),
  },
  {
    name: "labels: no match[]",
    request: { path: `/api/v1/labels` },
    check: sameAs({ path: `/api/v1/labels?match[]=${enc(`{tenant="a"}`)}` }),
  },
  {
    name: "labels: match[] naming tenant b",
    request: { path: `/api/v1/labels?match[]=${enc(`{tenant="b"}`)}` },
    check: empty,
  },
  {
    name: "label values: metric names",
    request: { path: `/api/v1/label/__name__/values` },
    check: sameAs({ path: `/api/v1/label/__name__/values?match[]=${enc(`{tenant="a"}`)}` }),
  },
  {
    name: "label values: tenant",
    request: { path: `/api/v1/label/tenant/values` },
    check: (o) => {
      assertEquals(resultOf(o), ["a"]);
      return `200, ["a"]`;
    },
  },
  {
    name: "label values: a label only shared series have",
    request: { path: `/api/v1/label/owner/values?match[]=${enc(`{__name__=~".+"}`)}` },
    check: empty,
  },
  {
    name: "federate without match[]",
    request: { path: `/federate` },
    check: federatedOnlyA(1),
  },
  {
    name: "federate match[] every series",
    request: { path: `/federate?match[]=${enc(`{__name__=~".+"}`)}` },
    check: federatedOnlyA(1),
  },
  {
    name: "federate match[] naming tenant b",
    request: { path: `/federate?match[]=${enc(`{tenant="b"}`)}` },
    check: federatedOnlyA(0),
  },
  // Rules and alerts.
  {
    name: "rules",
    request: { path: `/api/v1/rules` },
    check: onlyLabelled(["a"], ["TenancyAHot", "tenancy:temperature_celsius:max"], "rules"),
  },
  {
    name: "rules asked for b's alert by name",
    request: { path: `/api/v1/rules?type=alert&rule_name[]=TenancyBHot` },
    check: onlyLabelled(["a"], [], "rules"),
  },
  {
    name: "alerts",
    request: { path: `/api/v1/alerts` },
    check: onlyLabelled(["a"], ["TenancyAHot"], "alerts"),
  },
  {
    name: "alerts of a user in two groups (b and c)",
    user: "carol",
    request: { path: `/api/v1/alerts` },
    check: onlyLabelled(["b", "c"], ["TenancyBHot"], "alerts"),
  },
  // Paths that reveal other tenants or change the server.
  ...[
    "/api/v1/targets",
    "/api/v1/targets/metadata",
    "/api/v1/metadata",
    "/api/v1/status/config",
    "/api/v1/status/flags",
    "/api/v1/status/tsdb",
    "/api/v1/status/runtimeinfo",
    "/api/v1/alertmanagers",
    "/api/v1/nonexistent",
    "/api/v2/query",
    "/api/v1/status/graph",
    "/federate/query",
    "/-/graph",
    "/metrics",
    "/-/reload",
  ].map((path): Attack => ({
    name: `GET ${path}`,
    request: { path },
    check: refused([403]),
  })),
  ...[
    "/api/v1/admin/tsdb/snapshot",
    "/api/v1/admin/tsdb/delete_series?match[]=tenancy_b_only_gauge",
    "/api/v1/admin/tsdb/clean_tombstones",
    "/api/v1/write",
    "/-/quit",
  ].map((path): Attack => ({
    name: `POST ${path}`,
    request: { method: "POST", path, body: "", headers: FORM },
    check: refused([403]),
  })),
  ...[
    `/api/v1/%71uery?query=tenancy_b_only_gauge&time=${T}`,
    `/api%2Fv1%2Fquery?query=tenancy_b_only_gauge&time=${T}`,
    `/api/v1/%74argets`,
    `/api/v1/query/?query=tenancy_b_only_gauge&time=${T}`,
    `/static/..%2Fapi%2Fv1%2Ftargets`,
    `/classic/static/..%2F..%2Fapi%2Fv1%2Fstatus%2Fconfig`,
  ].map((path): Attack => ({
    name: `encoded or odd path ${path.split("?")[0]}`,
    request: { path },
    check: (o) => {
      assert(o.status !== 200 || !/activeTargets|"yaml"|tenancy_b_only/.test(o.text), o.text);
      assertEquals(leaks(o.json, ["a"]), []);
      if (o.status === 200) return `200 ${summary(o)}`;
      return `refused: ${o.status} ${o.text.trim().split("\n")[0].slice(0, 60)}`;
    },
  })),
  {
    name: "label values with the label name percent-encoded",
    request: { path: `/api/v1/label/%74enant/values` },
    check: (o) => {
      assertEquals(resultOf(o), ["a"]);
      return `200, ["a"]`;
    },
  },
  {
    name: "a doubled slash before the targets page",
    request: { path: `//api/v1/targets` },
    check: (o) => {
      assert(o.status !== 200 && !o.text.includes("activeTargets"), `${o.status}: ${o.text}`);
      return `refused: ${o.status} ${o.text.trim().split("\n")[0].slice(0, 60)}`;
    },
  },
  {
    name: "absolute-form request target for the targets page",
    request: { path: `https://127.0.0.1:PORT${PREFIX}/api/v1/targets (as the request target)` },
    send: (s, user) =>
      curlAsIs(s, user!, `/api/v1/targets`, [
        "--request-target",
        `${s.base}${PREFIX}/api/v1/targets`,
      ]),
    check: (o) => {
      assert(o.status !== 200 && !o.text.includes("activeTargets"), `${o.status}: ${o.text}`);
      return `refused: ${o.status} ${o.text.trim().split("\n")[0].slice(0, 60)}`;
    },
  },
  {
    name: "the UI's start-up endpoint (buildinfo) passes",
    request: { path: `/api/v1/status/buildinfo` },
    check: (o) => {
      assertEquals(o.status, 200, o.text);
      return `200, version ${(o.json as { data: { version: string } }).data.version}`;
    },
  },
  {
    name: "WebSocket upgrade on the query endpoint",
    request: { path: q("tenancy_b_only_gauge"), headers: { upgrade: "websocket" } },
    send: (s, user) =>
      curlAsIs(s, user!, q("tenancy_b_only_gauge"), [
        "--http1.1",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ]),
    check: refused([403]),
  },
  {
    name: "dot segments to the targets page (curl --path-as-is)",
    request: { path: `/api/v1/query/../targets` },
    send: (s, user) => curlAsIs(s, user!, `/api/v1/query/../targets`),
    check: (o) => {
      assert(o.status !== 200 && !o.text.includes("activeTargets"), `${o.status}: ${o.text}`);
      return `refused: ${o.status} ${o.text.trim().split("\n")[0].slice(0, 60)}`;
    },
  },
  // Users.
  {
    name: "a user in no tenancy entry",
    user: "nick",
    request: { path: q("tenancy_temperature_celsius") },
    check: refused([403]),
  },
  {
    name: "no credentials",
    user: null,
    request: { path: q("tenancy_temperature_celsius") },
    check: refused([401]),
  },
  {
    name: "an unrestricted user sees every tenant",
    user: "olivia",
    request: { path: q(`count by (tenant) ({__name__=~"tenancy_.+"})`) },
    check: async (o, s) => {
      const verdict = await sameAsQuery(`count by (tenant) ({__name__=~"tenancy_.+"})`, [
        "a",
        "b",
        "c",
        "",
      ])(o, s);
      assertEquals(resultOf(o).length, 4, "a, b, c and the series without tenant");
      return verdict;
    },
  },
  {
    name: "an unrestricted user reaches the targets page",
    user: "olivia",
    request: { path: `/api/v1/targets` },
    check: (o) => {
      assertEquals(o.status, 200, o.text);
      return "200";
    },
  },
  {
    name: "a user in two groups sees the union (b and c)",
    user: "carol",
    request: { path: q(`count by (tenant) ({__name__=~".+"})`) },
    check: async (o, s) => {
      const verdict = await sameAsQuery(`count by (tenant) ({__name__=~".+",tenant=~"b|c"})`, [
        "b",
        "c",
      ])(o, s);
      assertEquals(resultOf(o).length, 2);
      return verdict;
    },
  },
  {
    name: "a user of group team-b sees only b",
    user: "bob",
    request: { path: q(`{__name__=~".+"}`) },
    check: sameAsQuery(`{__name__=~".+",tenant="b"}`, ["b"]),
  },
];

/** No series of `owner` in the answer, whether refused or answered. */
function noDataOf(owner: Owner) {
  return (o: Observed) => {
    assertEquals(leaks(o.json, ["a"]), [], `values of ${owner}`);
    if (o.status === 200) {
      assertEquals(resultOf(o), [], "an empty result");
      return "200, empty result";
    }
    assert(o.status >= 400 && o.status < 500, `${o.status}: ${o.text}`);
    return `refused: ${o.text.trim().split("\n")[0].slice(0, 80)}`;
  };
}

/** POSTs a form body in separate chunks (Transfer-Encoding: chunked, no Content-Length). */
async function sendChunked(
  s: TenancyStack,
  user: User,
  path: string,
  chunks: string[],
): Promise<Observed> {
  const body = ReadableStream.from(chunks.map((c) => new TextEncoder().encode(c)));
  return await observe(
    await s.as(user)(path, { method: "POST", headers: FORM, body, duplex: "half" } as RequestInit),
  );
}

/**
 * GET through promgate with curl --path-as-is (fetch would resolve the dot segments itself) and
 * `extra` arguments.
 */
async function curlAsIs(
  s: TenancyStack,
  user: User,
  path: string,
  extra: string[] = [],
): Promise<Observed> {
  const r = await run("curl", [
    "-sS",
    "--path-as-is",
    "--cacert",
    s.certFile,
    "-u",
    `${user}:${PASSWORDS[user]}`,
    ...extra,
    "-w",
    "\n%{http_code}",
    `${s.base}${PREFIX}${path}`,
  ]);
  const cut = r.stdout.lastIndexOf("\n");
  const text = r.stdout.slice(0, cut);
  return { status: Number(r.stdout.slice(cut + 1)), contentType: "", text, json: undefined };
}

const deps = needs("prometheus", "promtool", "htpasswd", "openssl", "curl");

Deno.test("multi-tenancy attacks: refused, or only the user's own series", deps, async (t) => {
  const s = await startTenancyStack();
  const rows: string[][] = [];
  try {
    await waitForAlerts(s, ["TenancyAHot", "TenancyBHot", "TenancySharedDown"]);
    for (const attack of ATTACKS) {
      const user = attack.user === undefined ? "alice" : attack.user;
      const r = attack.request;
      const shown = `${r.method ?? "GET"} ${r.path}${
        r.body !== undefined ? ` body ${r.body}` : ""
      }`;
      const row = [
        attack.name,
        user ?? "-",
        shown.length > 110 ? shown.slice(0, 107) + "..." : shown,
      ];
      rows.push(row);
      await t.step(attack.name, async () => {
        const o = attack.send ? await attack.send(s, user) : await observe(
          await s.as(user)(r.path, { method: r.method, body: r.body, headers: r.headers }),
        );
        row.push(String(o.status));
        row.push("FAILED");
        row[4] = await attack.check(o, s);
      });
    }
  } finally {
    await s.close();
    console.log(table(["attack", "user", "request", "status", "answer"], rows));
  }
});

/** A Markdown table of the attacks and what each got. */
function table(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replaceAll("|", "\\|").replaceAll("\n", "\\n");
  return [head, head.map(() => "---"), ...rows]
    .map((r) => `| ${r.map(esc).join(" | ")} |`).join("\n");
}
