/**
 * Whether promgate serves what its files say, for the metrics an operator alerts on
 * (`promgate_config_last_reload_successful`, `promgate_config_last_reload_success_timestamp_seconds`,
 * named as Prometheus names its own). A reload that fails keeps the last good state serving
 * (lib/service/app.ts), which is right for availability but silent: a user removed from the htpasswd
 * file keeps working until someone reads the log. These two gauges make that visible.
 *
 * promgate loads four kinds of file on its own schedule: the config (SIGHUP, which also reads
 * everything the config names), the htpasswd file, the API tokens file and the certificate/key
 * (when they change).
 * Each kind is tracked apart, so that a good certificate renewal does not report success while
 * a broken htpasswd file is still refused: "successful" means the last load of every kind
 * succeeded, and the timestamp is the last time a load left every kind good (start-up counts).
 *
 * The record lives in a SharedArrayBuffer with one slot per server thread (lib/service/threads/),
 * so that every thread reads the whole process's state and a scrape answers the same whichever
 * thread serves it, without asking the others. The process counts as successful only when every
 * thread's last loads were; its timestamp is the earliest of the threads' (when all had last
 * been good).
 */

/**
 * What was loaded: the whole config (SIGHUP), the htpasswd file, the certificate and key, or the
 * API tokens file.
 */
export type ReloadSource = "config" | "htpasswd" | "tls" | "tokens";

const BIT: Record<ReloadSource, bigint> = { config: 1n, htpasswd: 2n, tls: 4n, tokens: 8n };
/** A successful SIGHUP re-read every file, so it clears every kind's failure. */
const ALL = 15n;

/** BigInt64 fields per thread: the failed kinds (bits of BIT), the last good time in ms. */
const FIELDS = 2;
const FAILED = 0;
const GOOD_AT = 1;

/** The process's reload record, shared by its server threads; see the module comment. */
export class ReloadStatus {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: BigInt64Array;
  readonly #slot: number;

  /** Wraps `buffer` (made by {@linkcode ReloadStatus.create}) as thread `slot`'s view. */
  constructor(buffer: SharedArrayBuffer, slot = 0) {
    this.buffer = buffer;
    this.#slots = new BigInt64Array(buffer);
    if (slot < 0 || slot >= this.#slots.length / FIELDS) {
      throw new RangeError(`reload status slot ${slot} is outside the shared buffer`);
    }
    this.#slot = slot;
  }

  /** A record for `threads` server threads, every one good as of now (start-up counts). */
  static create(threads = 1): ReloadStatus {
    const buffer = new SharedArrayBuffer(threads * FIELDS * 8);
    const slots = new BigInt64Array(buffer);
    const now = BigInt(Date.now());
    for (let i = 0; i < threads; i++) slots[i * FIELDS + GOOD_AT] = now;
    return new ReloadStatus(buffer);
  }

  /** This thread (re)started with everything loaded: good as of now. */
  started(): void {
    Atomics.store(this.#slots, this.#slot * FIELDS + FAILED, 0n);
    Atomics.store(this.#slots, this.#slot * FIELDS + GOOD_AT, BigInt(Date.now()));
  }

  /** A load of `source` succeeded and is being served. */
  succeeded(source: ReloadSource): void {
    const at = this.#slot * FIELDS;
    const clear = source === "config" ? ALL : BIT[source];
    const failed = Atomics.and(this.#slots, at + FAILED, ~clear) & ~clear;
    if (failed === 0n) Atomics.store(this.#slots, at + GOOD_AT, BigInt(Date.now()));
  }

  /** A load of `source` failed; the previous state keeps serving. */
  failed(source: ReloadSource): void {
    Atomics.or(this.#slots, this.#slot * FIELDS + FAILED, BIT[source]);
  }

  /** Whether every thread's last load of every kind succeeded. */
  successful(): boolean {
    for (let at = 0; at < this.#slots.length; at += FIELDS) {
      if (Atomics.load(this.#slots, at + FAILED) !== 0n) return false;
    }
    return true;
  }

  /** When every thread had last loaded everything successfully, in seconds since the epoch. */
  lastSuccessSeconds(): number {
    let earliest = Infinity;
    for (let at = 0; at < this.#slots.length; at += FIELDS) {
      earliest = Math.min(earliest, Number(Atomics.load(this.#slots, at + GOOD_AT)));
    }
    return earliest / 1000;
  }

  /**
   * The kinds whose last load in this thread failed, e.g. ["htpasswd"], for its log lines (the
   * other threads may not have finished the same load yet).
   */
  failing(): ReloadSource[] {
    const bits = Atomics.load(this.#slots, this.#slot * FIELDS + FAILED);
    return (Object.keys(BIT) as ReloadSource[]).filter((s) => (bits & BIT[s]) !== 0n);
  }
}
