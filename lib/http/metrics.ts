/**
 * promgate's own metrics, in the Prometheus text exposition format (version 0.0.4), so the
 * Prometheus it guards can scrape the guard. Everything is counted from the same record the access
 * log writes, once per request, when its response has been sent; nothing here parses a request.
 * Label values are the route as configured (never the raw path, so cardinality stays bounded by
 * the config), the status code and the method (unknown methods folded into "other").
 */
import process from "node:process";
import type { AccessRecord } from "./access_log.ts";
import type { LimitEvents } from "./limits.ts";

/** Upper bounds (seconds) of the duration histogram: 5 ms (a cached login) to 2 min (a slow query). */
export const DURATION_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
];

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** What a finished request adds beyond its access-log record. */
export interface RequestFacts {
  /** Why authentication failed, when it did. */
  readonly authFailure?: string;
  /** Whether a successful login was served from the credential cache. */
  readonly cacheHit?: boolean;
  /**
   * "timeout", "refused" (any other failure before headers), "unavailable" (no healthy upstream)
   * or "cut" (mid-body).
   */
  readonly upstreamError?: "timeout" | "refused" | "unavailable" | "cut";
}

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

class Counter {
  readonly values = new Map<string, number>();
  inc(labels: string, by = 1): void {
    this.values.set(labels, (this.values.get(labels) ?? 0) + by);
  }
}

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * One thread's counts as plain data (it survives postMessage), so that whichever server thread
 * answers a scrape can show the whole process: see {@link Metrics.render}.
 */
export interface MetricsSnapshot {
  readonly requests: [string, number][];
  readonly bytes: [string, number][];
  readonly authFailures: [string, number][];
  readonly upstreamErrors: [string, number][];
  readonly cache: [string, number][];
  readonly durations: [string, Histogram][];
  readonly inFlight: number;
  /** Per limit rule (lib/http/limits.ts); absent in a snapshot from before limits. */
  readonly limitRefused?: [string, number][];
  readonly limitQueued?: [string, number][];
  readonly limitInFlight?: [string, number][];
  /** Routes with several upstreams: requests and retries by route and upstream, and health. */
  readonly upstreamRequests?: [string, number][];
  readonly upstreamRetries?: [string, number][];
  readonly upstreamUp?: [string, number][];
}

/** Adds `from`'s entries to `into`'s (counters and histograms alike). */
function mergeInto<T>(into: Map<string, T>, from: [string, T][], add: (a: T, b: T) => T): void {
  for (const [key, value] of from) {
    const prior = into.get(key);
    into.set(key, prior === undefined ? value : add(prior, value));
  }
}

const addHistograms = (a: Histogram, b: Histogram): Histogram => ({
  buckets: a.buckets.map((n, i) => n + b.buckets[i]),
  sum: a.sum + b.sum,
  count: a.count + b.count,
});

/** Counts requests; `render()` gives the exposition text. */
export class Metrics {
  readonly #requests = new Counter();
  readonly #bytes = new Counter();
  readonly #authFailures = new Counter();
  readonly #upstreamErrors = new Counter();
  readonly #cache = new Counter();
  readonly #durations = new Map<string, Histogram>();
  readonly #upstreamRequests = new Counter();
  readonly #upstreamRetries = new Counter();
  readonly #startedAt = Date.now() / 1000;
  #inFlight = 0;
  readonly #limitRefused = new Counter();
  readonly #limitQueued = new Counter();
  readonly #limitInFlight = new Counter();

  /** What the per-user limits report, by rule label (never by user name). */
  readonly limits: LimitEvents = {
    refused: (rule, reason) =>
      this.#limitRefused.inc(`${label("limit", rule)},${label("reason", reason)}`),
    queued: (rule) => this.#limitQueued.inc(label("limit", rule)),
    inFlight: (rule, change) => this.#limitInFlight.inc(label("limit", rule), change),
  };
  /** [route, origin, up] of every pooled upstream now (lib/http/upstreams.ts). */
  upstreamHealth: () => [string, string, boolean][] = () => [];

  /**
   * `reloads` is the process's reload record, the same object in every server thread's view
   * (shared memory), so the reload gauges need no other thread's snapshot; `state` likewise.
   */
  constructor(
    readonly build: BuildInfo,
    readonly reloads?: ReloadState,
    readonly state?: StateHealth,
  ) {}

  /** A request began; call {@link finished} exactly once for it. */
  started(): void {
    this.#inFlight++;
  }

  /** A request failed inside promgate before it had a response (the runtime answers 500). */
  abandoned(): void {
    this.#inFlight--;
  }

