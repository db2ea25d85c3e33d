/**
 * JWT bearer tokens (lib/auth/jwt.ts) in-process: the auth.jwt config keys and their messages,
 * which credentials go to the JWT check, the check against a real OpenID provider's keys
 * (oidc-provider, tests/_oidc_provider.ts) found by discovery, by jwksUrl and from a jwksFile,
 * and the request pipeline: groups from the token for allow and tenancy, API tokens beside JWTs,
 * and the throttle. The real process and the rejection table: tests/jwt_e2e_test.ts.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { configWith, routeConfig } from "./_config.ts";
import { startIdp } from "./_oidc_provider.ts";
import { fromFileUrl } from "./_path.ts";
import { startUpstream } from "./_util.ts";
import { Authenticator } from "../lib/auth/basic.ts";
import { parseHtpasswd } from "../lib/auth/htpasswd.ts";
import { looksLikeJwt } from "../lib/auth/bearer.ts";
import { JwtAuthenticator } from "../lib/auth/jwt.ts";
import { createVerifier } from "../lib/auth/password/verifier.ts";
import { Throttle } from "../lib/auth/throttle.ts";
import { parseTokens, TokenAuthenticator, tokenLine } from "../lib/auth/tokens.ts";
import { parseConfig } from "../lib/config/load.ts";
import type { JwtConfig } from "../lib/config/types.ts";
import { createHandler, type HandlerState } from "../lib/http/handler.ts";
import { groupsFor } from "../lib/http/policy.ts";
import { denoRuntime } from "../lib/runtime/deno/adapter.ts";
import { LocalStore } from "../lib/state/mod.ts";
import { DEFAULTS } from "../lib/defaults.ts";

const DIR = fromFileUrl(new URL("./testdata/jwt/", import.meta.url));

/** parseConfig on a config with `jwt` as auth.jwt (and `extra` merged in), as a file in DIR. */
function parseWithJwt(jwt: unknown, extra: Record<string, unknown> = {}) {
  const config = {
    auth: { htpasswdFile: "htpasswd", jwt },
    routes: [{ path: "/", upstream: "http://127.0.0.1:9090/" }],
    ...extra,
  };
  return parseConfig(JSON.stringify(config), `${DIR}inline.json`);
}

const MACHINES = {
  "ops-bot": { groups: ["ops", "team-a", "not-in-config"] },
  "plain-bot": { groups: [] },
};

/** auth.jwt as loadConfig resolves it, for the provider at `issuer`. */
function jwtSettings(issuer: string, overrides: Partial<JwtConfig> = {}): JwtConfig {
  return {
    issuer,
    audience: ["promgate"],
    userClaim: "preferred_username",
    groupsClaim: "groups",
    keys: { kind: "discovery" },
    algorithms: [...DEFAULTS.jwt.algorithms],
    leewaySeconds: 30,
    keysRefreshSeconds: 1,
    ...overrides,
  };
}

Deno.test("auth.jwt: defaults, the audience as a list, and keys by discovery", async () => {
  const config = await parseWithJwt({ issuer: "https://idp.example.com", audience: "promgate" });
  const jwt = config.auth!.jwt!;
  assertEquals(jwt.audience, ["promgate"]);
  assertEquals(jwt.userClaim, "sub");
  assertEquals(jwt.groupsClaim, null);
  assertEquals(jwt.keys, { kind: "discovery" });
  assertEquals(jwt.leewaySeconds, 30);
  assertEquals(jwt.algorithms.includes("RS256") && jwt.algorithms.includes("EdDSA"), true);
  assertEquals(jwt.algorithms.some((a) => a.startsWith("HS") || a === "none"), false);
  const local = await parseWithJwt({ issuer: "http://127.0.0.1:8080/x", audience: ["a", "b"] });
  assertEquals(local.auth!.jwt!.audience, ["a", "b"]);
  const withUrl = await parseWithJwt({
    issuer: "https://idp.example.com",
    audience: "promgate",
    jwksUrl: "https://idp.example.com/certs",
  });
  assertEquals(withUrl.auth!.jwt!.keys, { kind: "url", url: "https://idp.example.com/certs" });
});

