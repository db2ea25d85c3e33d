/**
 * What multi-tenancy adds to a query: p50 of one 2 KB PromQL query through a route with
 * `tenancy` (the user restricted, so the query is parsed and rewritten) against the same query
 * through a route without it, interleaved in one run, in-process with a canned upstream answer.
 *
 *   deno run -A --unstable-no-legacy-abort bench/tenancy.ts [--requests N]
 *
 * Also prints the rewrite alone (parse + splice) and checks the upstream saw the rewritten query.
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
import { createVerifier } from "../lib/auth/password/verifier.ts";
import { injectMatcher, loadPromQL, tenantMatcher } from "../lib/http/tenancy/mod.ts";

await loadPromQL();

const { values } = parseArgs({ options: { requests: { type: "string", default: "5000" } } });
const REQUESTS = Number(values.requests);

// `htpasswd -nbm bench secret-pw` (apr1): the first request verifies it, the rest hit the cache.
const HTPASSWD = "bench:$apr1$5iZrIdRD$lSQ0W1zmJGjYyyjyWCw3H0\n";
const ANSWER = new TextEncoder().encode(
  '{"status":"success","data":{"resultType":"vector",' +
    '"result":[]}}',
);

/** A realistic 2 KB dashboard query: 30 rates summed. */
const QUERY = Array.from(
  { length: 30 },
  (_, i) => `rate(http_requests_total{job="api",code=~"5.."}[5m] offset ${i}m)`,
).join(" + ");

const dir = mkdtempSync(join(tmpdir(), "promgate-bench-tenancy-"));
const htpasswdFile = join(dir, "htpasswd");
writeFileSync(htpasswdFile, HTPASSWD);
const config = await parseConfig(
  JSON.stringify({
    listen: { hostname: "127.0.0.1", port: 18443 },
    auth: { htpasswdFile, throttle: false },
    accessLog: false,
    routes: [
      { path: "/open/", upstream: "http://127.0.0.1:9090/" },
      {
        path: "/tenant/",
        upstream: "http://127.0.0.1:9090/",
        tenancy: { label: "tenant", values: { bench: ["a", "b"] } },
      },
    ],
  }),
  "bench-tenancy.json",
);
const verifier = createVerifier({});
const users = await loadHtpasswd(htpasswdFile);
rmSync(dir, { recursive: true });
let lastUrl = "";
const state = {
  config,
  authenticator: new Authenticator(users, verifier),
  accessLog: NO_ACCESS_LOG,
};
const handler = createHandler({
  state: () => state,
  client: {
    fetchUpstream: (url: string) => {
      lastUrl = url;
      return Promise.resolve(
        new Response(ANSWER, {
          headers: { "content-type": "application/json", "content-length": String(ANSWER.length) },
        }),
      );
    },
  },
});
const headers = { host: "127.0.0.1:18443", authorization: "Basic " + btoa("bench:secret-pw") };
const info = { address: "127.0.0.1", protocol: "HTTP/1.1" };
const search = "?query=" + encodeURIComponent(QUERY) + "&time=1700000000";

async function once(prefix: string): Promise<number> {
  const started = performance.now();
  const req = new Request(`http://127.0.0.1:18443${prefix}api/v1/query${search}`, { headers });
  const res = await handler(req, info);
  await res.arrayBuffer();
  const took = performance.now() - started;
  if (res.status !== 200) throw new Error(`${prefix}: expected 200, got ${res.status}`);
  return took;
}

const p50 = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1];

for (let i = 0; i < 1000; i++) await once(i % 2 ? "/open/" : "/tenant/"); // warm-up (JIT, login)
await once("/tenant/");
const seen = new URL(lastUrl).searchParams.get("query") ?? "";
if (seen.split('tenant=~"a|b"').length - 1 !== 30) throw new Error("the query was not rewritten");
const open: number[] = [];
const restricted: number[] = [];
for (let i = 0; i < REQUESTS; i++) {
  open.push(await once("/open/"));
  restricted.push(await once("/tenant/"));
}
const matcher = tenantMatcher("tenant", ["a", "b"]);
const rewrite: number[] = [];
for (let i = 0; i < REQUESTS; i++) {
  const started = performance.now();
  injectMatcher(QUERY, matcher);
  rewrite.push(performance.now() - started);
}
const ms = (x: number) => `${x.toFixed(3)} ms`;
console.log(`${QUERY.length}-byte PromQL query, ${REQUESTS} requests each, interleaved:`);
console.log(`  unrestricted route p50 ${ms(p50(open))}`);
console.log(`  restricted route   p50 ${ms(p50(restricted))}`);
console.log(`  added              p50 ${ms(p50(restricted) - p50(open))} (goal < 0.5 ms)`);
console.log(`  rewrite alone      p50 ${ms(p50(rewrite))}`);
verifier.close();
