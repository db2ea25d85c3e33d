/**
 * Issue 6 item 1: no request target reaches a protected upstream path without credentials, and
 * none escapes its route's upstream path prefix. The real promgate process, one public route
 * (/healthz → upstream /healthy) and one protected route (/prometheus/ → upstream /), a
 * raw-socket client that sends each target byte for byte, and an upstream that records every raw
 * path it receives. A second upstream is a canary no request may ever reach.
 */
import { assert, assertEquals } from "../_assert.ts";
import { needs } from "../_util.ts";
import { type Gate, rawGet, secretBasic, type Seen, startGate, startRecorder } from "./_helpers.ts";

/** A row: what to send, the status expected, and the raw paths the upstream must have received. */
interface Case {
  readonly target: string;
  readonly status: number;
  /** Raw targets the recording upstream receives for this request (none when omitted). */
  readonly upstream?: string[];
  readonly host?: string | null;
  readonly version?: string;
  readonly headers?: string[];
}

/** Anonymous requests. `P` is promgate's port, `C` the canary upstream's. */
function anonymousCases(P: number, C: number): Case[] {
  return [
    // Baselines.
    { target: "/healthz", status: 200, upstream: ["/healthy"] },
    { target: "/prometheus/metrics", status: 401 },
    // Dot segments, plain and encoded: resolved first, so they land on the protected route.
    { target: "/healthz/../prometheus/metrics", status: 401 },
    { target: "/healthz/%2e%2e/prometheus/metrics", status: 401 },
    { target: "/healthz/%2E%2e/prometheus/metrics", status: 401 },
    { target: "/healthz/.%2e/prometheus/metrics", status: 401 },
    { target: "/healthz/x/../../prometheus/metrics", status: 401 },
    { target: "/healthz/./../prometheus/metrics", status: 401 },
    { target: "/healthz/..", status: 401 },
    { target: "/healthz/../", status: 401 },
    { target: "/healthz/../x", status: 401 }, // must never reach upstream /x
    { target: "/healthz/../../x", status: 401 }, // above the root: refused
    // Encoded separators: refused (anonymous clients see the 401 of an unknown path).
    { target: "/healthz/..%2fprometheus/metrics", status: 401 },
    { target: "/healthz/..%2Fprometheus/metrics", status: 401 },
    { target: "/healthz/%2e%2e%2fprometheus/metrics", status: 401 },
    { target: "/prometheus%2Fmetrics", status: 401 },
    { target: "/prometheus%2fmetrics", status: 401 },
    { target: "/healthz%2F..%2Fprometheus%2Fmetrics", status: 401 },
    // Slashes: merged, as nginx does.
    { target: "//prometheus/metrics", status: 401 },
    { target: "///prometheus//metrics", status: 401 },
    { target: "//healthz", status: 200, upstream: ["/healthy"] },
    { target: "/healthz//x", status: 200, upstream: ["/healthy/x"] },
    { target: `/healthz//127.0.0.1:${C}/x`, status: 200, upstream: [`/healthy/127.0.0.1:${C}/x`] },
    // Case and matrix parameters: routes are case-sensitive, ";" is an ordinary character.
    { target: "/PROMETHEUS/metrics", status: 401 },
    { target: "/Healthz", status: 401 },
    { target: "/prometheus;x/metrics", status: 401 },
    { target: "/healthz;x/../prometheus/metrics", status: 401 },
    { target: "/healthz/..;/prometheus/metrics", status: 401 },
    { target: "/healthz/%2e%2e;x/prometheus/metrics", status: 401 },
    // Encoded unreserved characters are decoded before matching (RFC 3986 §6.2.2.2).
    { target: "/%70rometheus/metrics", status: 401 },
    { target: "/%68ealthz", status: 200, upstream: ["/healthy"] },
    { target: "/healthz/%7Ex", status: 200, upstream: ["/healthy/~x"] },
    // Double encoding stays one level deep: the upstream decodes it to the literal "%2e%2e".
    { target: "/healthz/%252e%252e/x", status: 200, upstream: ["/healthy/%252e%252e/x"] },
    // Absolute-form targets: the path is treated exactly like origin-form.
    { target: `http://127.0.0.1:${P}/prometheus/metrics`, status: 401 },
    { target: "http://evil/prometheus/metrics", status: 401 },
    { target: "HTTP://evil/prometheus/metrics", status: 401 },
    { target: "http://evil/healthz/../prometheus/metrics", status: 401 },
    { target: "http://evil/healthz", status: 200, upstream: ["/healthy"] },
    { target: "https://evil/healthz", status: 200, upstream: ["/healthy"] },
    { target: "http://evil@127.0.0.1/healthz", status: 401 },
    { target: "http://evil\\@127.0.0.1/healthz", status: 401 },
    { target: "ftp://evil/healthz", status: 401 },
    // Host header tricks: Deno.serve glues Host and target together; promgate refuses bad Hosts.
    { target: "/x", host: "127.0.0.1/healthz", status: 401 },
    { target: "/prometheus/metrics", host: "127.0.0.1/healthz?", status: 401 },
    { target: "/../prometheus/metrics", host: "a/healthz", status: 401 },
    { target: "/x", host: "evil/../healthz", status: 401 },
    { target: "/x", host: "evil@127.0.0.1/healthz", status: 401 },
    { target: "/x", host: "127.0.0.1#/healthz", status: 401 },
    { target: "/x", host: "127.0.0.1\\healthz", status: 401 },
    { target: "/healthz", host: "evil", status: 200, upstream: ["/healthy"] },
    { target: "/prometheus/metrics", host: null, version: "HTTP/1.0", status: 401 },
    {
      target: "/healthz",
      status: 400, // a second Host line: Deno.serve answers 400 itself
      headers: ["Host: evil"],
    },
    // Backslashes (the URL parser reads them as "/"): refused.
    { target: "/healthz\\..\\prometheus/metrics", status: 401 },
    { target: "/healthz/..\\prometheus/metrics", status: 401 },
    { target: "/healthz/%5c..%5cprometheus/metrics", status: 401 },
    { target: `/healthz/\\127.0.0.1:${C}/x`, status: 401 },
    // NUL and controls: raw ones stop in Deno.serve (400), encoded ones in promgate.
    { target: "/healthz\x00/../prometheus/metrics", status: 400 },
    { target: "/healthz/%00/../x", status: 401 },
    { target: "/healthz%00", status: 401 },
    { target: "/healthz/%0d%0aX-Injected:%201", status: 401 },
    { target: "/healthz/%7f", status: 401 },
    // Overlong UTF-8 and other invalid UTF-8: refused; raw non-ASCII bytes stop in Deno.serve.
    { target: "/healthz/%c0%ae%c0%ae/prometheus/metrics", status: 401 },
    { target: "/healthz/%e0%80%ae%e0%80%ae/prometheus/metrics", status: 401 },
    { target: "/healthz/%ff", status: 401 },
    { target: "/healthz/\xc0\xae\xc0\xae/prometheus/metrics", status: 400 },
    { target: "/healthz/%u002e%u002e/prometheus/metrics", status: 401 },
    // Malformed escapes, fragments, and non-path targets.
    { target: "/healthz/%", status: 401 },
    { target: "/healthz/%zz", status: 401 },
    { target: "/healthz#/../prometheus/metrics", status: 401 },
    {
      target: "/healthz?/../prometheus/metrics",
      status: 200,
      upstream: ["/healthy?/../prometheus/metrics"],
    },
    { target: "*", status: 400 },
    { target: "prometheus/metrics", status: 400 },
    { target: "127.0.0.1:80", status: 400 },
    { target: "/healthz/ ../x", status: 400 },
  ];
}

