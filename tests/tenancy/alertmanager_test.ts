/**
 * Tenancy on an Alertmanager upstream (`"api": "alertmanager"`, lib/http/tenancy/alertmanager*.ts):
 * which paths a restricted user reaches, how alerts and silences answers are filtered, how posted
 * alerts and silences are checked, and that a silence is changed only after the upstream says it
 * is the user's. The real Alertmanager is in e2e_alertmanager_test.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadConfig, type TenancyConfig } from "../../lib/config/mod.ts";
import { InputError } from "../../lib/errors.ts";
import {
  applyTenancy,
  type AskUpstream,
  checkPostedAlerts,
  checkPostedSilence,
  classifyAlertmanager,
  filterAlertGroups,
  filterAlertList,
  filterSilences,
  isTenantsSilence,
  PostRefused,
  type TenancyForward,
  type TenancyOutcome,
  tenantMatcher,
} from "../../lib/http/tenancy/mod.ts";

const A = tenantMatcher("tenant", ["a"]);
const AB = tenantMatcher("tenant", ["a", "b"]);
const ID = "0b6cbd4c-3e7e-4d8c-9a4e-3a4f1c2d5e6f";

const TENANCY: TenancyConfig = {
  label: "tenant",
  header: null,
  values: [["alice", ["a"]], ["carol", ["b", "c"]]],
  unrestricted: ["root"],
  maxBodyBytes: 1024,
  api: "alertmanager",
};

const alert = (tenant?: string, name = "X") => ({
  labels: tenant === undefined ? { alertname: name } : { alertname: name, tenant },
  status: { state: "active" },
});
const matcher = (value: string, isRegex = false, isEqual = true, name = "tenant") => ({
  name,
  value,
  isRegex,
  isEqual,
});
const silence = (...matchers: unknown[]) => ({ id: ID, matchers, status: { state: "active" } });

Deno.test("alerts, groups and silences of /api/v2 are recognised under any route prefix", () => {
  const cases: [string, string, string][] = [
    ["GET", "/api/v2/alerts", "alerts"],
    ["POST", "/api/v2/alerts", "postAlerts"],
    ["GET", "/am/api/v2/alerts/groups", "groups"],
    ["GET", "/api/v2/silences", "silences"],
    ["POST", "/x/y/api/v2/silences", "postSilence"],
    ["GET", `/api/v2/silence/${ID}`, "silence"],
    ["DELETE", `/am/api/v2/silence/${ID}`, "deleteSilence"],
    ["GET", "/", "pass"],
    ["GET", "/am/", "pass"],
    ["GET", "/-/ready", "pass"],
    ["HEAD", "/am/-/healthy", "pass"],
    ["GET", "/script.js", "pass"],
    ["GET", "/favicon.ico", "pass"],
    ["GET", "/lib/font-awesome-4.7.0/css/font-awesome.css", "pass"],
  ];
  for (const [method, path, kind] of cases) {
    assert.equal(classifyAlertmanager(method, path).kind, kind, `${method} ${path}`);
  }
});

Deno.test("what reveals other tenants or changes Alertmanager is denied on Alertmanager", () => {
  const denied: [string, string][] = [
    ["GET", "/api/v2/status"], // the whole configuration
    ["GET", "/api/v2/receivers"],
    ["GET", "/api/v1/alerts"],
    ["GET", "/api/v1/silences"],
    ["GET", "/metrics"],
    ["POST", "/-/reload"],
    ["GET", "/debug/pprof/"],
    ["HEAD", "/api/v2/alerts"], // its Content-Length would tell the unfiltered size
    ["PUT", "/api/v2/silences"],
    ["DELETE", "/api/v2/silences"],
    ["POST", `/api/v2/silence/${ID}`],
    ["DELETE", "/api/v2/silence/not-a-uuid"],
    ["GET", "/api/v2/silence/"],
    ["GET", "/api/v1/api/v2/alerts"], // an API segment before the ending: not a route prefix
    ["GET", "/metrics/api/v2/silences"],
    ["GET", "/api/v2/lib/x.css"],
    ["GET", "/lib/fonts"],
    ["GET", "/api/v1/query"], // Prometheus' endpoints are not Alertmanager's
    ["GET", "/graph"],
  ];
  for (const [method, path] of denied) {
    assert.equal(classifyAlertmanager(method, path).kind, "deny", `${method} ${path}`);
  }
});

Deno.test("alert lists and groups keep only alerts carrying one of the user's values", () => {
  const list = [alert("a", "A"), alert("b", "B"), alert(undefined, "N"), alert("ab"), "junk"];
  assert.deepEqual(filterAlertList(list, A), [alert("a", "A")]);
  assert.deepEqual(filterAlertList(list, AB), [alert("a", "A"), alert("b", "B")]);
  const groups = [
    { labels: { alertname: "A" }, receiver: { name: "r" }, alerts: [alert("a"), alert("c")] },
    { labels: { alertname: "B" }, receiver: { name: "r" }, alerts: [alert("b")] },
  ];
  assert.deepEqual(filterAlertGroups(groups, A), [{ ...groups[0], alerts: [alert("a")] }]);
  assert.throws(() => filterAlertList({ alerts: [] }, A), /not a JSON list/);
  assert.throws(() => filterAlertGroups([{ labels: {} }], A), /no "alerts" list/);
});

Deno.test("a silence is the user's only when every matcher on the label pins one of its values", () => {
  assert.ok(isTenantsSilence(silence(matcher("a"), matcher("X", false, true, "alertname")), A));
  assert.ok(isTenantsSilence(silence(matcher("b")), AB));
  const others = [
    silence(matcher("b")),
    silence(matcher("a", false, false)), // tenant!="a": everyone else's alerts
    silence(matcher("a", true)), // tenant=~"a": a regex, Alertmanager's filter lists it too
    silence(matcher("a"), matcher("b")),
    silence(matcher("X", false, true, "alertname")), // no tenant at all: every tenant's
    { id: ID },
  ];
  for (const s of others) assert.ok(!isTenantsSilence(s, A), JSON.stringify(s));
  assert.deepEqual(filterSilences([silence(matcher("a")), ...others], A), [silence(matcher("a"))]);
});

Deno.test("posted alerts get the user's only value, or are refused naming another", () => {
  const at = { startsAt: "2026-01-01T00:00:00Z", generatorURL: "http://p/graph" };
  const posted = checkPostedAlerts([
    { ...at, labels: { alertname: "X" } },
    { ...at, labels: { alertname: "Y", tenant: "a" }, annotations: { summary: "s" } },
  ], A);
  assert.deepEqual(posted, [
    { ...at, labels: { alertname: "X", tenant: "a" } },
    { ...at, labels: { alertname: "Y", tenant: "a" }, annotations: { summary: "s" } },
  ]);
  const refusal = (body: unknown, t = A) => {
    try {
      checkPostedAlerts(body, t);
    } catch (error) {
      assert.ok(error instanceof PostRefused);
      return error.status;
    }
    assert.fail("accepted");
  };
  assert.equal(refusal([{ labels: { tenant: "b" } }]), 403);
  assert.equal(refusal([{ labels: { tenant: 1 } }]), 403);
  assert.equal(refusal([{ labels: { alertname: "X" } }], AB), 400); // which of a, b?
  assert.equal(refusal([{ Labels: { tenant: "b" }, labels: { tenant: "a" } }]), 400);
  assert.equal(refusal({ labels: {} }), 400);
});

Deno.test("a posted silence gets the tenant matcher, or is refused when it could reach others", () => {
  const base = { startsAt: "2026-01-01T00:00:00Z", endsAt: "2030-01-01T00:00:00Z", comment: "c" };
  const x = matcher("X", false, true, "alertname");
  const added = checkPostedSilence({ ...base, createdBy: "alice", matchers: [x] }, A);
  assert.equal(added.id, "");
  assert.deepEqual(added.silence.matchers, [x, matcher("a")]);
  const kept = checkPostedSilence({ ...base, id: ID, matchers: [x, matcher("b")] }, AB);
  assert.equal(kept.id, ID);
  assert.deepEqual(kept.silence.matchers, [x, matcher("b")]);
  const status = (body: Record<string, unknown>, t = A) => {
    try {
      checkPostedSilence(body, t);
    } catch (error) {
      assert.ok(error instanceof PostRefused);
      return error.status;
    }
    assert.fail("accepted");
  };
  assert.equal(status({ ...base, matchers: [x, matcher("b")] }), 403);
  assert.equal(status({ ...base, matchers: [x, matcher("a", true)] }), 403);
  assert.equal(status({ ...base, matchers: [x, matcher(".*", true)] }), 403);
  assert.equal(status({ ...base, matchers: [x, matcher("a", false, false)] }), 403);
  assert.equal(status({ ...base, matchers: [matcher("a"), matcher("b")] }), 403);
  assert.equal(status({ ...base, matchers: [x] }, AB), 400); // which of a, b?
  // Go reads "Matchers" as "matchers": an unknown spelling is refused, not passed on.
  assert.equal(status({ ...base, matchers: [x], Matchers: [matcher("b")] }), 400);
  assert.equal(status({ ...base, matchers: [{ ...x, Name: "tenant" }] }), 400);
  assert.equal(status({ ...base, id: 7, matchers: [x] }), 400);
  assert.equal(status({ ...base }), 400);
});

interface Call {
  user?: string;
  method?: string;
  path: string;
  search?: string;
  body?: string;
  ask?: AskUpstream;
}

function run(c: Call): Promise<TenancyOutcome> {
  const method = c.method ?? "GET";
  const request = new Request(`http://promgate/am${c.path}${c.search ?? ""}`, {
    method,
    headers: c.body === undefined ? [] : [["content-type", "application/json"]],
    body: c.body,
  });
  return applyTenancy({
    tenancy: TENANCY,
    groups: new Map(),
    user: c.user ?? "alice",
    request,
    upstreamPath: c.path,
    search: c.search ?? "",
    headerEntries: [...request.headers],
    ask: c.ask,
  });
}

async function forwarded(c: Call): Promise<TenancyForward> {
  const out = await run(c);
  assert.ok(out.ok, `refused: ${!out.ok && out.status} ${!out.ok && out.reason}`);
  return out;
}

async function refused(c: Call, status: number): Promise<void> {
  const out = await run(c);
  assert.ok(!out.ok, "forwarded, but should be refused");
  assert.equal(out.status, status, out.reason);
}

/** An upstream holding one silence, recording the paths asked. */
function upstreamWith(stored: unknown, status = 200): { ask: AskUpstream; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ask: (path) => {
      asked.push(path);
      return Promise.resolve(new Response(JSON.stringify(stored), { status }));
    },
  };
}

