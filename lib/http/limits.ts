/**
 * Per-user limits (config `limits` and `routes[].limits`): every rule whose `who` names the
 * logged-in user (directly or through an "@group") applies, the config's and the route's alike,
 * and each user is counted on its own, so one user's excess never slows another.
 *
 * - Rate (`perSecond`, `burst`): a fixed window of `burst / perSecond` seconds that admits
 *   `burst` requests: the same average as a token bucket of that size, as one atomic `increment`
 *   of a store key named by the window, which Redis does as INCRBY + PEXPIRE — so several
 *   replicas count as one (lib/service/shared_state.ts shares "limits.rate" keys). The price of
 *   the approximation: a client may send up to 2 × burst across a window boundary. Over the
 *   limit: 429 with Retry-After, the whole seconds until the window ends. Windows follow the
 *   wall clock, so replicas must keep their clocks within a fraction of a window.
 * - Concurrency (`concurrent`): a request takes a slot, a member of the store set of its user and
 *   rule, held until its response's last byte is sent or the client leaves (the handler calls
 *   `release` from logWhenSent). A slot is a lease of {@link LEASE_MS}, renewed while held, so a
 *   thread or replica that dies frees its slots within a lease. Slots are one count for the
 *   process (the server threads share the store through the main thread's broker) and, with
 *   Redis, for all replicas (lib/service/shared_state.ts shares "limits.busy" keys).
 *   A request over the limit waits in a FIFO queue of its user and rule (at most `queue` long,
 *   in this thread) for up to `queueSeconds`, then gets 429 with Retry-After of that time.
 *   A released slot wakes the head of every thread's queue (publish/subscribe); a short poll
 *   covers slots that a lease expiry or a race frees without a notice.
 */
import type { Groups, LimitRule } from "../config/mod.ts";
import type { Store } from "../state/mod.ts";
import { isListed } from "./policy.ts";

/** How long a slot stays taken without renewal (a crashed thread's slots free after it). */
export const LEASE_MS = 60_000;

/** How often the head of a queue tries for a slot without a notice. */
export const POLL_MS = 100;

/** The channel on which released slots are announced (the message: the slot set's key). */
const RELEASED = "limits.released";

/** Why a request was refused. */
export type LimitReason = "rate" | "concurrency";

/** What the limits count, for metrics (labels: the rule's label, never the user). */
export interface LimitEvents {
  refused(rule: string, reason: LimitReason): void;
  queued(rule: string): void;
  /** A slot of `rule` was taken (+1) or released (-1). */
  inFlight(rule: string, change: 1 | -1): void;
}

/** The outcome of {@link Limits.admit}. */
export type Admission =
  | { readonly ok: true; readonly release: () => void }
  | {
    readonly ok: false;
    readonly reason: LimitReason;
    readonly rule: string;
    /** Whole seconds to wait before trying again (at least 1). */
    readonly retryAfter: number;
  };

/** What a {@link Limits} needs. */
export interface LimitsOptions {
  readonly store: Store;
  readonly events?: LimitEvents;
  /** Wall clock in ms (rate windows). Default Date.now. */
  readonly now?: () => number;
  /** Lease of a slot in ms. Default {@link LEASE_MS}. */
  readonly leaseMs?: number;
  /** Poll of a queue's head in ms. Default {@link POLL_MS}. */
  readonly pollMs?: number;
}

/** A waiting request: `wake` makes it try for a slot now. */
interface Waiter {
  wake(): void;
}

const ADMITTED: Admission = { ok: true, release: () => {} };

/** The rules of `rules` that apply to `user` with `groups`. */
export function rulesFor(
  rules: readonly LimitRule[],
  user: string,
  groups: Groups,
): LimitRule[] {
  return rules.filter((rule) => isListed(user, rule.who, groups));
}

/** Admits requests under the limit rules; one per server thread, outliving reloads. */
export class Limits {
  readonly #store: Store;
  readonly #events: LimitEvents | undefined;
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  /** This thread's queues, by slot set key, head first. */
  readonly #queues = new Map<string, Waiter[]>();
  #slotIds = 0;
  readonly #prefix = crypto.randomUUID();
  readonly #unsubscribe: () => void;