/** Requests with valid credentials: canonical paths reach the upstream, nothing else. */
function authenticatedCases(C: number): Case[] {
  return [
    { target: "/prometheus/metrics", status: 200, upstream: ["/metrics"] },
    { target: "/prometheus/./a/../metrics", status: 200, upstream: ["/metrics"] },
    { target: "/prometheus/../healthz", status: 200, upstream: ["/healthy"] },
    { target: "/prometheus/a/../../x", status: 404 }, // /x: no route; never upstream /x
    { target: "/prometheus/%2e%2e/%2e%2e/x", status: 400 },
    // Protocol-relative remainders must not name another host (the canary must stay silent).
    { target: `/prometheus//127.0.0.1:${C}/x`, status: 200, upstream: [`/127.0.0.1:${C}/x`] },
    { target: `/prometheus///127.0.0.1:${C}/x`, status: 200, upstream: [`/127.0.0.1:${C}/x`] },
    { target: `/prometheus/\\127.0.0.1:${C}/x`, status: 400 },
    { target: `/prometheus/\\\\127.0.0.1:${C}/x`, status: 400 },
    { target: `/prometheus/%5C127.0.0.1:${C}/x`, status: 400 },
    { target: "/prometheus%2Fmetrics", status: 400 },
    { target: "/prometheus/api%2Fv1/query", status: 400 },
    { target: "/prometheus/..%2f..%2fx", status: 400 },
    { target: "/prometheus/%c0%ae%c0%ae/x", status: 400 },
    { target: "/prometheus/x", host: "127.0.0.1/healthz", status: 400 },
    { target: "/prometheus/%41%2d%5F%7e%3b%c3%a9", status: 200, upstream: ["/A-_~%3B%C3%A9"] },
    { target: "/prometheus?x=/../../y", status: 301 },
    { target: "http://evil/prometheus/metrics", status: 200, upstream: ["/metrics"] },
  ];
}