Deno.test("reading alerts adds the tenant filter after the user's own and filters the answer", async () => {
  const out = await forwarded({ path: "/api/v2/alerts", search: "?filter=alertname%3D%22X%22" });
  assert.equal(out.search, "?filter=alertname%3D%22X%22&filter=tenant%3D%22a%22");
  const carol = await forwarded({ user: "carol", path: "/api/v2/alerts/groups" });
  assert.equal(carol.search, "?filter=tenant%3D~%22b%7Cc%22");
  const answer = new Response(JSON.stringify([alert("a"), alert("b")]), { status: 200 });
  const filtered = await out.filter!(answer);
  assert.deepEqual(await filtered.response.json(), [alert("a")]);
  await refused({ path: "/api/v2/alerts", search: "?filter=a;b" }, 400);
});

Deno.test("one silence is shown only when it is the user's", async () => {
  const out = await forwarded({ path: `/api/v2/silence/${ID}` });
  const mine = await out.filter!(Response.json(silence(matcher("a"))));
  assert.equal(mine.response.status, 200);
  const theirs = await out.filter!(Response.json(silence(matcher("b"))));
  assert.equal(theirs.response.status, 403);
});

Deno.test("deleting or updating a silence asks the upstream whose it is first", async () => {
  const mine = upstreamWith(silence(matcher("a")));
  const del = await forwarded({ method: "DELETE", path: `/api/v2/silence/${ID}`, ask: mine.ask });
  assert.equal(del.request.method, "DELETE");
  assert.deepEqual(mine.asked, [`/api/v2/silence/${ID}`]);
  const theirs = upstreamWith(silence(matcher("b")));
  await refused({ method: "DELETE", path: `/api/v2/silence/${ID}`, ask: theirs.ask }, 403);
  const gone = upstreamWith("silence not found", 404);
  await refused({ method: "DELETE", path: `/api/v2/silence/${ID}`, ask: gone.ask }, 404);
  const broken = upstreamWith("oops", 500);
  await refused({ method: "DELETE", path: `/api/v2/silence/${ID}`, ask: broken.ask }, 502);
  await refused({ method: "DELETE", path: `/api/v2/silence/${ID}` }, 502); // cannot ask
  const update = JSON.stringify({ id: ID, matchers: [matcher("X", false, true, "alertname")] });
  await refused(
    { method: "POST", path: "/am/api/v2/silences", body: update, ask: theirs.ask },
    403,
  );
  assert.deepEqual(theirs.asked.at(-1), `/am/api/v2/silence/${ID}`);
  const ok = await forwarded({
    method: "POST",
    path: "/api/v2/silences",
    body: update,
    ask: mine.ask,
  });
  const sent = JSON.parse(await ok.request.text());
  assert.deepEqual(sent.matchers.at(-1), matcher("a"));
  assert.deepEqual(ok.headerEntries, [
    ["content-type", "application/json"],
    ["content-length", String(JSON.stringify(sent).length)],
  ]);
});