Deno.test("auth.jwt: unsafe or wrong settings are refused with the path and a fix", async () => {
  const cases: [unknown, RegExp][] = [
    [
      { issuer: "http://idp.example.com", audience: "promgate" },
      /auth\.jwt\.issuer: .*not https.*127\.0\.0\.1 and localhost/s,
    ],
    [
      { issuer: "https://idp.example.com", audience: "p", algorithms: ["HS256"] },
      /auth\.jwt\.algorithms\[0\]|auth\.jwt\.algorithms\.0/,
    ],
    [{ issuer: "https://idp.example.com", audience: "p", algorithms: ["none"] }, /algorithms/],
    [{ issuer: "https://idp.example.com" }, /auth\.jwt\.audience/],
    [{ issuer: "https://idp.example.com", audience: "p", issuerr: "x" }, /issuerr/],
    [
      { issuer: "https://idp.example.com", audience: "p", jwksUrl: "https://a/", jwksFile: "k" },
      /auth\.jwt\.jwksFile: .*both set/,
    ],
    [
      { issuer: "https://idp.example.com", audience: "p", jwksFile: "private.jwks.json" },
      /auth\.jwt\.jwksFile: .*private\.jwks\.json is not a JWK Set of public keys/,
    ],
    [
      { issuer: "https://idp.example.com", audience: "p", jwksFile: "missing.json" },
      /auth\.jwt\.jwksFile: .*missing\.json/,
    ],
    [
      { issuer: "https://user:pw@idp.example.com", audience: "p" },
      /auth\.jwt\.issuer: .*user name, password/,
    ],
  ];
  for (const [jwt, message] of cases) {
    const error = await assertRejects(() => parseWithJwt(jwt));
    assertMatch(error.message, message, JSON.stringify(jwt));
  }
});

Deno.test("a group only a provider fills may be declared empty; unknown groups stay errors", async () => {
  const jwt = { issuer: "https://idp.example.com", audience: "promgate" };
  const ok = await parseWithJwt(jwt, {
    groups: { ops: [] },
    routes: [{ path: "/", upstream: "http://127.0.0.1:9090/", allow: ["@ops"] }],
  });
  assertEquals(ok.groups.get("ops")?.size, 0);
  const error = await assertRejects(() =>
    parseWithJwt(jwt, {
      routes: [{ path: "/", upstream: "http://127.0.0.1:9090/", allow: ["@ops"] }],
    })
  );
  assertMatch(error.message, /routes\[0\]\.allow\[0\]: .*"@ops" names no group/);
});

Deno.test("JWT-shaped credentials: three base64url parts; API tokens never are", () => {
  assert(looksLikeJwt("eyJh.eyJz.c2ln"));
  assert(looksLikeJwt("eyJh.eyJz."), "an unsigned JWT still goes to the JWT check (and fails)");
  for (
    const value of ["pg_abc", "a.b", "a.b.c.d", "a.b+c.d", "", "a..", `a.${"b".repeat(17000)}.c`]
  ) {
    assertEquals(looksLikeJwt(value), false, value);
  }
});

Deno.test("groups from a token add to the config's groups for that request only", () => {
  const config = new Map([["ops", new Set(["alice"])], ["team-a", new Set<string>()]]);
  const merged = groupsFor(config, { user: "bot", groups: ["ops", "not-in-config"] });
  assertEquals([...merged.get("ops")!].sort(), ["alice", "bot"]);
  assertEquals(merged.has("not-in-config"), false);
  assertEquals(config.get("ops")!.has("bot"), false, "the config's groups are not changed");
  assertEquals(groupsFor(config, null), config);
  assertEquals(groupsFor(config, { user: "alice", groups: [] }), config);
});

