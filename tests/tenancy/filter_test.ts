/**
 * Filtering /api/v1/rules and /api/v1/alerts answers to a tenant (lib/http/tenancy/filter.ts,
 * response.ts): only the tenant's alerts and labelled rules are left, empty groups go, compressed
 * and oversized answers are handled, and what cannot be filtered becomes a 502.
 */
import assert from "node:assert/strict";
import {
  filterAlerts,
  filterAnswer,
  FilterError,
  filterRules,
  tenantMatcher,
} from "../../lib/http/tenancy/mod.ts";

const alert = (tenant: string | null, name = "HighLoad") => ({
  labels: { alertname: name, ...(tenant === null ? {} : { tenant }) },
  annotations: {},
  state: "firing",
  value: "1e+00",
});

const ALERTS = () => ({
  status: "success",
  data: { alerts: [alert("a"), alert("b"), alert(null), alert("c"), alert("a", "Other")] },
});

const rule = (type: string, tenant: string | null, name: string) => ({
  name,
  type,
  query: "up == 0",
  labels: tenant === null ? {} : { tenant },
  health: "ok",
  ...(type === "alerting" ? { alerts: [alert(tenant)], state: "firing" } : {}),
});

const RULES = () => ({
  status: "success",
  data: {
    groups: [
      {
        name: "g1",
        file: "r.yml",
        rules: [
          rule("alerting", "a", "A1"),
          rule("alerting", "b", "B1"),
          rule("recording", "a", "a:r"),
        ],
        interval: 15,
      },
      {
        name: "g2",
        file: "r.yml",
        rules: [rule("recording", "b", "b:r"), rule("alerting", null, "X")],
      },
    ],
  },
});

Deno.test("alerts: only those whose labels carry the tenant's values", () => {
  const out = filterAlerts(ALERTS(), "tenant", ["a"]) as ReturnType<typeof ALERTS>;
  assert.deepEqual(out.data.alerts.map((a) => [a.labels.alertname, a.labels.tenant]), [
    ["HighLoad", "a"],
    ["Other", "a"],
  ]);
  const two = filterAlerts(ALERTS(), "tenant", ["b", "c"]) as ReturnType<typeof ALERTS>;
  assert.deepEqual(two.data.alerts.map((a) => a.labels.tenant), ["b", "c"]);
});

Deno.test("rules: alerting and recording rules by their labels; empty groups dropped", () => {
  const out = filterRules(RULES(), "tenant", ["a"]) as ReturnType<typeof RULES>;
  assert.deepEqual(out.data.groups.map((g) => [g.name, g.rules.map((r) => r.name)]), [
    ["g1", ["A1", "a:r"]],
  ]);
  assert.equal((out.data.groups[0] as { interval?: number }).interval, 15);
  const none = filterRules(RULES(), "tenant", ["z"]) as ReturnType<typeof RULES>;
  assert.deepEqual(none.data.groups, []);
});

Deno.test("an error answer passes; an answer of another shape is refused", () => {
  const error = { status: "error", errorType: "bad_data", error: "x" };
  assert.deepEqual(filterAlerts(structuredClone(error), "tenant", ["a"]), error);
  for (const bad of [[], "x", { status: "success" }, { status: "success", data: { groups: 1 } }]) {
    assert.throws(() => filterRules(bad, "tenant", ["a"]), FilterError);
  }
  assert.throws(() => filterAlerts({ status: "success", data: {} }, "tenant", ["a"]), FilterError);
});

const A = tenantMatcher("tenant", ["a"]);

function answer(body: BodyInit | null, headers: HeadersInit = {}, status = 200): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

Deno.test("filterAnswer sends identity JSON with a matching Content-Length", async () => {
  const out = await filterAnswer(
    answer(JSON.stringify(ALERTS()), { "content-length": "9999" }),
    "alerts",
    A,
  );
  const text = await out.response.text();
  assert.equal(out.response.headers.get("content-length"), String(text.length));
  assert.equal(out.bytes, text.length);
  assert.equal(JSON.parse(text).data.alerts.length, 2);
});

Deno.test("filterAnswer decodes a gzip or deflate answer the upstream sent anyway", async () => {
  for (const format of ["gzip", "deflate"] as const) {
    const packed = new Blob([JSON.stringify(RULES())]).stream()
      .pipeThrough(new CompressionStream(format));
    const out = await filterAnswer(answer(packed, { "content-encoding": format }), "rules", A);
    assert.equal(out.response.headers.get("content-encoding"), null);
    const groups = (await out.response.json()).data.groups;
    assert.deepEqual(groups.map((g: { name: string }) => g.name), ["g1"], format);
  }
});

Deno.test("filterAnswer refuses with 502 what it cannot read or filter", async () => {
  const cases: [Response, RegExp][] = [
    [answer("x", { "content-encoding": "br" }), /content-encoding "br"/],
    [answer("{not json"), /could not be filtered/],
    [answer(JSON.stringify({ status: "success", data: {} })), /could not be filtered/],
    [answer(JSON.stringify(ALERTS()) + " ".repeat(2000)), /over 1024 bytes/],
  ];
  for (const [response, reason] of cases) {
    const out = await filterAnswer(response, "alerts", A, 1024);
    assert.equal(out.response.status, 502);
    assert.match(out.error ?? "", reason);
    await out.response.body?.cancel();
  }
});

Deno.test("filterAnswer passes errors and bodiless answers as they are", async () => {
  const error = answer('{"status":"error"}', {}, 422);
  assert.equal((await filterAnswer(error, "rules", A)).response, error);
  const head = answer(null);
  assert.equal((await filterAnswer(head, "rules", A)).response, head);
  await error.body?.cancel();
});
