/**
 * The multi-tenancy fixture: series of tenants a, b and c (and some without the tenant label) as
 * OpenMetrics text, turned into a Prometheus TSDB by the real `promtool tsdb
 * create-blocks-from openmetrics`, plus alerting and recording rules per tenant.
 *
 * Every tenant's sample values lie in its own band and carry its own fraction, so a value that
 * leaks through shows as a number: a 1000..1999 (x.125), b 2000..2999 (x.375), c 3000..3999
 * (x.625), series without a tenant label 9000..9999 (x.875).
 *
 * The data is fixed in time (it ends at ANCHOR, a fixed instant), so the same seed gives the same
 * expressions and answers on every run; queries pass `time=` or `@`, and Prometheus runs with a long
 * retention so the blocks are never deleted. Run `deno run -A tests/tenancy/_fixture.ts DIR` to write
 * `tenancy.om`, `rules.yml` and the TSDB blocks (`DIR/tsdb`) by hand.
 */
import { run } from "../_util.ts";

/** Unix seconds of the last sample of every series. */
export const ANCHOR = 1_700_000_000;
/** Seconds between samples. */
export const STEP = 30;
/** Seconds of data before ANCHOR. */
export const SPAN = 3 * 3600;
/** The label that names a series' tenant. */
export const LABEL = "tenant";

/** Who owns a band of values: a tenant's name, or "" for series without the tenant label. */
export type Owner = "a" | "b" | "c" | "";

const BANDS: Record<Owner, { base: number; fraction: number }> = {
  a: { base: 1000, fraction: 0.125 },
  b: { base: 2000, fraction: 0.375 },
  c: { base: 3000, fraction: 0.625 },
  "": { base: 9000, fraction: 0.875 },
};

/** One series of the fixture with its samples ([unix seconds, value]). */
export interface FixtureSeries {
  family: string;
  type: "counter" | "gauge" | "histogram";
  name: string;
  labels: Record<string, string>;
  owner: Owner;
  samples: [number, number][];
}

/** The metric names of the fixture (histograms count as their _bucket/_sum/_count series). */
export const METRICS = {
  counter: ["tenancy_requests_total"],
  gauge: ["tenancy_temperature_celsius", "tenancy_queue_length"],
  histogram: ["tenancy_latency_seconds_bucket"],
  /** Names every tenant has, for expressions that must find data. */
  all: [
    "tenancy_requests_total",
    "tenancy_temperature_celsius",
    "tenancy_queue_length",
    "tenancy_latency_seconds_bucket",
    "tenancy_latency_seconds_sum",
    "tenancy_latency_seconds_count",
  ],
  /** Names that exist only for b, only for c, and only without a tenant label. */
  onlyB: "tenancy_b_only_gauge",
  onlyC: "tenancy_c_only_gauge",
  shared: "tenancy_shared_info",
} as const;

/** Sample times: ANCHOR - SPAN .. ANCHOR every STEP seconds. */
export function times(): number[] {
  const out: number[] = [];
  for (let t = ANCHOR - SPAN; t <= ANCHOR; t += STEP) out.push(t);
  return out;
}

/** A small deterministic integer sequence (no Math.random: the fixture is the same every time). */
function wobble(i: number, salt: number): number {
  return ((i * 2654435761 + salt * 40503) >>> 0) % 3;
}

function value(owner: Owner, offset: number): number {
  const band = BANDS[owner];
  if (offset < 0 || offset > 998) throw new Error(`fixture value out of band: ${offset}`);
  return band.base + Math.floor(offset) + band.fraction;
}

function counter(owner: Owner, salt: number, resetAt?: number): [number, number][] {
  let total = 10 + (salt % 12) * 7;
  return times().map((t, i) => {
    if (i === resetAt) total = 3;
    total += wobble(i, salt);
    return [t, value(owner, total)];
  });
}

function gauge(owner: Owner, salt: number, swing: number): [number, number][] {
  return times().map((t, i) => [
    t,
    value(owner, 450 + swing * Math.sin(i / 17 + salt) + ((i * 13 + salt) % 40)),
  ]);
}