Deno.test("tokens from a real provider: keys by discovery, by jwksUrl, from a jwksFile", async () => {
  const idp = await startIdp(MACHINES);
  try {
    const token = await idp.token("ops-bot");
    const byDiscovery = new JwtAuthenticator(jwtSettings(idp.issuer));
    const ok = await byDiscovery.check(token);
    assert(ok.ok, JSON.stringify(ok));
    assertEquals(ok.user, "ops-bot");
    assertEquals(ok.groups, ["ops", "team-a", "not-in-config"]);
    const noGroups = new JwtAuthenticator(jwtSettings(idp.issuer, { groupsClaim: null }));
    assertEquals((await noGroups.check(token)).ok && (await noGroups.check(token)), {
      ok: true,
      user: "ops-bot",
      groups: [],
    });
    const firstFetch = performance.now();
    const byUrl = new JwtAuthenticator(
      jwtSettings(idp.issuer, { keys: { kind: "url", url: `${idp.issuer}/jwks` } }),
    );
    assertEquals((await byUrl.check(token)).ok, true);
    // Offline keys: the provider's JWK Set saved to a file, read by the config loader.
    const file = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(file, JSON.stringify(await idp.jwks()));
    const config = await parseWithJwt({ issuer: idp.issuer, audience: "promgate", jwksFile: file });
    const fromFile = new JwtAuthenticator(config.auth!.jwt!);
    assertEquals((await fromFile.check(token)).ok, true);
    // A key the file does not have is refused until the file is updated (and promgate reloaded).
    await idp.rotate();
    const rotated = await idp.token("ops-bot");
    const refused = await fromFile.check(rotated);
    assert(!refused.ok && /no applicable key/.test(refused.detail), JSON.stringify(refused));
    // Remote keys follow the rotation: at once when keysRefreshSeconds (1 s here) has passed
    // since the last fetch, else on the first token after it.
    const early = await byUrl.check(rotated);
    if (performance.now() - firstFetch < 900) {
      assert(!early.ok && /no applicable key/.test(early.detail), "refetched within the interval");
    }
    await new Promise((r) => setTimeout(r, 1100));
    assertEquals((await byUrl.check(rotated)).ok, true, "remote keys follow the rotation");
    await Deno.remove(file);
  } finally {
    await idp.close();
  }
});