async function runCase(gate: Gate, recorder: { seen: Seen[] }, c: Case, auth?: string) {
  const before = recorder.seen.length;
  const headers = [...(c.headers ?? [])];
  if (auth) headers.push(`Authorization: ${auth}`);
  const r = await rawGet(gate.port, c.target, { host: c.host, headers, version: c.version });
  const label = JSON.stringify({ target: c.target, host: c.host, auth: !!auth });
  assertEquals(r.status, c.status, label);
  const got = recorder.seen.slice(before).map((s) => s.target);
  assertEquals(got, c.upstream ?? [], `${label}: paths the upstream received`);
  return r;
}

Deno.test({
  ...needs("htpasswd"),
  name: "path tricks reach no protected upstream path anonymously and escape no route prefix",
  async fn() {
    const recorder = startRecorder();
    const canary = startRecorder();
    const auth = secretBasic("admin", "path-test-Secr3t");
    const gate = await startGate({ admin: "path-test-Secr3t" }, [
      { path: "/healthz", upstream: `${recorder.url}/healthy`, auth: false },
      { path: "/prometheus/", upstream: `${recorder.url}/` },
    ]);
    try {
      const anonymous = anonymousCases(gate.port, canary.port);
      for (const c of anonymous) await runCase(gate, recorder, c);
      // Everything the upstream saw from anonymous clients is the public route's path, canonical.
      for (const { target } of recorder.seen) {
        const path = target.split("?")[0];
        assert(path === "/healthy" || path.startsWith("/healthy/"), `escaped: ${target}`);
        assert(
          !/\/\/|\\|%2f|%5c|(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path),
          `not canonical: ${target}`,
        );
      }
      for (const c of authenticatedCases(canary.port)) await runCase(gate, recorder, c, auth);
      assertEquals(canary.seen.length, 0, "no request may reach another host");
      console.log(
        `path tricks: ${anonymous.length} anonymous and ` +
          `${authenticatedCases(0).length} authenticated targets checked`,
      );
    } finally {
      await gate.close();
      await recorder.close();
      await canary.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "forwarded headers come from the connection and the checked Host, never the target",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ admin: "fwd-Secr3t-pw" }, [
      { path: "/healthz", upstream: `${recorder.url}/healthy`, auth: false },
    ]);
    try {
      const r = await rawGet(gate.port, "https://evil.example/healthz");
      assertEquals(r.status, 200);
      const seen = recorder.seen.at(-1)!.headers;
      assertEquals(seen.get("x-forwarded-proto"), "http", "the connection was plain HTTP");
      assertEquals(seen.get("x-forwarded-host"), "evil.example", "RFC 9112: target authority wins");
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});
