/**
 * The data of promgate's own metrics: counters and duration histograms keyed by their label
 * text, one thread's counts as plain data (a snapshot, which survives postMessage), and how
 * snapshots add up and label values are escaped. Counting is lib/http/metrics.ts's job,
 * rendering lib/http/metrics_text.ts's.
 */

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

/** Counts by label text (`name="value",...`). */
export class Counter {
  readonly values = new Map<string, number>();
  /** Adds `by` (default 1) to the count of `labels`. */
  inc(labels: string, by = 1): void {
    this.values.set(labels, (this.values.get(labels) ?? 0) + by);
  }
}

/** Per-bucket counts (not cumulative; see {@link DURATION_BUCKETS}), sum and count. */
export interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * One thread's counts as plain data (it survives postMessage), so that whichever server thread
 * answers a scrape can show the whole process: see Metrics.render (lib/http/metrics.ts).
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
export function mergeInto<T>(
  into: Map<string, T>,
  from: [string, T][],
  add: (a: T, b: T) => T,
): void {
  for (const [key, value] of from) {
    const prior = into.get(key);
    into.set(key, prior === undefined ? value : add(prior, value));
  }
}

/** The sum of two histograms of the same buckets. */
export const addHistograms = (a: Histogram, b: Histogram): Histogram => ({
  buckets: a.buckets.map((n, i) => n + b.buckets[i]),
  sum: a.sum + b.sum,
  count: a.count + b.count,
});

/** `name="value"` with the value escaped as the text format requires. */
export function label(name: string, value: string): string {
  // Route names, methods and codes never need escaping; skip the three replaces for them.
  if (!NEEDS_ESCAPE.test(value)) return `${name}="${value}"`;
  return `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

const NEEDS_ESCAPE = /[\\"\n]/;