Deno.test("posted bodies that are not JSON, or too large, are refused", async () => {
  await refused({ method: "POST", path: "/api/v2/silences", body: "{" }, 400);
  await refused(
    { method: "POST", path: "/api/v2/alerts", body: "[" + " ".repeat(2000) + "]" },
    413,
  );
});

Deno.test("an unrestricted user reaches every Alertmanager path unchanged", async () => {
  const out = await forwarded({ user: "root", path: "/api/v2/status" });
  assert.equal(out.search, "");
  assert.equal(out.filter, null);
  await refused({ user: "nobody", path: "/api/v2/alerts" }, 403);
});

/** Loads a config of one route with `tenancy` (a temporary file; the fixtures' htpasswd file). */
async function loadTenancy(tenancy: Record<string, unknown>) {
  const htpasswdFile = fileURLToPath(new URL("../testdata/config/admin.htpasswd", import.meta.url));
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        auth: { htpasswdFile },
        routes: [{ path: "/am/", upstream: "http://127.0.0.1:9093/", tenancy }],
      }),
    );
    return (await loadConfig(file)).routes[0].tenancy;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tenancy api is prometheus unless the config says alertmanager", async () => {
  const values = { alice: ["a"] };
  assert.equal((await loadTenancy({ label: "tenant", values }))?.api, "prometheus");
  const am = await loadTenancy({ label: "tenant", values, api: "alertmanager" });
  assert.equal(am?.api, "alertmanager");
});

Deno.test("a wrong tenancy api, or alertmanager without a label, stops start-up", async () => {
  const values = { alice: ["a"] };
  const message = async (tenancy: Record<string, unknown>) => {
    try {
      await loadTenancy(tenancy);
    } catch (error) {
      assert.ok(error instanceof InputError, String(error));
      return error.message;
    }
    assert.fail("loaded");
  };
  const typo = await message({ label: "tenant", values, api: "alertmanger" });
  assert.match(typo, /routes\[0\]\.tenancy\.api/);
  const noLabel = await message({ header: "X-Scope-OrgID", values, api: "alertmanager" });
  assert.match(noLabel, /routes\[0\]\.tenancy\.api: is "alertmanager".*Add "label": "tenant"/);
});
