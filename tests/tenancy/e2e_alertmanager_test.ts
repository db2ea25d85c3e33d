/**
 * Multi-tenancy on Alertmanager (`"tenancy": { "api": "alertmanager" }`): the real Debian
 * Alertmanager holding alerts and silences of tenants a, b and c (posted to it directly), behind
 * the real promgate over TLS. Through promgate a restricted user sees and silences only their own
 * alerts; what the upstream stored is checked on the upstream itself.
 */
import { assert, assertEquals } from "../_assert.ts";
import { type Service, startAlertmanager } from "../_stack.ts";
import { freePort, needs, tempDir } from "../_util.ts";
import { GROUPS, startTenancyGate, type TenancyGate } from "./_stack.ts";

const PREFIX = "/alertmanager";
const TENANCY = {
  api: "alertmanager",
  label: "tenant",
  values: { alice: ["a"], "@team-b": ["b"], "@team-c": ["c"] },
  unrestricted: ["@ops"],
};

interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}
interface Silence {
  id: string;
  matchers: Matcher[];
  status: { state: string };
  comment: string;
}

const eq = (name: string, value: string, isEqual = true): Matcher => ({
  name,
  value,
  isRegex: false,
  isEqual,
});
const re = (name: string, value: string): Matcher => ({ name, value, isRegex: true });

/** A silence body for an hour from now; `comment` tells silences apart in the answers. */
function silenceBody(comment: string, matchers: Matcher[], id?: string): string {
  const now = Date.now();
  return JSON.stringify({
    ...(id ? { id } : {}),
    matchers,
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + 3600_000).toISOString(),
    createdBy: "test",
    comment,
  });
}

const JSON_POST = (body: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body,
});

/** The alert names in a list of alerts, sorted. */
const names = (alerts: { labels: { alertname: string } }[]) =>
  alerts.map((a) => a.labels.alertname).sort();

interface AmStack {
  gate: TenancyGate;
  am: Service;
  /** fetch from Alertmanager itself. */
  direct(path: string, init?: RequestInit): Promise<Response>;
  /** Silence ids by comment, of the silences made directly. */
  ids: Record<string, string>;
}