  constructor(options: LimitsOptions) {
    this.#store = options.store;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? LEASE_MS;
    this.#pollMs = options.pollMs ?? POLL_MS;
    this.#unsubscribe = this.#store.subscribe(RELEASED, (key) => {
      if (typeof key === "string") this.#queues.get(key)?.[0]?.wake();
    });
  }

  /** Stops listening for released slots. */
  close(): void {
    this.#unsubscribe();
  }

  /**
   * Admits a request of `user` under `rules` (those that apply to it, see {@link rulesFor}):
   * rate limits first (a refused request takes no slot), then a slot of every concurrency limit,
   * waiting in line when needed. `signal` ends a wait (the client left).
   */
  async admit(
    rules: readonly LimitRule[],
    user: string,
    signal: AbortSignal,
  ): Promise<Admission> {
    if (rules.length === 0) return ADMITTED;
    for (const rule of rules) {
      if (rule.perSecond === null) continue;
      const refusal = await this.#rate(rule, user);
      if (refusal) return this.#refused(refusal);
    }
    const held: (() => void)[] = [];
    const releaseAll = () => held.splice(0).forEach((release) => release());
    for (const rule of rules) {
      if (rule.concurrent === null) continue;
      const slot = await this.#slot(rule, user, signal);
      if (!slot.ok) {
        releaseAll();
        // A client that left while waiting was not refused: it gets no answer at all.
        return signal.aborted ? slot : this.#refused(slot);
      }
      held.push(slot.release);
    }
    return { ok: true, release: releaseAll };
  }

  #refused(refusal: Admission & { ok: false }): Admission {
    this.#events?.refused(refusal.rule, refusal.reason);
    return refusal;
  }

  /** Counts the request in its rate window; the refusal when the window is full. */
  async #rate(rule: LimitRule, user: string): Promise<(Admission & { ok: false }) | null> {
    const windowMs = (rule.burst / rule.perSecond!) * 1000;
    const now = this.#now();
    const window = Math.floor(now / windowMs);
    const key = `limits.rate:${rule.label}:${window}:${user}`;
    const count = await this.#store.increment(key, Math.ceil(windowMs) + 1000);
    if (count <= rule.burst) return null;
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000));
    return { ok: false, reason: "rate", rule: rule.label, retryAfter };
  }

  /** Takes a slot of `rule` for `user`, waiting in line if need be. */
  async #slot(
    rule: LimitRule,
    user: string,
    signal: AbortSignal,
  ): Promise<Admission> {
    const key = `limits.busy:${rule.label}:${user}`;
    const id = `${this.#prefix}.${this.#slotIds++}`;
    const refusal: Admission = {
      ok: false,
      reason: "concurrency",
      rule: rule.label,
      retryAfter: Math.max(1, Math.ceil(rule.queueMs / 1000)),
    };
    // Only an empty line may be jumped: anyone waiting is served first (FIFO in this thread).
    if (!this.#queues.has(key) && await this.#take(key, id, rule.concurrent!)) {
      return this.#held(rule.label, key, id);
    }
    // Looked up after the await: another request may have started the line meanwhile.
    const queue = this.#queues.get(key) ?? [];
    if (queue.length >= rule.queue || rule.queueMs === 0 || signal.aborted) return refusal;
    this.#events?.queued(rule.label);
    const taken = await this.#wait(key, id, rule, queue, signal);
    return taken ? this.#held(rule.label, key, id) : refusal;
  }

  /** Waits at the end of `queue` until it is first and gets a slot, or time runs out. */
  #wait(
    key: string,
    id: string,
    rule: LimitRule,
    queue: Waiter[],
    signal: AbortSignal,
  ): Promise<boolean> {
    this.#queues.set(key, queue);
    return new Promise<boolean>((resolve) => {
      let trying = false;
      let poll: ReturnType<typeof setTimeout> | undefined;
      const finish = (taken: boolean) => {
        clearTimeout(deadline);
        clearTimeout(poll);
        signal.removeEventListener("abort", leave);
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0) {
          if (this.#queues.get(key) === queue) this.#queues.delete(key);
        } else if (at === 0) queue[0].wake(); // the next in line tries at once
        resolve(taken);
      };
      const leave = () => finish(false);
      const waiter: Waiter = {
        wake: () => {
          if (trying || queue[0] !== waiter) return;
          trying = true;
          clearTimeout(poll);
          this.#take(key, id, rule.concurrent!).then((taken) => {
            trying = false;
            if (taken) {
              if (signal.aborted || queue.indexOf(waiter) < 0) this.#free(key, id);
              else finish(true);
            } else if (queue.indexOf(waiter) >= 0) {
              poll = setTimeout(waiter.wake, this.#pollMs);
            }
          }, () => leave());
        },
      };
      const deadline = setTimeout(leave, rule.queueMs);
      signal.addEventListener("abort", leave, { once: true });
      queue.push(waiter);
      if (queue[0] === waiter) waiter.wake();
    });
  }

  /** Adds `id` to the slot set; keeps it only when that stays within `limit`. */
  async #take(key: string, id: string, limit: number): Promise<boolean> {
    const size = await this.#store.add(key, id, this.#leaseMs);
    if (size <= limit) return true;
    await this.#store.remove(key, id);
    return false;
  }

  /** A taken slot: renewed while held; `release` frees it once and wakes the waiting. */
  #held(rule: string, key: string, id: string): Admission {
    this.#events?.inFlight(rule, 1);
    const renew = setInterval(() => {
      this.#store.add(key, id, this.#leaseMs).catch(() => {});
    }, this.#leaseMs / 3);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        this.#events?.inFlight(rule, -1);
        this.#free(key, id);
      },
    };
  }

  /** Frees a slot and tells every thread's queue for it. */
  #free(key: string, id: string): void {
    this.#store.remove(key, id)
      .then(() => this.#store.publish(RELEASED, key))
      .catch(() => {});
  }
}
