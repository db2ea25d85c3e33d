/**
 * `readOnly` holds whatever prefix the upstream serves Prometheus under (issue 12, item 1): the
 * policy is decided on the path the upstream receives, with the admin API, `/-/reload` and
 * `/-/quit` found at any segment boundary of it. Run against the real Debian `prometheus` with
 * its admin API and lifecycle endpoints enabled, over HTTP/1.1 and HTTP/2 (curl over TLS), for
 * the route shapes the outside test broke: a `/` catch-all in front of a Prometheus serving under
 * `/prometheus`, `/promapi/` → `…/api/`, and `/api/v1/` → a bare origin. Then the rest of the
 * stack it fronts (Alertmanager, Pushgateway), and the refusals' delivery over HTTP/2 when the
 * request carries a body.
 */
import { assert, assertEquals } from "../_assert.ts";
import { isReady, type Prometheus, startPrometheus } from "../_prometheus.ts";
import { type Service, startAlertmanager, startPushgateway } from "../_stack.ts";
import {
  freePort,
  makeCert,
  makeHtpasswd,
  needs,
  type Promgate,
  run,
  startPromgate,
  tempDir,
} from "../_util.ts";
import { leaked, registeredSecrets, secret, startRecorder } from "./_helpers.ts";

const ALICE = secret("alice-admin-pw"); // in "@ops", the routes' admins
const BOB = secret("bob-viewer-pw"); // any other logged-in user

/** promgate over TLS (so curl can speak HTTP/2 to it) with alice (in "@ops") and bob. */
interface TlsGate {
  readonly gate: Promgate;
  readonly certFile: string;
  /** Stops promgate, asserting a clean exit and no password in its output. */
  close(): Promise<void>;
}

/** Starts promgate in `dir` on `port` with `routes`, TLS, users alice and bob, `@ops` = alice. */
async function startTlsGate(dir: string, port: number, routes: unknown[]): Promise<TlsGate> {
  await makeHtpasswd(`${dir}/.htpasswd`, { alice: ALICE, bob: BOB });
  const { certFile } = await makeCert(dir, "ec");
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    groups: { ops: ["alice"] },
    routes,
  });
  return {
    gate,
    certFile,
    async close() {
      const code = await gate.stop();
      const output = gate.stdout() + gate.stderr();
      // Say how many, never which: the message itself must not print a password.
      assertEquals(leaked(output, registeredSecrets()).length, 0, "passwords in the output");
      assertEquals(code, 0, gate.stderr());
    },
  };
}

/** Read-only, with the ops group as admins. */
const READ_ONLY = { readOnly: true, admins: ["@ops"] };

/** One request by the real curl. */
interface Call {
  readonly method: string;
  readonly path: string;
  /** Logged in as; null: anonymous. */
  readonly user?: "alice" | "bob" | null;
  readonly body?: string;
  readonly contentType?: string;
  readonly version?: "--http1.1" | "--http2";
}

/** What one curl request got: "STATUS HTTPVERSION", e.g. "403 2", or curl's error. */
async function curl(tls: TlsGate, call: Call): Promise<string> {
  const user = call.user === undefined ? "bob" : call.user;
  const r = await run("curl", [
    "-sS",
    "--globoff",
    call.version ?? "--http2",
    "--cacert",
    tls.certFile,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{http_version}",
    ...(user ? ["-u", `${user}:${user === "alice" ? ALICE : BOB}`] : []),
    "-X",
    call.method,
    "--data-binary",
    call.body ?? "",
    "-H",
    `content-type: ${call.contentType ?? "application/x-www-form-urlencoded"}`,
    `${tls.gate.url}${call.path}`,
  ]);
  // A failed transfer is an answer too (e.g. a reset stream), so tests can list it.
  return r.code === 0 ? r.stdout : `curl exit ${r.code}: ${r.stderr.trim()}`;
}