Deno.test("discovery must name the configured issuer; a missing user claim is refused", async () => {
  const idp = await startIdp(MACHINES);
  try {
    const token = await idp.token("ops-bot");
    // The provider calls itself 127.0.0.1; "localhost" is another issuer to OIDC.
    const port = new URL(idp.issuer).port;
    const wrong = new JwtAuthenticator(jwtSettings(`http://localhost:${port}`));
    const r = await wrong.check(token);
    assert(!r.ok && r.reason === "invalid_jwt", JSON.stringify(r));
    assertMatch(r.detail, /names issuer "http:\/\/127\.0\.0\.1:\d+", not "http:\/\/localhost/);
    const email = new JwtAuthenticator(jwtSettings(idp.issuer, { userClaim: "email" }));
    const noUser = await email.check(token);
    assert(!noUser.ok && /claim "email"/.test(noUser.detail), JSON.stringify(noUser));
    const down = new JwtAuthenticator(jwtSettings("http://127.0.0.1:9"));
    const unreachable = await down.check(token);
    assert(!unreachable.ok && /cannot get the provider's keys/.test(unreachable.detail));
  } finally {
    await idp.close();
  }
});

/** The handler in-process with htpasswd, API tokens and JWTs, and a header-mode tenancy route. */
async function pipeline(issuer: string, throttle: Throttle | null) {
  const upstream = startUpstream((req) =>
    Response.json({
      user: req.headers.get("x-forwarded-user"),
      org: req.headers.get("x-scope-orgid"),
    })
  );
  const verifier = createVerifier();
  const users = parseHtpasswd(await Deno.readTextFile(`${DIR}htpasswd`), "htpasswd");
  const tokenAuth = new TokenAuthenticator(
    parseTokens(tokenLine("grafana", "pg_fixture-grafana"), "tokens"),
  );
  const config = configWith([
    routeConfig("/open/", `${upstream.url}/`, { forwardUser: "x-forwarded-user" }),
    routeConfig("/ops/", `${upstream.url}/`, {
      policy: { allow: ["@ops"], readOnly: false, admins: [] },
      forwardUser: "x-forwarded-user",
    }),
    routeConfig("/tenants/", `${upstream.url}/`, {
      tenancy: {
        label: null,
        header: "x-scope-orgid",
        values: [["@team-a", ["a"]]],
        unrestricted: ["@ops"],
        maxBodyBytes: 1 << 20,
      },
    }),
  ], { groups: new Map([["ops", new Set(["alice"])], ["team-a", new Set<string>()]]) });
  const state: HandlerState = {
    config,
    authenticator: new Authenticator(users, verifier),
    tokens: tokenAuth,
    jwt: new JwtAuthenticator(jwtSettings(issuer)),
    accessLog: { write: () => {}, close: () => Promise.resolve() },
  };
  const events: string[] = [];
  const handler = createHandler({
    state: () => state,
    client: denoRuntime,
    onSecurityEvent: (l) => void events.push(l),
    throttle,
  });
  const send = async (path: string, authorization: string, address = "192.0.2.9") => {
    const response = await handler(
      new Request(`http://promgate.test${path}`, { headers: { authorization } }),
      { address, protocol: "HTTP/1.1" },
    );
    return { status: response.status, body: await response.text() };
  };
  return {
    send,
    events,
    async close() {
      verifier.close();
      await upstream.close();
    },
  };
}

Deno.test("a token's groups apply to allow and tenancy; API tokens and basic auth still work", async () => {
  const idp = await startIdp(MACHINES);
  const p = await pipeline(idp.issuer, null);
  try {
    const ops = `Bearer ${await idp.token("ops-bot")}`;
    const plain = `Bearer ${await idp.token("plain-bot")}`;
    assertEquals(JSON.parse((await p.send("/ops/x", ops)).body).user, "ops-bot");
    assertEquals((await p.send("/ops/x", plain)).status, 403);
    // ops-bot is in @team-a (restricted to "a") and @ops (unrestricted): the restriction wins.
    assertEquals(JSON.parse((await p.send("/tenants/x", ops)).body).org, "a");
    assertEquals((await p.send("/tenants/x", plain)).status, 403, "no tenancy for plain-bot");
    const grafana = await p.send("/open/x", "Bearer pg_fixture-grafana");
    assertEquals(JSON.parse(grafana.body).user, "grafana", "an API token is not a JWT");
    assertEquals(JSON.parse((await p.send("/ops/x", "Basic YWxpY2U6c2VjcmV0")).body).user, "alice");
    assertEquals((await p.send("/open/x", "Bearer not.a.jwt")).status, 401);
    assert(p.events.some((e) => /refused a JWT from 192\.0\.2\.9: /.test(e)), p.events.join("\n"));
    assert(!p.events.some((e) => e.includes(ops.slice(20, 60))), "the token is never logged");
  } finally {
    await p.close();
    await idp.close();
  }
});

Deno.test("refused JWTs are throttled like wrong passwords; a valid one is not", async () => {
  const idp = await startIdp(MACHINES);
  const throttle = new Throttle(new LocalStore(), { baseDelaySeconds: 30 });
  const p = await pipeline(idp.issuer, throttle);
  try {
    const token = await idp.token("ops-bot");
    const [h, payload] = token.split(".");
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const forged = `Bearer ${h}.${payload}.${"A".repeat(342)}${i}`;
      statuses.push((await p.send("/open/x", forged, "192.0.2.50")).status);
    }
    assertEquals(statuses, [401, 401, 401, 401, 401, 429]);
    assertEquals((await p.send("/open/x", `Bearer ${token}`, "192.0.2.50")).status, 200);
  } finally {
    await p.close();
    await idp.close();
  }
});