/** Every series of the fixture. */
export function fixtureSeries(): FixtureSeries[] {
  const out: FixtureSeries[] = [];
  const add = (
    family: string,
    type: FixtureSeries["type"],
    name: string,
    labels: Record<string, string>,
    owner: Owner,
    samples: [number, number][],
  ) => out.push({ family, type, name, labels, owner, samples });
  const tenants: Owner[] = ["a", "b", "c"];
  tenants.forEach((tenant, n) => {
    let salt = n * 10;
    for (const instance of ["i1", "i2"]) {
      for (const code of ["200", "500"]) {
        salt++;
        // One series per tenant resets, so resets() and rate() have a reset to deal with.
        const resetAt = instance === "i2" && code === "200" ? 200 : undefined;
        add(
          "tenancy_requests",
          "counter",
          "tenancy_requests_total",
          { tenant, instance, code },
          tenant,
          counter(tenant, salt, resetAt),
        );
      }
    }
    for (const room of ["north", "south"]) {
      add(
        "tenancy_temperature_celsius",
        "gauge",
        "tenancy_temperature_celsius",
        { tenant, room },
        tenant,
        gauge(tenant, ++salt, 300),
      );
    }
    // c has fewer queues than a and b, so joins across tenants would change the answer.
    for (const queue of tenant === "c" ? ["q1"] : ["q1", "q2", "q3"]) {
      add(
        "tenancy_queue_length",
        "gauge",
        "tenancy_queue_length",
        { tenant, queue },
        tenant,
        gauge(tenant, ++salt, 120),
      );
    }
    histogram(tenant, ++salt).forEach((s) => out.push(s));
  });
  add(
    "tenancy_b_only_gauge",
    "gauge",
    "tenancy_b_only_gauge",
    { tenant: "b" },
    "b",
    gauge("b", 91, 50),
  );
  add(
    "tenancy_c_only_gauge",
    "gauge",
    "tenancy_c_only_gauge",
    { tenant: "c" },
    "c",
    gauge("c", 92, 50),
  );
  // Series without the tenant label must never reach a restricted user either, even when they
  // carry another label with a tenant's name (owner="a").
  add(
    "tenancy_requests",
    "counter",
    "tenancy_requests_total",
    { instance: "shared", code: "200" },
    "",
    counter("", 93),
  );
  add(
    "tenancy_temperature_celsius",
    "gauge",
    "tenancy_temperature_celsius",
    { room: "lobby", owner: "a" },
    "",
    gauge("", 94, 300),
  );
  add(
    "tenancy_shared_info",
    "gauge",
    "tenancy_shared_info",
    { version: "1.0" },
    "",
    gauge("", 95, 10),
  );
  return out;
}

