/**
 * API tokens (lib/auth/tokens.ts): the tokens file as an operator writes it, the lookup, the
 * config keys, `promgate token create` as the real process, and the request pipeline in-process
 * against a real upstream: who a token identifies as, what reaches the upstream, the 401's
 * challenges, and the throttle.
 */
import { createHash } from "node:crypto";
import { configWith, routeConfig } from "./_config.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { basic, runPromgate, startUpstream } from "./_util.ts";
import { fromFileUrl } from "./_path.ts";
import {
  loadTokens,
  newToken,
  parseTokens,
  TokenAuthenticator,
  tokenLine,
} from "../lib/auth/tokens.ts";
import { Authenticator } from "../lib/auth/basic.ts";
import { parseHtpasswd } from "../lib/auth/htpasswd.ts";
import { createVerifier } from "../lib/auth/password/verifier.ts";
import { Throttle } from "../lib/auth/throttle.ts";
import { loadConfig } from "../lib/config/load.ts";
import type { AccessRecord } from "../lib/http/access_log.ts";
import { createHandler, type HandlerState } from "../lib/http/handler.ts";
import { denoRuntime } from "../lib/runtime/deno/adapter.ts";
import { LocalStore } from "../lib/state/mod.ts";
import { InputError } from "../lib/errors.ts";

const DIR = fromFileUrl(new URL("./testdata/tokens/", import.meta.url));
/** The tokens whose hashes tests/testdata/tokens/good.tokens holds (see testdata/README.md). */
const ALICE = "pg_fixture-alice-1";
const ALICE_2 = "pg_fixture-alice-2";
const GRAFANA = "pg_fixture-grafana";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

async function failure(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (error) {
    assert(error instanceof InputError, `expected an InputError, got ${error}`);
    return error.message;
  }
  throw new Error("expected an error");
}

Deno.test("a tokens file with comments, blank lines, CRLF and upper-case hex loads", async () => {
  const tokens = await loadTokens(`${DIR}good.tokens`);
  assertEquals(tokens.size, 3);
  const names = [...tokens.values()].map((e) => e.name);
  assertEquals(names, ["alice", "alice", "grafana"]);
  const auth = new TokenAuthenticator(tokens);
  for (const [token, user] of [[ALICE, "alice"], [ALICE_2, "alice"], [GRAFANA, "grafana"]]) {
    assertEquals(await auth.check(token), { ok: true, user });
  }
});

Deno.test("every bad line of a tokens file is named with how to fix it, never quoted", async () => {
  const file = `${DIR}bad.tokens`;
  const message = await failure(() => loadTokens(file));
  const lines = message.split("\n");
  assertEquals(lines.map((l) => l.slice(0, l.indexOf(": "))), [
    `${file}:2`,
    `${file}:3`,
    `${file}:4`,
    `${file}:5`,
    `${file}:6`,
    `${file}:7`,
    `${file}:9`,
    `${file}:10`,
  ]);
  assertStringIncludes(lines[0], "looks like a token, not its hash");
  assertStringIncludes(lines[1], 'the entry of "bob" looks like a token');
  assertStringIncludes(lines[2], "the name is empty");
  assertStringIncludes(lines[3], '"carol" is not `sha256:` and 64 hex digits');
  assertStringIncludes(lines[4], '"dave" is not `sha256:`');
  assertStringIncludes(lines[5], "white space");
  assertStringIncludes(lines[6], "the same token hash is on line 8");
  assertStringIncludes(lines[7], "no colon");
  const text = await Deno.readTextFile(file);
  for (
    const secret of ["pg_fixture-pasted-token", "nocolonhere", ...text.match(/[0-9a-f]{20,}/g)!]
  ) {
    assert(!message.includes(secret), `the message quotes ${secret}`);
  }
});