async function withStack(fn: (s: AmStack) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const port = freePort();
  let am: Service | undefined;
  let gate: TenancyGate | undefined;
  try {
    am = await startAlertmanager(dir, `https://127.0.0.1:${port}${PREFIX}`);
    const url = am.url;
    const direct = (path: string, init?: RequestInit) => fetch(`${url}${path}`, init);
    const ids = await seed(direct);
    gate = await startTenancyGate(dir, port, [
      { path: `${PREFIX}/`, upstream: `${url}/`, tenancy: TENANCY },
    ]);
    await fn({ gate, am, direct, ids });
  } finally {
    try {
      await gate?.close();
    } finally {
      await am?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
}

/** Alerts of a, b, c and one without a tenant; silences of a and b and ones that are nobody's. */
async function seed(direct: AmStack["direct"]): Promise<Record<string, string>> {
  const alerts = [["A1", "a"], ["A2", "a"], ["B1", "b"], ["C1", "c"], ["N1", null]].map((
    [name, tenant],
  ) => ({ labels: { alertname: name, ...(tenant ? { tenant } : {}) } }));
  const posted = await direct("/api/v2/alerts", JSON_POST(JSON.stringify(alerts)));
  assertEquals(posted.status, 200, await posted.text());
  const silences: [string, Matcher[]][] = [
    ["a's", [eq("alertname", "A1"), eq("tenant", "a")]],
    ["b's", [eq("alertname", "B1"), eq("tenant", "b")]],
    ["all but a", [eq("tenant", "a", false)]],
    ["regex a", [re("tenant", "a"), eq("alertname", "C1")]],
    ["no tenant", [eq("alertname", "N1")]],
  ];
  const ids: Record<string, string> = {};
  for (const [comment, matchers] of silences) {
    const r = await direct("/api/v2/silences", JSON_POST(silenceBody(comment, matchers)));
    assertEquals(r.status, 200, comment);
    ids[comment] = (await r.json()).silenceID;
  }
  return ids;
}

/** The silence `id` as Alertmanager stores it. */
async function stored(s: AmStack, id: string): Promise<Silence> {
  const r = await s.direct(`/api/v2/silence/${id}`);
  assertEquals(r.status, 200);
  return await r.json();
}

Deno.test({
  name: "a tenant sees and silences only their own alerts on Alertmanager",
  ...needs("prometheus-alertmanager"),
  fn: () =>
    withStack(async (s) => {
      const alice = s.gate.as("alice", PREFIX);
      // Alert lists: only a's, whatever filters the user adds.
      let r = await alice("/api/v2/alerts");
      assertEquals(r.status, 200);
      assertEquals(names(await r.json()), ["A1", "A2"]);
      r = await alice('/api/v2/alerts?filter=alertname%3D~".%2B"&filter=alertname!%3D"A2"');
      assertEquals(names(await r.json()), ["A1"]);
      r = await alice('/api/v2/alerts?filter=tenant%3D~"b|c|a"&silenced=false');
      assertEquals(names(await r.json()), ["A2"]); // A1 is silenced by a's silence
      r = await alice('/api/v2/alerts?filter=tenant%3D"b"');
      assertEquals(await r.json(), []);
      r = await alice("/api/v2/alerts/groups");
      assertEquals(r.status, 200);
      const groups: { alerts: { labels: { alertname: string } }[] }[] = await r.json();
      assertEquals(names(groups.flatMap((g) => g.alerts)), ["A1", "A2"]);

      // Silences: only the one pinning tenant="a" (not "all but a", not the regex one).
      r = await alice("/api/v2/silences");
      assertEquals(r.status, 200);
      assertEquals((await r.json()).map((x: Silence) => x.comment), ["a's"]);
      assertEquals((await alice(`/api/v2/silence/${s.ids["a's"]}`)).status, 200);
      for (const other of ["b's", "all but a", "regex a", "no tenant"]) {
        r = await alice(`/api/v2/silence/${s.ids[other]}`);
        assertEquals(r.status, 403, other);
        await r.body?.cancel();
      }

      // A new silence without the label gets it, as stored upstream.
      r = await alice("/api/v2/silences", JSON_POST(silenceBody("new", [eq("alertname", "A2")])));
      assertEquals(r.status, 200, await r.clone().text());
      const made = await stored(s, (await r.json()).silenceID);
      assertEquals(made.matchers.map((m) => [m.name, m.value, m.isRegex, m.isEqual]), [
        ["alertname", "A2", false, true],
        ["tenant", "a", false, true],
      ]);

      // Silences naming another tenant, or a regex that could, are refused; nothing is stored.
      const before = (await (await s.direct("/api/v2/silences")).json()).length;
      for (
        const matchers of [
          [eq("alertname", "B1"), eq("tenant", "b")],
          [eq("alertname", "B1"), re("tenant", "a|b")],
          [eq("alertname", "B1"), eq("tenant", "a", false)],
        ]
      ) {
        r = await alice("/api/v2/silences", JSON_POST(silenceBody("attack", matchers)));
        assertEquals(r.status, 403, JSON.stringify(matchers));
        await r.body?.cancel();
      }
      // Updating b's silence (even into one of a's) is refused: it is b's.
      r = await alice(
        "/api/v2/silences",
        JSON_POST(silenceBody("take over", [eq("alertname", "B1")], s.ids["b's"])),
      );
      assertEquals(r.status, 403);
      await r.body?.cancel();
      assertEquals((await (await s.direct("/api/v2/silences")).json()).length, before);

      // Deleting b's silence is refused and it stays active; a's own can be deleted.
      r = await alice(`/api/v2/silence/${s.ids["b's"]}`, { method: "DELETE" });
      assertEquals(r.status, 403);
      await r.body?.cancel();
      assertEquals((await stored(s, s.ids["b's"])).status.state, "active");
      r = await alice(`/api/v2/silence/${made.id}`, { method: "DELETE" });
      assertEquals(r.status, 200);
      await r.body?.cancel();
      assertEquals((await stored(s, made.id)).status.state, "expired");

      // Posted alerts get a's value; one naming b is refused.
      r = await alice("/api/v2/alerts", JSON_POST('[{"labels":{"alertname":"A3"}}]'));
      assertEquals(r.status, 200);
      await r.body?.cancel();
      r = await alice("/api/v2/alerts", JSON_POST('[{"labels":{"alertname":"B9","tenant":"b"}}]'));
      assertEquals(r.status, 403);
      await r.body?.cancel();
      const all: { labels: Record<string, string> }[] = await (await s.direct("/api/v2/alerts"))
        .json();
      assertEquals(all.find((a) => a.labels.alertname === "A3")?.labels.tenant, "a");
      assert(!all.some((a) => a.labels.alertname === "B9"), "b's alert was posted");

      // What reveals the configuration or other tenants is denied.
      for (const path of ["/api/v2/status", "/api/v2/receivers", "/api/v1/alerts", "/metrics"]) {
        r = await alice(path);
        assertEquals(r.status, 403, path);
        await r.body?.cancel();
      }
      r = await alice("/-/ready");
      assertEquals(r.status, 200);
      await r.body?.cancel();
    }),
});

Deno.test({
  name: "on Alertmanager a user of several tenants, an unrestricted one and an unknown one",
  ...needs("prometheus-alertmanager"),
  fn: () =>
    withStack(async (s) => {
      assert(GROUPS["team-c"].includes("carol"));
      const carol = s.gate.as("carol", PREFIX);
      let r = await carol("/api/v2/alerts");
      assertEquals(names(await r.json()), ["B1", "C1"]);
      r = await carol("/api/v2/silences");
      assertEquals((await r.json()).map((x: Silence) => x.comment), ["b's"]);
      // Which of b and c a new silence is for is carol's to say.
      r = await carol("/api/v2/silences", JSON_POST(silenceBody("x", [eq("alertname", "C1")])));
      assertEquals(r.status, 400);
      await r.body?.cancel();
      r = await carol(
        "/api/v2/silences",
        JSON_POST(silenceBody("c's", [eq("alertname", "C1"), eq("tenant", "c")])),
      );
      assertEquals(r.status, 200);
      await r.body?.cancel();

      const olivia = s.gate.as("olivia", PREFIX);
      r = await olivia("/api/v2/alerts");
      assertEquals(names(await r.json()), ["A1", "A2", "B1", "C1", "N1"]);
      r = await olivia("/api/v2/silences");
      assertEquals((await r.json()).length, 6);
      r = await olivia("/api/v2/status");
      assertEquals(r.status, 200);
      await r.body?.cancel();

      r = await s.gate.as("nick", PREFIX)("/api/v2/alerts");
      assertEquals(r.status, 403);
      await r.body?.cancel();
    }),
});
