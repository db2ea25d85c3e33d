/**
 * promgate's own cost per request, without the network: the handler (target, route, cached
 * login, proxy, access-log record, metrics) driven in-process with a canned upstream answer.
 *
 *   deno task bench:handler [--requests N] [--rounds N]
 *
 * It shows what promgate's code adds to a proxied request, stably enough (a few %) to compare
 * changes on a noisy machine, where the wrk figures of `deno task bench` move by ±30%. What it
 * leaves out: TLS, HTTP parsing and the runtime's fetch, which `deno task bench` measures.
 *
 * Three kinds of login, in alternating rounds of one run: a basic-auth user served from the
 * credential cache, an API token (lib/auth/tokens.ts), and a single sign-on session cookie
 * (lib/auth/oidc.ts), with all of them configured.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NO_ACCESS_LOG } from "../lib/http/access_log.ts";
import { Authenticator } from "../lib/auth/basic.ts";
import { parseConfig } from "../lib/config/load.ts";
import { createHandler } from "../lib/http/handler.ts";
import { loadHtpasswd } from "../lib/auth/htpasswd.ts";
import { Metrics } from "../lib/http/metrics.ts";
import { createVerifier } from "../lib/auth/password/verifier.ts";
import { newToken, parseTokens, TokenAuthenticator, tokenLine } from "../lib/auth/tokens.ts";
import { OidcAuthenticator } from "../lib/auth/oidc.ts";
import { SESSION_COOKIE } from "../lib/auth/mod.ts";
import { DEFAULTS } from "../lib/defaults.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    // Which logins to time (repeatable); the state holds only the sources they need, so
    // `--login basic` times the same pipeline as before tokens and single sign-on existed.
    login: { type: "string", multiple: true, default: ["basic", "bearer", "session"] },
  },
});
const REQUESTS = Number(values.requests);
const ALL_LOGINS = ["basic", "bearer", "session"] as const;
const LOGINS = ALL_LOGINS.filter((l) => values.login.includes(l));
if (LOGINS.length === 0) throw new Error(`--login takes ${ALL_LOGINS.join(", ")}`);
const ROUNDS = Number(values.rounds);

// `htpasswd -nbm bench secret-pw` (apr1): the first request verifies it, the rest hit the cache.
const HTPASSWD = "bench:$apr1$5iZrIdRD$lSQ0W1zmJGjYyyjyWCw3H0\n";
const BODY = new TextEncoder().encode("Prometheus Server is Healthy.\n");

const dir = mkdtempSync(join(tmpdir(), "promgate-bench-handler-"));
const htpasswdFile = join(dir, "htpasswd");
writeFileSync(htpasswdFile, HTPASSWD);
const config = await parseConfig(
  JSON.stringify({
    listen: { hostname: "127.0.0.1", port: 18443 },
    auth: { htpasswdFile },
    accessLog: false,
    routes: [{ path: "/prometheus/", upstream: "http://127.0.0.1:9090/" }],
  }),
  "bench-handler.json",
);
const verifier = createVerifier({});
const users = await loadHtpasswd(htpasswdFile);
rmSync(dir, { recursive: true });
const TOKEN = newToken();
// Single sign-on as configured for a provider (never contacted: a session needs no provider).
const oidc = new OidcAuthenticator({
  ...DEFAULTS.oidc,
  issuer: "https://idp.example.com",
  clientId: "promgate",
  clientSecret: "unused",
  clientSecretFile: "/dev/null",
  cookieSecretFile: "/dev/null",
  cookieSecret: crypto.getRandomValues(new Uint8Array(32)),
  groupsClaim: "groups",
  externalOrigin: null,
});
const SESSION = await oidc.sessionCookie("bench-sso", ["ops", "viewers"]);
const state = {
  config,
  authenticator: new Authenticator(users, verifier),
  tokens: LOGINS.includes("bearer")
    ? new TokenAuthenticator(parseTokens(tokenLine("bench-token", TOKEN), "tokens"))
    : null,
  oidc: LOGINS.includes("session") ? oidc : null,
  accessLog: NO_ACCESS_LOG,
};
const handler = createHandler({
  state: () => state,
  // As a runtime adapter's upstream fetch answers (lib/http/types.ts, UpstreamFetch): headers
  // that describe the bytes, which the proxy passes on as they are.
  client: {
    fetchUpstream: (_url: string) =>
      Promise.resolve(
        new Response(BODY, {
          headers: { "content-type": "text/plain; charset=utf-8", "content-length": "30" },
        }),
      ),
  },
  metrics: new Metrics({ version: "bench", runtime: "bench", commit: "bench" }),
});
const logins = {
  basic: "Basic " + btoa("bench:secret-pw"),
  bearer: `Bearer ${TOKEN}`,
  session: `${SESSION_COOKIE}=${SESSION}`,
};
type Login = keyof typeof logins;
const info = { address: "127.0.0.1", protocol: "HTTP/1.1" };

async function once(login: Login): Promise<void> {
  const credential: Record<string, string> = login === "session"
    ? { cookie: logins.session, accept: "text/html" }
    : { authorization: logins[login] };
  const headers = { host: "127.0.0.1:18443", ...credential, "user-agent": "wrk" };
  const req = new Request("https://127.0.0.1:18443/prometheus/-/healthy", { headers });
  const res = await handler(req, info);
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}`);
  await res.arrayBuffer();
}

// Warm-up: JIT, and the one real verification of the password.
for (const login of LOGINS) {
  for (let i = 0; i < REQUESTS; i++) await once(login);
}
const perRequest: Record<Login, number[]> = { basic: [], bearer: [], session: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const login of LOGINS) {
    const started = performance.now();
    for (let i = 0; i < REQUESTS; i++) await once(login);
    perRequest[login].push((performance.now() - started) * 1000 / REQUESTS);
  }
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const LABELS = [
  ["basic", "cached basic auth"],
  ["bearer", "API token"],
  ["session", "SSO session cookie"],
] as const;
for (const [login, label] of LABELS) {
  if (!LOGINS.includes(login)) continue;
  const xs = perRequest[login].sort((a, b) => a - b);
  console.log(
    `handler pipeline, in-process, ${label}, ${REQUESTS} requests x ${ROUNDS} rounds: ` +
      `median ${median(xs).toFixed(1)} µs/request ` +
      `(min ${xs[0].toFixed(1)}, max ${xs[ROUNDS - 1].toFixed(1)}), ` +
      `${Math.round(1e6 / median(xs))} req/s on one core`,
  );
}
for (const [login, label] of LABELS.slice(1)) {
  if (!LOGINS.includes("basic") || !LOGINS.includes(login)) continue;
  const ratio = median(perRequest.basic) / median(perRequest[login]);
  console.log(`${label} vs cached basic auth: ${(ratio * 100).toFixed(0)}% of its req/s`);
}
verifier.close();