Deno.test("an empty tokens file, or one of comments only, is valid: every token revoked", async () => {
  assertEquals((await loadTokens(`${DIR}empty.tokens`)).size, 0);
  assertEquals((await loadTokens(`${DIR}comments_only.tokens`)).size, 0);
});

Deno.test("a missing tokens file names the file and how to make one", async () => {
  const message = await failure(() => loadTokens(`${DIR}missing.tokens`));
  assertStringIncludes(message, `${DIR}missing.tokens: tokens file not found.`);
  assertStringIncludes(message, "promgate token create NAME");
});

Deno.test("new tokens are 256 random bits, prefixed pg_, and their line admits them", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const token = newToken();
    assertMatch(token, /^pg_[A-Za-z0-9_-]{43}$/);
    seen.add(token);
  }
  assertEquals(seen.size, 1000);
  const token = newToken();
  const line = tokenLine("prometheus", token);
  assertEquals(line, `prometheus:sha256:${sha256(token)}`);
  const auth = new TokenAuthenticator(parseTokens(line, "t"));
  assertEquals(await auth.check(token), { ok: true, user: "prometheus" });
  assertEquals((await auth.check(newToken())).ok, false);
});

Deno.test("a token is read from Bearer or the custom header; malformed ones are refused", async () => {
  const auth = new TokenAuthenticator(await loadTokens(`${DIR}good.tokens`), "X-Promgate-Token");
  const presented = (h: Record<string, string>) => auth.presented(new Headers(h));
  assertEquals(presented({ authorization: `Bearer ${ALICE}` }), ALICE);
  assertEquals(presented({ authorization: `bEaReR   ${ALICE}  ` }), ALICE);
  assertEquals(presented({ authorization: basic("alice", "x") }), null, "basic auth applies");
  assertEquals(presented({}), null);
  assertEquals(presented({ authorization: "Bearer" }), "");
  assertEquals(presented({ authorization: "Bearertoken" }), null);
  // The custom header wins: the client's Authorization may belong to someone else.
  assertEquals(
    presented({ "x-promgate-token": GRAFANA, authorization: `Bearer ${ALICE}` }),
    GRAFANA,
  );
  for (const bad of ["", "a b", "tok,en", "x".repeat(1025), "tøken", "=abc"]) {
    assertEquals(await auth.check(bad), { ok: false, reason: "malformed", user: null }, bad);
  }
  assertEquals(await auth.check(`${ALICE}x`), { ok: false, reason: "unknown_token", user: null });
});

Deno.test("a new tokens file revokes removed tokens at once", async () => {
  const auth = new TokenAuthenticator(await loadTokens(`${DIR}good.tokens`));
  assertEquals((await auth.check(GRAFANA)).ok, true);
  auth.setTokens(parseTokens(tokenLine("alice", ALICE), "t"));
  assertEquals((await auth.check(GRAFANA)).ok, false);
  assertEquals((await auth.check(ALICE)).ok, true);
});

Deno.test("config: auth.tokensFile is resolved and checked; tokenHeader is checked", async () => {
  const config = await loadConfig(`${DIR}tokens.good.json`);
  assertEquals(config.auth?.tokensFile, `${DIR}good.tokens`);
  assertEquals(config.auth?.tokenHeader, "x-promgate-token");
  const cases: [string, string][] = [
    ["token_header_without_file", "auth.tokenHeader: tokenHeader needs tokensFile"],
    ["token_header_owned", 'auth.tokenHeader: "Authorization" is a header HTTP or promgate'],
    ["token_header_bad_name", 'auth.tokenHeader: "X Token" is not a header name'],
    ["tokens_file_not_found", `auth.tokensFile: file ${DIR}missing.tokens not found.`],
  ];
  for (const [name, expected] of cases) {
    const message = await failure(() => loadConfig(`${DIR}${name}.bad.json`));
    assertStringIncludes(message, expected, name);
  }
  const noTokens = await loadConfig(
    `${fromFileUrl(new URL("./testdata/config/", import.meta.url))}minimal.good.json`,
  );
  assertEquals([noTokens.auth?.tokensFile, noTokens.auth?.tokenHeader], [undefined, undefined]);
});

