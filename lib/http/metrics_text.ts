/**
 * The Prometheus text exposition format (version 0.0.4) of promgate's own metrics: every
 * family's HELP, TYPE and samples, from the server threads' snapshots added up (counters and
 * histograms sum; an upstream is up only if every thread sees it up) plus the gauges read at
 * scrape time (build, reloads, shared state, process).
 */
import process from "node:process";
import {
  addHistograms,
  Counter,
  DURATION_BUCKETS,
  type Histogram,
  label,
  mergeInto,
  type MetricsSnapshot,
} from "./metrics_snapshot.ts";

/** Whether the files promgate serves loaded (lib/service/reload_status.ts), for the reload gauges. */
export interface ReloadState {
  /** Whether the last load of every file succeeded. */
  successful(): boolean;
  /** When the last load left every file good (start-up counts), in seconds since the epoch. */
  lastSuccessSeconds(): number;
}

/** Where the state shared by replicas is (lib/state/status.ts), for the state metrics. */
export interface StateHealth {
  /** null when no Redis is configured; else whether it is in use and the fallbacks so far. */
  redis(): { up: boolean; fallbacks: number } | null;
}

/** Build facts shown in promgate_build_info. */
export interface BuildInfo {
  readonly version: string;
  readonly runtime: string;
  readonly commit: string;
}

/** What a scrape shows beyond the counts. */
export interface ScrapeFacts {
  readonly build: BuildInfo;
  readonly reloads?: ReloadState;
  readonly state?: StateHealth;
  /** When the process started, in seconds since the epoch. */
  readonly startedAt: number;
}

/** The exposition lines being written. */
class Text {
  readonly lines: string[] = [];
  /** A family's HELP and TYPE lines. */
  family(name: string, type: string, help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  /** A counter family with one sample per label set. */
  counter(name: string, help: string, c: Counter): void {
    this.family(name, "counter", help);
    for (const [labels, v] of c.values) this.lines.push(`${name}{${labels}} ${v}`);
  }
  /** A gauge family with one sample, labelled or not. */
  gauge(name: string, help: string, value: number, labels = ""): void {
    this.family(name, "gauge", help);
    this.lines.push(labels ? `${name}{${labels}} ${value}` : `${name} ${value}`);
  }
}

/**
 * The exposition text (Content-Type `text/plain; version=0.0.4`) of `snaps` (this thread's
 * first, then the other server threads') and `facts`.
 */
export function renderText(snaps: readonly MetricsSnapshot[], facts: ScrapeFacts): string {
  const text = new Text();
  const total = (pick: (s: MetricsSnapshot) => [string, number][] | undefined) => {
    const c = new Counter();
    for (const snap of snaps) mergeInto(c.values, pick(snap) ?? [], (a, b) => a + b);
    return c;
  };
  renderRequests(text, snaps, total);
  renderLimits(text, total);
  renderUpstreams(text, snaps, total);
  const inFlight = snaps.reduce((n, snap) => n + snap.inFlight, 0);
  text.gauge("promgate_requests_in_flight", "Requests being served now.", inFlight);
  const b = facts.build;
  const built = `${label("version", b.version)},${label("runtime", b.runtime)},` +
    `${label("commit", b.commit)}`;
  text.gauge("promgate_build_info", "Always 1; the labels say which promgate this is.", 1, built);
  if (facts.reloads) renderReloads(text, facts.reloads);
  const redis = facts.state?.redis();
  if (redis) renderRedis(text, redis);
  const rss = process.memoryUsage.rss();
  text.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss);
  text.gauge(
    "process_start_time_seconds",
    "Start time of the process since the Unix epoch.",
    facts.startedAt,
  );
  return text.lines.join("\n") + "\n";
}

/** Adds up one counter over every snapshot. */
type Total = (pick: (s: MetricsSnapshot) => [string, number][] | undefined) => Counter;

