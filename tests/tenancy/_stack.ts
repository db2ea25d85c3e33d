/**
 * The multi-tenancy stack: the real Debian Prometheus over the fixture TSDB (tests/tenancy/
 * _fixture.ts) evaluating the fixture's rules, behind the real promgate over TLS with a
 * `routes[].tenancy` route and these users:
 *
 * - alice: tenant a (named directly)
 * - bob: tenant b (group team-b)
 * - carol: tenants b and c (groups team-b and team-c: the union)
 * - olivia: unrestricted (group ops)
 * - nick: in the htpasswd file but in no tenancy entry (403)
 */
import { type Service, startService } from "../_stack.ts";
import {
  basic,
  freePort,
  makeCert,
  makeHtpasswd,
  type Promgate,
  startPromgate,
  tempDir,
} from "../_util.ts";
import { LABEL, writeFixture } from "./_fixture.ts";

export const PASSWORDS = {
  alice: "alice's secret",
  bob: "bob's secret",
  carol: "carol's secret",
  olivia: "olivia's secret",
  nick: "nick's secret",
} as const;
export type User = keyof typeof PASSWORDS;

/** The route's tenancy section as the tests configure it. */
export const TENANCY = {
  label: LABEL,
  values: { alice: ["a"], "@team-b": ["b"], "@team-c": ["c"] },
  unrestricted: ["@ops"],
};
export const GROUPS = { "team-b": ["bob", "carol"], "team-c": ["carol"], ops: ["olivia"] };

/** Where the route is mounted. */
export const PREFIX = "/prometheus";

/** Prometheus over the fixture, with its rules evaluated every second. */
export async function startFixturePrometheus(dir: string, externalUrl: string): Promise<Service> {
  const { tsdb, rules } = await writeFixture(dir);
  return await startService(
    "prometheus",
    (port) => {
      const config = `${dir}/prometheus.yml`;
      Deno.writeTextFileSync(
        config,
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${rules}\n` +
          `scrape_configs:\n  - job_name: self\n    static_configs:\n` +
          `      - targets: ["127.0.0.1:${port}"]\n`,
      );
      return [
        `--config.file=${config}`,
        `--storage.tsdb.path=${tsdb}`,
        // The fixture lies at a fixed instant in the past: keep it however old it gets.
        "--storage.tsdb.retention.time=100y",
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.external-url=${externalUrl}`,
        "--web.route-prefix=/",
      ];
    },
    "/-/ready",
    30_000,
  );
}

/** promgate over TLS with the users above, one or more routes. */
export interface TenancyGate {
  /** `https://127.0.0.1:PORT` of promgate. */
  readonly base: string;
  readonly certFile: string;
  readonly gate: Promgate;
  /** fetch `prefix + path` through promgate as `user` (no credentials when user is null). */
  as(user: User | null, prefix?: string): (path: string, init?: RequestInit) => Promise<Response>;
  /** Stops promgate; throws unless it exited cleanly. */
  close(): Promise<void>;
}

/**
 * Starts promgate in `dir` (which gets cert.pem, key.pem and .htpasswd with the users above) on
 * `port`, with the groups above and `routes`.
 */
export async function startTenancyGate(
  dir: string,
  port: number,
  routes: Record<string, unknown>[],
): Promise<TenancyGate> {
  await makeHtpasswd(`${dir}/.htpasswd`, PASSWORDS);
  const { certFile } = await makeCert(dir, "ec");
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    groups: GROUPS,
    routes,
    accessLog: false,
  });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certFile)] });
  const base = `https://127.0.0.1:${port}`;
  return {
    base,
    certFile,
    gate,
    as: (user, prefix = PREFIX) => (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (user && !headers.has("authorization")) {
        headers.set("authorization", basic(user, PASSWORDS[user]));
      }
      return fetch(`${base}${prefix}${path}`, { ...init, headers, client });
    },
    async close() {
      client.close();
      const code = await gate.stop();
      if (code !== 0) throw new Error(`promgate exited ${code}:\n${gate.stderr()}`);
    },
  };
}

/** The running stack: promgate's `PREFIX` route over the fixture Prometheus. */
export interface TenancyStack extends TenancyGate {
  readonly prometheus: Service;
  /** fetch `path` from Prometheus itself (the ground truth, no promgate). */
  direct(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * Starts the stack in a fresh temporary directory. `tenancy` overrides the route's tenancy
 * section.
 */
export async function startTenancyStack(
  tenancy: Record<string, unknown> = TENANCY,
): Promise<TenancyStack> {
  const dir = await tempDir();
  const port = freePort();
  let prometheus: Service | undefined;
  try {
    prometheus = await startFixturePrometheus(dir, `https://127.0.0.1:${port}${PREFIX}`);
    const p = prometheus;
    const gate = await startTenancyGate(dir, port, [
      { path: `${PREFIX}/`, upstream: `${p.url}/`, tenancy },
    ]);
    return {
      ...gate,
      prometheus: p,
      direct: (path, init) => fetch(`${p.url}${path}`, init),
      async close() {
        try {
          await gate.close();
        } finally {
          await p.stop();
          await Deno.remove(dir, { recursive: true });
        }
      },
    };
  } catch (error) {
    await prometheus?.stop();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** Polls Prometheus directly until its /api/v1/alerts lists `names` firing (rules evaluated). */
export async function waitForAlerts(stack: TenancyStack, names: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await stack.direct("/api/v1/alerts");
    last = await r.text();
    const firing = new Set(
      (JSON.parse(last).data.alerts as { labels: { alertname: string }; state: string }[])
        .filter((a) => a.state === "firing").map((a) => a.labels.alertname),
    );
    if (names.every((n) => firing.has(n))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`alerts ${names.join(", ")} not firing within 20 s; last: ${last}`);
}
