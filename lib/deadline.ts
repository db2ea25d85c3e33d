/**
 * One timer per proxied request for both upstream timeouts: no response headers within the
 * route's timeout, and (like nginx's proxy_read_timeout) no body data for that long between two
 * reads. The clock runs only while promgate waits for the upstream — never while a slow client
 * keeps it from reading — and re-arms itself lazily, so a fast exchange costs one setTimeout.
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

/** Calls `onExpire` once the upstream has kept promgate waiting `ms` in one stretch. */
export class UpstreamDeadline implements ReadWatch {
  #since: number | null = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #over = false;
  #after: (() => void) | null = null;

  constructor(readonly ms: number, private readonly onExpire: () => void) {
    this.#arm(ms);
  }

  waiting(): void {
    this.#since = performance.now();
  }

  arrived(): void {
    this.#since = null;
  }

  done(): void {
    this.#over = true;
    clearTimeout(this.#timer);
    const after = this.#after;
    this.#after = null;
    after?.();
  }

  /** Calls `callback` once the body is done (at once if it is). */
  afterDone(callback: () => void): void {
    if (this.#over) callback();
    else this.#after = callback;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#check(), delay);
  }

  #check(): void {
    if (this.#over) return;
    if (this.#since === null) return this.#arm(this.ms);
    const waited = performance.now() - this.#since;
    if (waited >= this.ms) {
      this.#over = true;
      this.onExpire();
    } else {
      this.#arm(this.ms - waited);
    }
  }
}