/** The families every request counts in: requests, durations, bytes, logins, upstream errors. */
function renderRequests(text: Text, snaps: readonly MetricsSnapshot[], total: Total): void {
  text.counter(
    "promgate_requests_total",
    "Requests answered, by route, method and status code.",
    total((snap) => snap.requests),
  );
  const durations = new Map<string, Histogram>();
  for (const snap of snaps) mergeInto(durations, snap.durations, addHistograms);
  text.family(
    "promgate_request_duration_seconds",
    "histogram",
    "Time from receiving a request to sending its last body byte, by route.",
  );
  for (const [route, h] of durations) {
    let cumulative = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cumulative += h.buckets[i];
      text.lines.push(
        `promgate_request_duration_seconds_bucket{${route},le="${le}"} ${cumulative}`,
      );
    });
    text.lines.push(`promgate_request_duration_seconds_bucket{${route},le="+Inf"} ${h.count}`);
    text.lines.push(`promgate_request_duration_seconds_sum{${route}} ${h.sum}`);
    text.lines.push(`promgate_request_duration_seconds_count{${route}} ${h.count}`);
  }
  text.counter(
    "promgate_response_bytes_total",
    "Response body bytes sent, by route.",
    total((s) => s.bytes),
  );
  text.counter(
    "promgate_auth_failures_total",
    "Requests refused by authentication, by reason.",
    total((snap) => snap.authFailures),
  );
  text.counter(
    "promgate_auth_cache_total",
    "Successful logins, by whether the credential cache answered (hit) or a hash was computed (miss).",
    total((snap) => snap.cache),
  );
  text.counter(
    "promgate_upstream_errors_total",
    "Upstream failures promgate answered or cut itself, by route and kind.",
    total((snap) => snap.upstreamErrors),
  );
}

/** The per-user limits' families, by rule (lib/http/limits.ts). */
function renderLimits(text: Text, total: Total): void {
  text.counter(
    "promgate_limit_refused_total",
    "Requests refused with 429 by a per-user limit, by rule and reason (rate, concurrency).",
    total((snap) => snap.limitRefused),
  );
  text.counter(
    "promgate_limit_queued_total",
    "Requests that waited for a slot of a per-user concurrency limit, by rule.",
    total((snap) => snap.limitQueued),
  );
  text.family(
    "promgate_limit_in_flight",
    "gauge",
    "Requests holding a slot of a per-user concurrency limit now, by rule.",
  );
  for (const [labels, v] of total((snap) => snap.limitInFlight).values) {
    text.lines.push(`promgate_limit_in_flight{${labels}} ${v}`);
  }
}

/** The per-upstream families; up in every thread's view (threads check on their own) is up. */
function renderUpstreams(text: Text, snaps: readonly MetricsSnapshot[], total: Total): void {
  const up = new Map<string, number>();
  for (const snap of snaps) mergeInto(up, snap.upstreamUp ?? [], Math.min);
  if (up.size === 0) return;
  text.family(
    "promgate_upstream_up",
    "gauge",
    "Whether promgate sends requests to this upstream of a route with several (1), or " +
      "passes it over as down (0).",
  );
  for (const [labels, v] of up) text.lines.push(`promgate_upstream_up{${labels}} ${v}`);
  text.counter(
    "promgate_upstream_requests_total",
    "Requests sent to each upstream of a route with several, retries included.",
    total((s) => s.upstreamRequests),
  );
  text.counter(
    "promgate_upstream_retries_total",
    "Requests sent again to this upstream after another failed before answering.",
    total((s) => s.upstreamRetries),
  );
}

/** The two gauges Prometheus itself exports for its config, under promgate's name. */
function renderReloads(text: Text, reloads: ReloadState): void {
  text.gauge(
    "promgate_config_last_reload_successful",
    "Whether the last load of the config, htpasswd, tokens and certificate files succeeded (1), or one " +
      "was refused and its previous version is still served (0).",
    reloads.successful() ? 1 : 0,
  );
  text.gauge(
    "promgate_config_last_reload_success_timestamp_seconds",
    "When the files last all loaded successfully (start-up counts), since the Unix epoch.",
    reloads.lastSuccessSeconds(),
  );
}

/** Whether the state shared by replicas is in Redis, and how often promgate fell back. */
function renderRedis(text: Text, redis: { up: boolean; fallbacks: number }): void {
  text.gauge(
    "promgate_state_redis_up",
    "1 while the state shared by replicas (failed-login counts) is in Redis; 0 while " +
      "promgate counts in its own memory because Redis is unreachable or slow.",
    redis.up ? 1 : 0,
  );
  text.family(
    "promgate_state_redis_fallbacks_total",
    "counter",
    "Operations on shared state answered from promgate's own memory because Redis was " +
      "unreachable or slower than state.timeoutMs.",
  );
  text.lines.push(`promgate_state_redis_fallbacks_total ${redis.fallbacks}`);
}
