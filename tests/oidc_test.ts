/**
 * Single sign-on's parts that need no provider: the sealed cookies (a changed byte, another key,
 * the other cookie kind, an expired session, an oversized one), the return target after login
 * (only paths on this host), which requests get the login redirect, and the session cookie
 * being kept from upstreams. The login itself runs against a real provider in
 * tests/oidc_e2e_test.ts.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { OidcAuthenticator } from "../lib/auth/oidc.ts";
import { cookieKeys, MAX_SESSION_COOKIE_BYTES, seal, unseal } from "../lib/auth/oidc_cookies.ts";
import { safeReturnPath, wantsLoginRedirect } from "../lib/auth/login_redirect.ts";
import type { OidcConfig } from "../lib/config/mod.ts";
import { withoutCookie } from "../lib/http/headers.ts";
import { DEFAULTS } from "../lib/defaults.ts";

const SECRET = new TextEncoder().encode("a cookie secret of at least thirty-two bytes");

function config(overrides: Partial<OidcConfig> = {}): OidcConfig {
  const O = DEFAULTS.oidc;
  return {
    issuer: "http://127.0.0.1:1",
    clientId: "promgate",
    clientSecret: "s",
    clientSecretFile: "/dev/null",
    cookieSecretFile: "/dev/null",
    cookieSecret: SECRET,
    scopes: ["openid"],
    sessionHours: 1,
    userClaim: "sub",
    groupsClaim: "groups",
    externalOrigin: null,
    loginPath: O.loginPath,
    callbackPath: O.callbackPath,
    logoutPath: O.logoutPath,
    ...overrides,
  };
}

const cookie = (value: string) => `other=1; promgate_session=${value}`;

Deno.test("a session cookie identifies its user with groups, until it expires", async () => {
  const oidc = new OidcAuthenticator(config());
  const value = (await oidc.sessionCookie("alice", ["ops", "dev"]))!;
  const session = await oidc.session(cookie(value));
  assertEquals([session?.user, session?.groups], ["alice", ["ops", "dev"]]);
  assert(
    session!.expires > Date.now() / 1000 + 3500 && session!.expires < Date.now() / 1000 + 3700,
  );
  const expired = new OidcAuthenticator(config({ sessionHours: -1 }));
  assertEquals(await expired.session(cookie((await expired.sessionCookie("alice", []))!)), null);
});

Deno.test("a changed, forged or foreign session cookie identifies nobody", async () => {
  const oidc = new OidcAuthenticator(config());
  const value = (await oidc.sessionCookie("alice", ["ops"]))!;
  for (let i = 0; i < value.length; i += 7) {
    const c = value[i] === "A" ? "B" : "A";
    assertEquals(await oidc.session(cookie(value.slice(0, i) + c + value.slice(i + 1))), null);
  }
  assertEquals(await oidc.session(cookie(value.slice(0, -2))), null);
  assertEquals(await oidc.session(cookie("")), null);
  assertEquals(await oidc.session(cookie("not base64url!")), null);
  assertEquals(await oidc.session(null), null);
  // Sealed with another secret.
  const other = new OidcAuthenticator(config({
    cookieSecret: new TextEncoder().encode("another secret of at least thirty-two bytes"),
  }));
  assertEquals(await oidc.session(cookie((await other.sessionCookie("alice", ["ops"]))!)), null);
  // A login-state cookie (another key) passed off as a session.
  const keys = await cookieKeys(SECRET);
  const state = await seal(keys.state, { u: "alice", g: ["ops"], e: Date.now() / 1000 + 999 });
  assertEquals(await oidc.session(cookie(state)), null);
  assertEquals(await unseal(keys.session, state), null);
  assertEquals(await unseal(keys.state, state) !== null, true);
});

Deno.test("a session too large for a cookie (too many groups) is not made", async () => {
  const oidc = new OidcAuthenticator(config());
  const few = await oidc.sessionCookie("alice", ["ops"]);
  assert(few !== null && few.length < 200);
  const many = Array.from({ length: 200 }, (_, i) => `group-number-${i}`);
  assertEquals(await oidc.sessionCookie("alice", many), null);
  const fits = Array.from({ length: 60 }, (_, i) => `group-${i}`);
  assert((await oidc.sessionCookie("alice", fits))!.length <= MAX_SESSION_COOKIE_BYTES);
});

Deno.test("the return target after login stays on this host", () => {
  for (const good of ["/", "/prometheus/graph", "/prometheus/graph?g0.expr=up&x=%2F%2F"]) {
    assertEquals(safeReturnPath(good), good);
  }
  for (
    const bad of [
      "//evil.example",
      "//evil.example/x",
      "https://evil.example/",
      "http:evil.example",
      "javascript:alert(1)",
      "/\\evil.example",
      "\\\\evil.example",
      "/\t/evil.example",
      "/%0a/evil",
      "evil.example",
      "",
      null,
      undefined,
    ]
  ) {
    const back = safeReturnPath(bad);
    assert(back === "/" || back.startsWith("/%"), `${JSON.stringify(bad)} -> ${back}`);
    assertEquals(new URL(back, "https://promgate.example").origin, "https://promgate.example");
  }
  // Encoded slashes stay a path on this host (a browser does not decode them in Location).
  assertEquals(safeReturnPath("/%2F%2Fevil.example"), "/%2F%2Fevil.example");
  assertEquals(safeReturnPath("/%5Cevil.example"), "/%5Cevil.example");
});

Deno.test("only a browser asking for a page without credentials is sent to log in", () => {
  const req = (method: string, headers: Record<string, string>) =>
    new Request("https://p.example/prometheus/graph", { method, headers });
  const html = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
  assertEquals(wantsLoginRedirect(req("GET", html)), true);
  assertEquals(wantsLoginRedirect(req("HEAD", html)), true);
  assertEquals(wantsLoginRedirect(req("POST", html)), false);
  assertEquals(wantsLoginRedirect(req("GET", {})), false);
  assertEquals(wantsLoginRedirect(req("GET", { accept: "application/json" })), false);
  assertEquals(wantsLoginRedirect(req("GET", { ...html, authorization: "Basic eDp5" })), false);
});

Deno.test("the session cookie is kept from the upstream, other cookies pass", () => {
  const entries: [string, string][] = [
    ["accept", "*/*"],
    ["cookie", "a=1; promgate_session=SECRET; b=2"],
  ];
  assertEquals(withoutCookie(entries, "promgate_session"), [["accept", "*/*"], [
    "cookie",
    "a=1; b=2",
  ]]);
  assertEquals(withoutCookie([["cookie", "promgate_session=SECRET"]], "promgate_session"), []);
  // Repeated Cookie fields joined with ", " (HTTP/2).
  assertEquals(
    withoutCookie([["cookie", "a=1, promgate_session=SECRET, b=2"]], "promgate_session"),
    [["cookie", "a=1; b=2"]],
  );
  assertEquals(withoutCookie([["cookie", "xpromgate_session=1"]], "promgate_session"), [[
    "cookie",
    "xpromgate_session=1",
  ]]);
});