/** A cumulative histogram (buckets, sum, count) for one tenant; every value stays in its band. */
function histogram(tenant: Owner, salt: number): FixtureSeries[] {
  const les = [["0.1", 0.2], ["0.5", 0.6], ["1", 0.9], ["+Inf", 1]] as const;
  const counts: number[] = [];
  let c = 5;
  for (let i = 0; i < times().length; i++) counts.push(c += wobble(i, salt));
  const series = (name: string, labels: Record<string, string>, f: (c: number) => number) => ({
    family: "tenancy_latency_seconds",
    type: "histogram" as const,
    name,
    labels: { tenant, instance: "i1", ...labels },
    owner: tenant,
    samples: times().map((t, i): [number, number] => [t, value(tenant, f(counts[i]))]),
  });
  return [
    ...les.map(([le, share]) =>
      series("tenancy_latency_seconds_bucket", { le }, (c) => Math.floor(c * share))
    ),
    series("tenancy_latency_seconds_sum", {}, (c) => c * 0.3),
    series("tenancy_latency_seconds_count", {}, (c) => c),
  ];
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/**
 * The fixture as OpenMetrics text: families contiguous, each histogram's samples grouped per
 * timestamp (as the format requires), `# EOF` last.
 */
export function openMetricsText(series = fixtureSeries()): string {
  const lines: string[] = [];
  const families = [...new Set(series.map((s) => s.family))];
  for (const family of families) {
    const members = series.filter((s) => s.family === family);
    lines.push(`# HELP ${family} Multi-tenancy test data.`, `# TYPE ${family} ${members[0].type}`);
    if (members[0].type !== "histogram") {
      for (const s of members) {
        for (const [t, v] of s.samples) lines.push(`${s.name}${labelText(s.labels)} ${v} ${t}`);
      }
      continue;
    }
    const byTenant = Map.groupBy(members, (s) => s.labels[LABEL]);
    for (const group of byTenant.values()) {
      times().forEach((t, i) => {
        for (const s of group) {
          lines.push(`${s.name}${labelText(s.labels)} ${s.samples[i][1]} ${t}`);
        }
      });
    }
  }
  lines.push("# EOF");
  return lines.join("\n") + "\n";
}

/** Every raw sample value of the given owners (to recognise a leaked number). */
export function valuesOf(owners: Owner[]): Set<number> {
  const set = new Set<number>();
  for (const s of fixtureSeries()) {
    if (owners.includes(s.owner)) { for (const [, v] of s.samples) set.add(v); }
  }
  return set;
}

/** The band a value falls in, or undefined when it is in none (a derived value). */
export function bandOf(v: number): Owner | undefined {
  for (const [owner, band] of Object.entries(BANDS) as [Owner, typeof BANDS.a][]) {
    if (v >= band.base && v < band.base + 1000 && v - Math.floor(v) === band.fraction) {
      return owner;
    }
  }
  return undefined;
}

/**
 * Rules evaluated over the fixture. Data lies in the past, so every rule reads it at ANCHOR
 * (`@ ANCHOR`): the alerts fire at any wall-clock time. Per tenant: a recording rule and an
 * alerting rule carrying the tenant label (a's and b's fire, c's does not); a group without the
 * tenant label (an alert that fires, a recording rule); and one rule across all tenants whose
 * alerts take the tenant label from the series.
 */
export function rulesYaml(): string {
  const at = `@ ${ANCHOR}`;
  const tenantGroup = (t: "a" | "b" | "c", fires: boolean) => `
  - name: tenant-${t}
    interval: 1s
    rules:
      - record: tenancy:temperature_celsius:max
        expr: max by (${LABEL}) (tenancy_temperature_celsius{${LABEL}="${t}"} ${at})
        labels:
          ${LABEL}: ${t}
      - alert: Tenancy${t.toUpperCase()}Hot
        expr: max by (${LABEL}, room) (tenancy_temperature_celsius{${LABEL}="${t}"} ${at}) ${
    fires ? ">" : "<"
  } 0
        labels:
          ${LABEL}: ${t}
          severity: page
        annotations:
          summary: "tenant ${t} is hot"`;
  return `groups:${tenantGroup("a", true)}${tenantGroup("b", true)}${tenantGroup("c", false)}
  - name: shared
    interval: 1s
    rules:
      - record: tenancy:shared_info:max
        expr: max(tenancy_shared_info ${at})
      - alert: TenancySharedDown
        expr: vector(1)
        labels:
          severity: ticket
        annotations:
          summary: "shared alert without a tenant"
  - name: across-tenants
    interval: 1s
    rules:
      - alert: TenancyQueueLong
        expr: tenancy_queue_length ${at} > 0
        labels:
          severity: ticket
`;
}

/**
 * Writes the OpenMetrics file, the rules file and the TSDB blocks into `dir` (`tenancy.om`,
 * `rules.yml`, `tsdb/`) with the real promtool, and checks the rules with `promtool check rules`.
 */
export async function writeFixture(dir: string): Promise<{ tsdb: string; rules: string }> {
  const om = `${dir}/tenancy.om`;
  const rules = `${dir}/rules.yml`;
  const tsdb = `${dir}/tsdb`;
  await Deno.writeTextFile(om, openMetricsText());
  await Deno.writeTextFile(rules, rulesYaml());
  const made = await run("promtool", ["tsdb", "create-blocks-from", "openmetrics", om, tsdb]);
  if (made.code !== 0) throw new Error(`promtool create-blocks-from failed:\n${made.stderr}`);
  const checked = await run("promtool", ["check", "rules", rules]);
  if (checked.code !== 0) {
    throw new Error(`promtool check rules failed:\n${checked.stdout}${checked.stderr}`);
  }
  return { tsdb, rules };
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) {
    console.error("usage: deno run -A tests/tenancy/_fixture.ts DIR");
    Deno.exit(2);
  }
  await Deno.mkdir(dir, { recursive: true });
  const { tsdb, rules } = await writeFixture(dir);
  console.log(`wrote ${dir}/tenancy.om, ${rules} and ${tsdb}`);
}