  /** A request's response has been sent (or the client went away). */
  finished(record: AccessRecord, facts: RequestFacts = {}): void {
    this.#inFlight--;
    const route = label("route", record.route ?? "none");
    const method = label("method", METHODS.has(record.method) ? record.method : "other");
    this.#requests.inc(`${route},${method},${label("code", String(record.status))}`);
    this.#bytes.inc(route, record.bytes);
    this.#observe(route, record.durationMs / 1000);
    if (facts.authFailure) this.#authFailures.inc(label("reason", facts.authFailure));
    if (facts.cacheHit !== undefined) {
      this.#cache.inc(label("result", facts.cacheHit ? "hit" : "miss"));
    }
    if (facts.upstreamError) {
      this.#upstreamErrors.inc(`${route},${label("kind", facts.upstreamError)}`);
    }
  }

  /** A response already streaming was cut because its upstream stalled or broke off. */
  upstreamCut(route: string): void {
    this.#upstreamErrors.inc(`${label("route", route)},${label("kind", "cut")}`);
  }

  /** A request (or WebSocket) was sent to `origin`, one of `route`'s several upstreams. */
  upstreamRequest(route: string, origin: string): void {
    this.#upstreamRequests.inc(`${label("route", route)},${label("upstream", origin)}`);
  }

  /** A request that failed on another upstream was sent again, to `origin`. */
  upstreamRetry(route: string, origin: string): void {
    this.#upstreamRetries.inc(`${label("route", route)},${label("upstream", origin)}`);
  }

