/**
 * Whether the shared state is in Redis now, for the metrics: one record per process, in a
 * SharedArrayBuffer, written by the store that talks to Redis (in the main thread when there are
 * server threads) and read by whichever thread answers a scrape, without asking anyone.
 */

/** BigInt64 fields: whether Redis is configured, whether it is in use now, the fallbacks. */
const CONFIGURED = 0;
const UP = 1;
const FALLBACKS = 2;
const FIELDS = 3;

/** The process's record of where its shared state is; see the module comment. */
export class StateStatus {
  readonly buffer: SharedArrayBuffer;
  readonly #fields: BigInt64Array;

  /** Wraps `buffer` (made by {@linkcode StateStatus.create}), e.g. in a server thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#fields = new BigInt64Array(buffer);
    if (this.#fields.length !== FIELDS) throw new RangeError("not a state status buffer");
  }

  /** A record for a process whose shared state is in Redis (`redis`) or in its own memory. */
  static create(redis: boolean): StateStatus {
    const status = new StateStatus(new SharedArrayBuffer(FIELDS * 8));
    Atomics.store(status.#fields, CONFIGURED, redis ? 1n : 0n);
    return status;
  }

  /** Redis is in use (true) or the local fallback is (false). */
  set up(up: boolean) {
    Atomics.store(this.#fields, UP, up ? 1n : 0n);
  }

  /** An operation on shared state was answered from this process's memory instead of Redis. */
  fellBack(): void {
    Atomics.add(this.#fields, FALLBACKS, 1n);
  }

  /** null when no Redis is configured; else whether it is in use and the fallbacks so far. */
  redis(): { up: boolean; fallbacks: number } | null {
    if (Atomics.load(this.#fields, CONFIGURED) === 0n) return null;
    return {
      up: Atomics.load(this.#fields, UP) === 1n,
      fallbacks: Number(Atomics.load(this.#fields, FALLBACKS)),
    };
  }
}