Deno.test("auth.oidc in the config: secrets from files, and clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "promgate-oidc-" });
  try {
    await Deno.writeTextFile(`${dir}/.htpasswd`, "");
    await Deno.writeTextFile(`${dir}/client`, "  the-client-secret\n");
    await Deno.writeTextFile(`${dir}/cookie`, "x".repeat(40));
    await Deno.writeTextFile(`${dir}/short`, "x".repeat(10));
    const write = async (oidc: Record<string, unknown>) => {
      const file = `${dir}/config.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          auth: { htpasswdFile: ".htpasswd", oidc },
          routes: [{ path: "/", upstream: "http://127.0.0.1:9090/" }],
        }),
      );
      return file;
    };
    const base = {
      issuer: "https://idp.example.com",
      clientId: "promgate",
      clientSecretFile: "client",
      cookieSecretFile: "cookie",
    };
    const config = await loadConfig(await write(base));
    const oidc = config.auth!.oidc!;
    assertEquals([oidc.clientSecret, oidc.cookieSecret.length, oidc.scopes, oidc.sessionHours], [
      "the-client-secret",
      40,
      ["openid", "profile"],
      8,
    ]);
    const problem = async (oidc: Record<string, unknown>) => {
      try {
        await loadConfig(await write(oidc));
      } catch (error) {
        return (error as Error).message;
      }
      return "(loaded)";
    };
    assertStringIncludes(
      await problem({ ...base, cookieSecretFile: "short" }),
      "auth.oidc.cookieSecretFile",
    );
    assertStringIncludes(await problem({ ...base, cookieSecretFile: "short" }), "openssl rand");
    assertStringIncludes(await problem({ ...base, clientSecretFile: "nope" }), "clientSecretFile");
    assertStringIncludes(await problem({ ...base, scopes: ["profile"] }), '"openid"');
    assertStringIncludes(await problem({ ...base, issuer: "http://idp.example.com" }), "issuer");
    assertStringIncludes(await problem({ ...base, clientSecret: "inline" }), "clientSecret");
    assertStringIncludes(await problem({ ...base, externalUrl: "https://h/x" }), "externalUrl");
    const behind = await loadConfig(await write({ ...base, externalUrl: "https://prom.example" }));
    assertEquals(behind.auth!.oidc!.externalOrigin, "https://prom.example");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