  /** The two gauges Prometheus itself exports for its config, under promgate's name. */
  #renderReloads(family: (name: string, type: string, help: string) => void, out: string[]) {
    const reloads = this.reloads!;
    family(
      "promgate_config_last_reload_successful",
      "gauge",
      "Whether the last load of the config, htpasswd, tokens and certificate files succeeded (1), or one " +
        "was refused and its previous version is still served (0).",
    );
    out.push(`promgate_config_last_reload_successful ${reloads.successful() ? 1 : 0}`);
    family(
      "promgate_config_last_reload_success_timestamp_seconds",
      "gauge",
      "When the files last all loaded successfully (start-up counts), since the Unix epoch.",
    );
    out.push(
      `promgate_config_last_reload_success_timestamp_seconds ${reloads.lastSuccessSeconds()}`,
    );
  }

  /** The per-upstream families; up in every thread's view (threads check on their own) is up. */
  #renderUpstreams(
    others: readonly MetricsSnapshot[],
    counter: (name: string, help: string, c: Counter) => void,
    family: (name: string, type: string, help: string) => void,
    out: string[],
  ): void {
    const snaps = [this.snapshot(), ...others];
    const up = new Map<string, number>();
    for (const snap of snaps) mergeInto(up, snap.upstreamUp ?? [], Math.min);
    if (up.size === 0) return;
    family(
      "promgate_upstream_up",
      "gauge",
      "Whether promgate sends requests to this upstream of a route with several (1), or " +
        "passes it over as down (0).",
    );
    for (const [labels, v] of up) out.push(`promgate_upstream_up{${labels}} ${v}`);
    const total = (pick: (s: MetricsSnapshot) => [string, number][] | undefined) => {
      const c = new Counter();
      for (const snap of snaps) mergeInto(c.values, pick(snap) ?? [], (a, b) => a + b);
      return c;
    };
    counter(
      "promgate_upstream_requests_total",
      "Requests sent to each upstream of a route with several, retries included.",
      total((s) => s.upstreamRequests),
    );
    counter(
      "promgate_upstream_retries_total",
      "Requests sent again to this upstream after another failed before answering.",
      total((s) => s.upstreamRetries),
    );
  }

  #observe(route: string, seconds: number): void {
    let h = this.#durations.get(route);
    if (!h) {
      h = { buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#durations.set(route, h);
    }
    const i = DURATION_BUCKETS.findIndex((le) => seconds <= le);
    if (i >= 0) h.buckets[i]++;
    h.sum += seconds;
    h.count++;
  }

  /** This thread's counts; see {@link MetricsSnapshot}. */
  snapshot(): MetricsSnapshot {
    return {
      requests: [...this.#requests.values],
      bytes: [...this.#bytes.values],
      authFailures: [...this.#authFailures.values],
      upstreamErrors: [...this.#upstreamErrors.values],
      cache: [...this.#cache.values],
      durations: [...this.#durations].map((
        [route, h],
      ) => [route, { ...h, buckets: [...h.buckets] }]),
      inFlight: this.#inFlight,
      limitRefused: [...this.#limitRefused.values],
      limitQueued: [...this.#limitQueued.values],
      limitInFlight: [...this.#limitInFlight.values],
      upstreamRequests: [...this.#upstreamRequests.values],
      upstreamRetries: [...this.#upstreamRetries.values],
      upstreamUp: this.upstreamHealth().map((
        [route, origin, up],
      ) => [`${label("route", route)},${label("upstream", origin)}`, up ? 1 : 0]),
    };
  }

  /**
   * The exposition text (Content-Type `text/plain; version=0.0.4`) of this thread's counts plus
   * `others` (the other server threads' snapshots).
   */
  render(others: readonly MetricsSnapshot[] = []): string {
    const sum = (a: number, b: number) => a + b;
    const total = (pick: (s: MetricsSnapshot) => [string, number][]) => {
      const c = new Counter();
      for (const snap of [this.snapshot(), ...others]) mergeInto(c.values, pick(snap), sum);
      return c;
    };
    const durations = new Map<string, Histogram>();
    for (const snap of [this.snapshot(), ...others]) {
      mergeInto(durations, snap.durations, addHistograms);
    }
    const inFlight = others.reduce((n, snap) => n + snap.inFlight, this.#inFlight);
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const counter = (name: string, help: string, c: Counter) => {
      family(name, "counter", help);
      for (const [labels, v] of c.values) out.push(`${name}{${labels}} ${v}`);
    };
    counter(
      "promgate_requests_total",
      "Requests answered, by route, method and status code.",
      total((snap) => snap.requests),
    );
    family(
      "promgate_request_duration_seconds",
      "histogram",
      "Time from receiving a request to sending its last body byte, by route.",
    );
    for (const [route, h] of durations) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += h.buckets[i];
        out.push(`promgate_request_duration_seconds_bucket{${route},le="${le}"} ${cumulative}`);
      });
      out.push(`promgate_request_duration_seconds_bucket{${route},le="+Inf"} ${h.count}`);
      out.push(`promgate_request_duration_seconds_sum{${route}} ${h.sum}`);
      out.push(`promgate_request_duration_seconds_count{${route}} ${h.count}`);
    }
    counter(
      "promgate_response_bytes_total",
      "Response body bytes sent, by route.",
      total((s) => s.bytes),
    );
    counter(
      "promgate_auth_failures_total",
      "Requests refused by authentication, by reason.",
      total((snap) => snap.authFailures),
    );
    counter(
      "promgate_auth_cache_total",
      "Successful logins, by whether the credential cache answered (hit) or a hash was computed (miss).",
      total((snap) => snap.cache),
    );
    counter(
      "promgate_upstream_errors_total",
      "Upstream failures promgate answered or cut itself, by route and kind.",
      total((snap) => snap.upstreamErrors),
    );
    counter(
      "promgate_limit_refused_total",
      "Requests refused with 429 by a per-user limit, by rule and reason (rate, concurrency).",
      total((snap) => snap.limitRefused ?? []),
    );
    counter(
      "promgate_limit_queued_total",
      "Requests that waited for a slot of a per-user concurrency limit, by rule.",
      total((snap) => snap.limitQueued ?? []),
    );
    family(
      "promgate_limit_in_flight",
      "gauge",
      "Requests holding a slot of a per-user concurrency limit now, by rule.",
    );
    for (const [labels, v] of total((snap) => snap.limitInFlight ?? []).values) {
      out.push(`promgate_limit_in_flight{${labels}} ${v}`);
    }
    this.#renderUpstreams(others, counter, family, out);
    family("promgate_requests_in_flight", "gauge", "Requests being served now.");
    out.push(`promgate_requests_in_flight ${inFlight}`);
    family("promgate_build_info", "gauge", "Always 1; the labels say which promgate this is.");
    const b = this.build;
    out.push(
      `promgate_build_info{${label("version", b.version)},${label("runtime", b.runtime)},` +
        `${label("commit", b.commit)}} 1`,
    );
    if (this.reloads) this.#renderReloads(family, out);
    const redis = this.state?.redis();
    if (redis) {
      family(
        "promgate_state_redis_up",
        "gauge",
        "1 while the state shared by replicas (failed-login counts) is in Redis; 0 while " +
          "promgate counts in its own memory because Redis is unreachable or slow.",
      );
      out.push(`promgate_state_redis_up ${redis.up ? 1 : 0}`);
      family(
        "promgate_state_redis_fallbacks_total",
        "counter",
        "Operations on shared state answered from promgate's own memory because Redis was " +
          "unreachable or slower than state.timeoutMs.",
      );
      out.push(`promgate_state_redis_fallbacks_total ${redis.fallbacks}`);
    }
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since the Unix epoch.",
    );
    out.push(`process_start_time_seconds ${this.#startedAt}`);
    return out.join("\n") + "\n";
  }
}

/** `name="value"` with the value escaped as the text format requires. */
function label(name: string, value: string): string {
  // Route names, methods and codes never need escaping; skip the three replaces for them.
  if (!NEEDS_ESCAPE.test(value)) return `${name}="${value}"`;
  return `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

const NEEDS_ESCAPE = /[\\"\n]/;
