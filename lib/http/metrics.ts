/**
 * promgate's own metrics, counted: everything is counted from the same record the access log
 * writes, once per request, when its response has been sent; nothing here parses a request.
 * Label values are the route as configured (never the raw path, so cardinality stays bounded by
 * the config), the status code and the method (unknown methods folded into "other"). The
 * Prometheus text exposition format (version 0.0.4) is lib/http/metrics_text.ts's, so that the
 * Prometheus promgate guards can scrape the guard.
 */
import type { AccessRecord } from "./access_log.ts";
import type { LimitEvents } from "./limits.ts";
import {
  Counter,
  DURATION_BUCKETS,
  type Histogram,
  label,
  type MetricsSnapshot,
} from "./metrics_snapshot.ts";
import { type BuildInfo, type ReloadState, renderText, type StateHealth } from "./metrics_text.ts";

export { DURATION_BUCKETS } from "./metrics_snapshot.ts";
export type { MetricsSnapshot } from "./metrics_snapshot.ts";
export type { BuildInfo, ReloadState, StateHealth } from "./metrics_text.ts";

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
    const { build, reloads, state } = this;
    return renderText([this.snapshot(), ...others], {
      build,
      reloads,
      state,
      startedAt: this.#startedAt,
    });
  }
}
