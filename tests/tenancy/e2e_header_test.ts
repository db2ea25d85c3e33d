/**
 * Tenant headers (`routes[].tenancy.header`, as Mimir, Cortex, Thanos and Loki read
 * `X-Scope-OrgID`): the real promgate over TLS in front of a real upstream that echoes what it
 * received (tests/_upstream.ts). The header carries the user's values joined by "|", whatever the
 * client sent in any spelling, and together with `label` the query is rewritten as well.
 */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { startTestUpstream } from "../_upstream.ts";
import { freePort, needs, run, tempDir } from "../_util.ts";
import { PASSWORDS, startTenancyGate, type TenancyGate, type User } from "./_stack.ts";

const VALUES = { alice: ["a"], "@team-b": ["b"], "@team-c": ["c"] };
const HEADER_ONLY = { header: "X-Scope-OrgID", values: VALUES, unrestricted: ["@ops"] };
const BOTH = { label: "tenant", header: "X-Scope-OrgID", values: VALUES, unrestricted: ["@ops"] };

interface Echo {
  path: string;
  search: string;
  headers: Record<string, string>;
}

/** Header names the upstream received that a CGI/WSGI app would read as X-Scope-OrgID. */
function orgIdHeaders(echo: Echo): Record<string, string> {
  return Object.fromEntries(
    Object.entries(echo.headers).filter(([name]) =>
      name.toUpperCase().replaceAll(/[-_.]/g, "_") === "X_SCOPE_ORGID"
    ),
  );
}

async function withGate(fn: (g: TenancyGate) => Promise<void>) {
  const dir = await tempDir();
  const upstream = startTestUpstream();
  let gate: TenancyGate | undefined;
  try {
    gate = await startTenancyGate(dir, freePort(), [
      { path: "/mimir/", upstream: `${upstream.url}/echo/`, tenancy: HEADER_ONLY },
      { path: "/both/", upstream: `${upstream.url}/echo/`, tenancy: BOTH },
    ]);
    await fn(gate);
  } finally {
    await gate?.close();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function echoed(
  g: TenancyGate,
  user: User,
  prefix: string,
  path: string,
  init?: RequestInit,
) {
  const r = await g.as(user, prefix)(path, init);
  assertEquals(r.status, 200, `${user} ${prefix}${path}`);
  return await r.json() as Echo;
}

/** curl through promgate as `user` with raw header lines (two of the same name stay two). */
async function curlEcho(g: TenancyGate, user: User, path: string, headers: string[]) {
  const r = await run("curl", [
    "-sS",
    "--cacert",
    g.certFile,
    "-u",
    `${user}:${PASSWORDS[user]}`,
    ...headers.flatMap((h) => ["-H", h]),
    `${g.base}${path}`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Echo;
}

const deps = needs("htpasswd", "openssl", "curl");

Deno.test("the tenant header carries the user's values, joined by |", deps, async () => {
  await withGate(async (g) => {
    assertEquals(orgIdHeaders(await echoed(g, "alice", "/mimir", "/api/v1/query?query=up")), {
      "x-scope-orgid": "a",
    });
    // bob is in team-b; carol in team-b and team-c: the union, in the config's order.
    assertEquals(orgIdHeaders(await echoed(g, "bob", "/mimir", "/loki/api/v1/query_range")), {
      "x-scope-orgid": "b",
    });
    assertEquals(orgIdHeaders(await echoed(g, "carol", "/mimir", "/prometheus/api/v1/labels")), {
      "x-scope-orgid": "b|c",
    });
    // In header mode alone nothing else is touched: the query goes as sent.
    const plain = await echoed(g, "alice", "/mimir", "/api/v1/query?query=up");
    assertEquals(new URLSearchParams(plain.search).getAll("query"), ["up"]);
    // An unrestricted user gets no header; a user in no entry gets nothing through.
    assertEquals(orgIdHeaders(await echoed(g, "olivia", "/mimir", "/api/v1/query?query=up")), {});
    const nick = await g.as("nick", "/mimir")("/api/v1/query?query=up");
    assertEquals(nick.status, 403, await nick.text());
  });
});

Deno.test(
  "a client's own tenant header, in any spelling, never reaches the upstream",
  deps,
  async () => {
    await withGate(async (g) => {
      const spoofs = [
        ["X-Scope-OrgID: b"],
        ["x-scope-orgid: b|c"],
        ["X_Scope_OrgID: b"],
        ["X.Scope.OrgID: c"],
        ["X-SCOPE-ORGID: b", "x-scope-orgid: c"],
        ["X-Scope-OrgID: b", "X_Scope_OrgID: c", "x_scope_orgid: b|c"],
      ];
      for (const headers of spoofs) {
        const alice = await curlEcho(g, "alice", "/mimir/api/v1/query?query=up", headers);
        assertEquals(orgIdHeaders(alice), { "x-scope-orgid": "a" }, `alice with ${headers}`);
        const carol = await curlEcho(g, "carol", "/both/api/v1/query?query=up", headers);
        assertEquals(orgIdHeaders(carol), { "x-scope-orgid": "b|c" }, `carol with ${headers}`);
        // The unrestricted user's spoofed header is removed too, and none is added.
        const olivia = await curlEcho(g, "olivia", "/mimir/api/v1/query?query=up", headers);
        assertEquals(orgIdHeaders(olivia), {}, `olivia with ${headers}`);
      }
      // Headers that only look alike pass untouched.
      const other = await curlEcho(g, "alice", "/mimir/x", [
        "X-Scope-OrgID-Extra: z",
        "X-Scope: y",
      ]);
      assertEquals(other.headers["x-scope-orgid-extra"], "z");
      assertEquals(other.headers["x-scope"], "y");
    });
  },
);

Deno.test(
  "label and header together: the query is rewritten and the header set",
  deps,
  async () => {
    await withGate(async (g) => {
      const query = `sum by (tenant) (rate(http_requests_total{tenant="b"}[5m]))`;
      const alice = await echoed(
        g,
        "alice",
        "/both",
        `/api/v1/query?query=${encodeURIComponent(query)}`,
      );
      assertEquals(orgIdHeaders(alice), { "x-scope-orgid": "a" });
      const [sent] = new URLSearchParams(alice.search).getAll("query");
      assertMatch(sent, /http_requests_total\{[^}]*tenant="a"/, "alice's matcher in the query");
      assertMatch(sent, /tenant="b"/, "her own matcher kept (ANDed: it only narrows)");

      const carol = await echoed(g, "carol", "/both", `/api/v1/series?match[]=up`);
      assertEquals(orgIdHeaders(carol), { "x-scope-orgid": "b|c" });
      assertEquals(new URLSearchParams(carol.search).getAll("match[]").length, 1);
      assertMatch(new URLSearchParams(carol.search).get("match[]")!, /^up\{tenant=~"b\|c"\}$/);

      // With a label, the endpoint allow-list applies: an unknown API path is refused.
      const denied = await g.as("alice", "/both")("/api/v1/targets");
      assertEquals(denied.status, 403, await denied.text());
      // Header mode alone has no allow-list: that path passes, with the header.
      const passed = await echoed(g, "alice", "/mimir", "/api/v1/targets");
      assertEquals(orgIdHeaders(passed), { "x-scope-orgid": "a" });
      assert(passed.path.endsWith("/api/v1/targets"), passed.path);
    });
  },
);