// -------------------------------------------------------------------------------------------
// The command, as the real process (any runtime: see promgateCommand).

Deno.test("token create prints a token once and the lines that admit it", async () => {
  const r = await runPromgate(["token", "create", "prometheus"]);
  assertEquals(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assertMatch(token, /^pg_[A-Za-z0-9_-]{43}$/);
  assertEquals(r.stdout, token + "\n", "stdout is the token alone (a credentials_file)");
  assert(!r.stderr.includes(token), "the token is printed once");
  // stderr is valid tokens-file text: `2>> tokens` adds it.
  const auth = new TokenAuthenticator(parseTokens(r.stderr, "stderr"));
  assertEquals(await auth.check(token), { ok: true, user: "prometheus" });
  assertMatch(r.stderr, /^# token for prometheus, made \d{4}-\d\d-\d\dT[\d:]{8}Z by /);
});

Deno.test("token create refuses a bad or missing name and unknown subcommands (exit 2)", async () => {
  for (
    const [args, fragment] of [
      [["token", "create", "a:b"], "cannot name a token"],
      [["token", "create", "a b"], "cannot name a token"],
      [["token", "create"], "one NAME"],
      [["token", "create", "a", "b"], "one NAME"],
      [["token"], "expected `token create NAME`"],
      [["token", "list"], 'got "list"'],
      [["token", "create", "--bogus", "a"], "--help"],
    ] as const
  ) {
    const r = await runPromgate([...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, fragment);
    assertEquals(r.stdout, "", "no token is printed");
  }
  const help = await runPromgate(["token", "--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "promgate token create NAME");
});

// -------------------------------------------------------------------------------------------
// The request pipeline in-process.

/** The handler over a real upstream that echoes what reached it, with tokens and admin/secret. */
async function pipeline(options: { throttle?: Throttle | null; header?: string } = {}) {
  const upstream = startUpstream((req) =>
    Response.json({ headers: Object.fromEntries(req.headers) })
  );
  const users = parseHtpasswd(
    await Deno.readTextFile(
      fromFileUrl(new URL("./testdata/config/admin.htpasswd", import.meta.url)),
    ),
    "admin.htpasswd",
  );
  const verifier = createVerifier();
  const tokens = new TokenAuthenticator(
    await loadTokens(`${DIR}good.tokens`),
    options.header ?? "x-promgate-token",
  );
  const config = configWith([
    routeConfig("/open/", `${upstream.url}/`, { forwardUser: "x-webauth-user" }),
    routeConfig("/ops/", `${upstream.url}/`, {
      policy: { allow: ["@ops"], readOnly: false, admins: [] },
    }),
  ], { groups: new Map([["ops", new Set(["alice"])]]) });
  const records: AccessRecord[] = [];
  const events: string[] = [];
  const state: HandlerState = {
    config,
    authenticator: new Authenticator(users, verifier),
    tokens,
    accessLog: { write: (r) => void records.push(r), close: () => Promise.resolve() },
  };
  const handler = createHandler({
    state: () => state,
    client: denoRuntime,
    onSecurityEvent: (l) => void events.push(l),
    throttle: options.throttle === undefined ? null : options.throttle,
  });
  const send = async (path: string, headers: Record<string, string>, address = "192.0.2.9") => {
    const response = await handler(
      new Request(`http://promgate.test${path}`, { headers }),
      { address, protocol: "HTTP/1.1" },
    );
    const text = await response.text();
    return { response, text };
  };
  return {
    send,
    records,
    events,
    async close() {
      verifier.close();
      await upstream.close();
    },
  };
}

Deno.test("a bearer token identifies as its name; groups and forwardUser apply", async () => {
  const p = await pipeline();
  try {
    const open = await p.send("/open/x", { authorization: `Bearer ${ALICE_2}` });
    assertEquals(open.response.status, 200, open.text);
    const seen = JSON.parse(open.text).headers;
    assertEquals(seen["x-webauth-user"], "alice");
    assertEquals(seen.authorization, undefined, "Authorization never reaches the upstream");
    assertEquals(
      (await p.send("/ops/x", { authorization: `Bearer ${ALICE}` })).response.status,
      200,
    );
    assertEquals(
      (await p.send("/ops/x", { authorization: `Bearer ${GRAFANA}` })).response.status,
      403,
      "grafana is not in @ops",
    );
    assertEquals(
      (await p.send("/ops/x", { authorization: basic("admin", "secret") })).response.status,
      403,
    );
    assertEquals(
      (await p.send("/open/x", { authorization: basic("admin", "secret") })).response.status,
      200,
    );
    assertEquals(p.records.map((r) => [r.user, r.status]), [
      ["alice", 200],
      ["alice", 200],
      ["grafana", 403],
      ["admin", 403],
      ["admin", 200],
    ]);
  } finally {
    await p.close();
  }
});

Deno.test("the token header identifies too and is stripped upstream, look-alikes too", async () => {
  const p = await pipeline();
  try {
    const r = await p.send("/open/x", {
      "x-promgate-token": GRAFANA,
      "x_promgate_token": "smuggled",
      authorization: "Bearer for-the-upstream",
    });
    assertEquals(r.response.status, 200, r.text);
    const seen = JSON.parse(r.text).headers;
    assertEquals(seen["x-webauth-user"], "grafana");
    for (const name of Object.keys(seen)) {
      assert(!/promgate.token/i.test(name), `${name} reached the upstream`);
    }
    assert(!r.text.includes(GRAFANA), "the token reached the upstream");
    assertEquals(seen.authorization, undefined);
  } finally {
    await p.close();
  }
});

Deno.test("a refused token gets 401 with Basic and Bearer challenges, and no user", async () => {
  const p = await pipeline();
  try {
    const wrong = await p.send("/open/x", { authorization: "Bearer pg_not-a-token" });
    assertEquals(wrong.response.status, 401);
    assertEquals(
      wrong.response.headers.get("www-authenticate"),
      'Basic realm="Prometheus", charset="UTF-8", Bearer realm="Prometheus", error="invalid_token"',
    );
    const none = await p.send("/open/x", {});
    assertEquals(
      none.response.headers.get("www-authenticate"),
      'Basic realm="Prometheus", charset="UTF-8", Bearer realm="Prometheus"',
    );
    const malformed = await p.send("/open/x", { "x-promgate-token": "two words" });
    assertEquals(malformed.response.status, 401);
    assertEquals(p.records.map((r) => r.user), [null, null, null]);
  } finally {
    await p.close();
  }
});

Deno.test("wrong tokens are throttled like wrong passwords; a valid token is not", async () => {
  const throttle = new Throttle(new LocalStore(), { baseDelaySeconds: 30 });
  const p = await pipeline({ throttle });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await p.send("/open/x", { authorization: `Bearer pg_guess-${i}` }, "192.0.2.50");
      statuses.push(r.response.status);
      if (r.response.status === 429) assertEquals(r.response.headers.get("retry-after"), "60");
    }
    assertEquals(statuses, [401, 401, 401, 401, 401, 429]);
    const valid = await p.send("/open/x", { authorization: `Bearer ${ALICE}` }, "192.0.2.50");
    assertEquals(valid.response.status, 200, "a valid token is never throttled");
    const other = await p.send("/open/x", { authorization: "Bearer pg_guess-x" }, "192.0.2.51");
    assertEquals(other.response.status, 401, "another address is not blocked");
    assertEquals(p.records.filter((r) => r.status === 429).length, 1);
  } finally {
    await p.close();
  }
});
