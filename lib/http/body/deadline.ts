/**
 * The upstream timeouts of a proxied request: no response headers within the route's timeout, and
 * (like nginx's proxy_read_timeout) no body data for that long between two reads. The clock runs
 * only while promgate waits for the upstream — never while a slow client keeps it from reading.
 *
 * Every in-flight exchange of a thread shares one interval timer that ticks while any is in flight,
 * rather than arming a timer of its own: under load that saves a setTimeout/clearTimeout pair per
 * request, and it lets work that only matters for slow exchanges (listening for the client going
 * away, see {@link UpstreamDeadline.whenOlderThan}) be skipped by the fast ones.
 */

/** What a body reader tells the deadline; see {@link UpstreamDeadline}. */
export interface ReadWatch {
  /** promgate starts waiting for the upstream (a read is about to be awaited). */
  waiting(): void;
  /** The upstream delivered (a read resolved). */
  arrived(): void;
  /** The exchange is over (body complete, cancelled or failed): stop the timer. */
  done(): void;
}

/** How often in-flight exchanges are checked: the precision of every timeout here. */
export const TICK_MS = 25;

const inFlight = new Set<UpstreamDeadline>();
let ticker: ReturnType<typeof setInterval> | undefined;

function track(d: UpstreamDeadline): void {
  inFlight.add(d);
  ticker ??= setInterval(tick, TICK_MS);
}

function untrack(d: UpstreamDeadline): void {
  inFlight.delete(d);
  // Stopped at once when the last one ends, so nothing keeps an idle thread (or a test) busy.
  if (inFlight.size === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

function tick(): void {
  const now = performance.now();
  for (const d of inFlight) d.check(now);
}

/** Calls `onExpire` once the upstream has kept promgate waiting `ms` in one stretch. */
export class UpstreamDeadline implements ReadWatch {
  readonly #started = performance.now();
  #since: number | null = this.#started;
  #over = false;
  #after: (() => void) | null = null;
  #aged: { readonly ms: number; readonly run: () => void } | null = null;

  constructor(readonly ms: number, private readonly onExpire: () => void) {
    track(this);
  }

  waiting(): void {
    this.#since = performance.now();
  }

  arrived(): void {
    this.#since = null;
  }

  done(): void {
    if (!this.#over) {
      this.#over = true;
      untrack(this);
    }
    const after = this.#after;
    this.#after = null;
    after?.();
  }

  /** Calls `callback` once the body is done (at once if it is). */
  afterDone(callback: () => void): void {
    if (this.#over) callback();
    else this.#after = callback;
  }

  /**
   * Calls `run` once, on the first tick at least `ms` after the exchange began, unless it is over
   * by then (so within `ms` + {@link TICK_MS}).
   */
  whenOlderThan(ms: number, run: () => void): void {
    this.#aged = { ms, run };
  }

  /** Called on every tick while in flight. */
  check(now: number): void {
    const aged = this.#aged;
    if (aged !== null && now - this.#started >= aged.ms) {
      this.#aged = null;
      aged.run();
    }
    if (this.#over || this.#since === null || now - this.#since < this.ms) return;
    this.#over = true;
    untrack(this);
    this.onExpire();
  }
}