/** Names of the snapshots Prometheus took under `tsdbDir` (none: the directory is absent). */
async function snapshots(tsdbDir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${tsdbDir}/snapshots`))).map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** The writes a non-admin tries, per route shape; `/-/quit` comes last, Prometheus must survive. */
const REFUSED: readonly [string, string][] = [
  // A "/" catch-all in front of a Prometheus serving under /prometheus.
  ["POST", "/prometheus/api/v1/admin/tsdb/snapshot"],
  ["POST", "/prometheus/api/v1/admin/tsdb/delete_series?match[]=up"],
  ["POST", "/prometheus/-/reload"],
  // /promapi/ -> http://prom/api/
  ["POST", "/promapi/v1/admin/tsdb/snapshot"],
  ["PUT", "/promapi/v1/admin/tsdb/clean_tombstones"],
  // /api/v1/ -> http://prom (a bare origin)
  ["POST", "/api/v1/admin/tsdb/delete_series?match[]=up"],
  ["POST", "/api/v1/admin/tsdb/snapshot"],
  ["POST", "/prometheus/-/quit"],
  ["PUT", "/prometheus/-/quit"],
];

/** Queries a non-admin runs through every route shape, GET and POST (as Grafana sends them). */
const QUERIES = ["/prometheus/api/v1/query", "/promapi/v1/query", "/api/v1/query"];

Deno.test(
  "a read-only route refuses the admin API, reload and quit to non-admins under any route shape, " +
    "over HTTP/1.1 and HTTP/2, and still runs their queries",
  needs("prometheus", "htpasswd", "curl", "openssl"),
  async () => {
    const dir = await tempDir();
    const port = freePort();
    const external = `https://127.0.0.1:${port}`;
    const prefixed = await startPrometheus(dir, `${external}/prometheus`, {
      extraArgs: ["--web.enable-admin-api", "--web.enable-lifecycle"],
      config: "global:\n  scrape_interval: 15s\n",
      routePrefix: false,
    });
    let rooted: Prometheus | undefined;
    let tls: TlsGate | undefined;
    try {
      rooted = await startPrometheus(dir, `${external}/`, {
        extraArgs: ["--web.enable-admin-api", "--web.enable-lifecycle"],
        config: "global:\n  scrape_interval: 15s\n",
      });
      const rootedTsdb = `${dir}/tsdb-${new URL(rooted.url).port}`;
      const prefixedTsdb = `${dir}/tsdb-${new URL(prefixed.url).port}`;
      tls = await startTlsGate(dir, port, [
        { path: "/", upstream: `${prefixed.url}/`, ...READ_ONLY },
        { path: "/promapi/", upstream: `${rooted.url}/api/`, ...READ_ONLY },
        { path: "/api/v1/", upstream: rooted.url, ...READ_ONLY },
      ]);
      for (const version of ["--http1.1", "--http2"] as const) {
        const want = version === "--http2" ? "2" : "1.1";
        const passed: string[] = []; // every refusal checked, so a failure lists each shape
        for (const [method, path] of REFUSED) {
          const got = await curl(tls, { method, path, version });
          if (got !== `403 ${want}`) passed.push(`${method} ${path} -> ${got}`);
        }
        assertEquals(passed, [], `bob's writes that were not refused (${version})`);
        assert(await isReady(`${prefixed.url}/prometheus/-/ready`), "Prometheus is still up");
        assertEquals(await snapshots(prefixedTsdb), [], "bob took no snapshot");
        assertEquals(await snapshots(rootedTsdb), [], "bob took no snapshot");
        for (const path of QUERIES) {
          const get = `${path}?query=vector(1)`;
          assertEquals(await curl(tls, { method: "GET", path: get, version }), `200 ${want}`, get);
          const body = "query=vector(1)";
          const post = await curl(tls, { method: "POST", path, body, version });
          assertEquals(post, `200 ${want}`, `bob: POST ${path}`);
        }
      }
      // The routes' admins get through to Prometheus itself, on every shape.
      const admin = (path: string) => curl(tls!, { method: "POST", path, user: "alice" });
      assertEquals(await admin("/prometheus/api/v1/admin/tsdb/snapshot"), "200 2");
      assertEquals((await snapshots(prefixedTsdb)).length, 1, "alice's snapshot");
      assertEquals(await admin("/prometheus/-/reload"), "200 2");
      assertEquals(await admin("/promapi/v1/admin/tsdb/snapshot"), "200 2");
      assertEquals((await snapshots(rootedTsdb)).length, 1, "alice's snapshot");
      assertEquals(await admin("/api/v1/admin/tsdb/delete_series?match[]=nothing"), "204 2");
    } finally {
      await tls?.close();
      await rooted?.stop();
      await prefixed.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A silence as Alertmanager's API v2 takes it. */
const SILENCE = JSON.stringify({
  matchers: [{ name: "alertname", value: "Test", isRegex: false, isEqual: true }],
  startsAt: new Date().toISOString(),
  endsAt: new Date(Date.now() + 3_600_000).toISOString(),
  createdBy: "bob",
  comment: "read-only test",
});

const JSON_TYPE = "application/json";
const SAMPLE = "promgate_test_value 1\n";

/** Writes of Alertmanager's and Pushgateway's that a non-admin tries: [method, path, body]. */
const STACK_WRITES: readonly [string, string, string][] = [
  ["POST", "/alertmanager/api/v2/silences", SILENCE],
  ["POST", "/alertmanager/api/v2/alerts", '[{"labels":{"alertname":"Test"}}]'],
  ["DELETE", "/alertmanager/api/v2/silence/00000000-0000-0000-0000-000000000000", ""],
  ["POST", "/alertmanager/-/reload", ""],
  ["PUT", "/pushgateway/metrics/job/j", SAMPLE],
  ["POST", "/pushgateway/metrics/job/j", SAMPLE],
  // A push whose label pairs (a="api", v1="query") end like Prometheus' query endpoint.
  ["POST", "/pushgateway/metrics/job/j/a/api/v1/query", SAMPLE],
  ["DELETE", "/pushgateway/metrics/job/j", ""],
  ["PUT", "/pushgateway/api/v1/admin/wipe", ""],
];

Deno.test(
  "a read-only route refuses Alertmanager's silences and alerts and Pushgateway's pushes and " +
    "wipe to non-admins, and still serves their reads",
  needs("prometheus-alertmanager", "prometheus-pushgateway", "htpasswd", "curl", "openssl"),
  async () => {
    const dir = await tempDir();
    const port = freePort();
    const external = `https://127.0.0.1:${port}`;
    const services: Service[] = [];
    let tls: TlsGate | undefined;
    try {
      const alertmanager = await startAlertmanager(dir, `${external}/alertmanager`);
      services.push(alertmanager);
      const pushgateway = await startPushgateway(`${external}/pushgateway`);
      services.push(pushgateway);
      tls = await startTlsGate(dir, port, [
        { path: "/alertmanager/", upstream: `${alertmanager.url}/`, ...READ_ONLY },
        { path: "/pushgateway/", upstream: `${pushgateway.url}/`, ...READ_ONLY },
      ]);
      const passed: string[] = [];
      for (const [method, path, body] of STACK_WRITES) {
        const got = await curl(tls, { method, path, body, contentType: "text/plain" });
        if (got !== "403 2") passed.push(`${method} ${path} -> ${got}`);
      }
      assertEquals(passed, [], "bob's writes that were not refused");
      for (
        const path of [
          "/alertmanager/api/v2/silences",
          "/alertmanager/api/v2/alerts",
          "/alertmanager/api/v2/status",
          "/pushgateway/metrics",
          "/pushgateway/api/v1/metrics",
        ]
      ) {
        assertEquals(await curl(tls, { method: "GET", path }), "200 2", `bob: GET ${path}`);
      }
      const silences = await (await fetch(`${alertmanager.url}/api/v2/silences`)).json();
      assertEquals(silences, [], "no silence was created");
      const pushed = await (await fetch(`${pushgateway.url}/api/v1/metrics`)).json();
      assertEquals(pushed.data, [], "nothing was pushed");
      // The routes' admins may write.
      const silence = { path: "/alertmanager/api/v2/silences", body: SILENCE };
      const asAlice = { method: "POST", user: "alice", contentType: JSON_TYPE } as const;
      assertEquals(await curl(tls, { ...asAlice, ...silence }), "200 2");
      const push = { path: "/pushgateway/metrics/job/j", body: SAMPLE, contentType: "text/plain" };
      assertEquals(await curl(tls, { ...asAlice, ...push, method: "PUT" }), "200 2");
    } finally {
      await tls?.close();
      for (const service of services) await service.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "over HTTP/2, a 401 or 403 for a request with a body reaches the client, every time",
  needs("htpasswd", "curl", "openssl"),
  async () => {
    const dir = await tempDir();
    const upstream = startRecorder();
    let tls: TlsGate | undefined;
    try {
      tls = await startTlsGate(dir, freePort(), [
        { path: "/am/", upstream: `${upstream.url}/`, ...READ_ONLY },
      ]);
      // Answered while the body was still arriving, the stream used to be reset about half the
      // time (curl: "Stream error in the HTTP/2 framing layer"), so the client saw no answer.
      const answers = new Map<string, number>();
      const count = (answer: string) => answers.set(answer, (answers.get(answer) ?? 0) + 1);
      for (let i = 0; i < 20; i++) {
        const refused = { method: "POST", path: "/am/api/v2/silences", body: SILENCE };
        count(`bob: ${await curl(tls, { ...refused, contentType: JSON_TYPE })}`);
        count(`anonymous: ${await curl(tls, { ...refused, user: null })}`);
      }
      assertEquals(Object.fromEntries(answers), { "bob: 403 2": 20, "anonymous: 401 2": 20 });
      assertEquals(upstream.seen.length, 0);
    } finally {
      await tls?.close();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
