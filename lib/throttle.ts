/**
 * Brute-force throttling of failed logins, per client address and per user name.
 *
 * Each failed password check (an unknown user or a wrong password; not a missing or malformed
 * header, which costs no hash) counts against the client's address (IPv6: its /64, which one
 * host controls) and against the user name tried. Once a key has `clientFailures` (resp.
 * `userFailures`) failures, every further failure blocks it for a delay that doubles from
 * `baseDelaySeconds` up to `maxDelaySeconds`. While a key is blocked, attempts that would need a
 * password check are answered at once with 429 and `Retry-After` — no hash is computed, no
 * connection is held — so an attacker gets at most one guess per block. Failures are forgotten
 * `forgetAfterSeconds` after the last one; a successful login clears the user's count.
 *
 * Other users are not slowed: blocks are per key, a blocked request costs nothing, and a request
 * carrying a credential already verified (a cache hit) is never throttled, so a user whose name
 * an attacker is guessing keeps working while their login is cached. Memory is bounded by
 * `maxTracked` keys per kind (least recently failed evicted first).
 */

/** Settings of the throttle; every field has a safe default ({@link DEFAULT_THROTTLE}). */
export interface ThrottleOptions {
  /** false turns throttling off. Default true. */
  readonly enabled: boolean;
  /** Failed logins from one client address (IPv6: one /64) before it is throttled. Default 5. */
  readonly clientFailures: number;
  /** Failed logins as one user name, from any client, before it is throttled. Default 10. */
  readonly userFailures: number;
  /** The first block, in seconds; each further failure doubles it. Default 1. */
  readonly baseDelaySeconds: number;
  /** The longest block, in seconds. Default 60. */
  readonly maxDelaySeconds: number;
  /** Seconds after the last failure at which a key's failures are forgotten. Default 900. */
  readonly forgetAfterSeconds: number;
  /** Most client addresses, and most user names, tracked at once. Default 10000. */
  readonly maxTracked: number;
}

/** The defaults: 5 failures per client, 10 per user, then 1 s, 2 s, 4 s … up to 60 s. */
export const DEFAULT_THROTTLE: ThrottleOptions = {
  enabled: true,
  clientFailures: 5,
  userFailures: 10,
  baseDelaySeconds: 1,
  maxDelaySeconds: 60,
  forgetAfterSeconds: 900,
  maxTracked: 10_000,
};

interface Entry {
  failures: number;
  last: number;
  blockedUntil: number;
}

/** Longest user name kept as a key; longer names share a key with their prefix. */
const MAX_USER_KEY = 256;

/** A failed or successful login, as one server thread tells the others (lib/workers.ts). */
export interface ThrottleEvent {
  readonly kind: "failed" | "succeeded";
  readonly client: string;
  readonly user: string | null;
}

/** Counts failed logins and says when a client or user must wait. */
export class Throttle {
  readonly options: ThrottleOptions;
  readonly #clients = new Map<string, Entry>();
  readonly #users = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  /** Receives every failure and success recorded here (not those from {@link apply}). */
  publish: ((event: ThrottleEvent) => void) | null = null;

  /**
   * @param options overrides of {@link DEFAULT_THROTTLE}
   * @param log receives one line when a client or user gets blocked (never a password)
   * @param now milliseconds clock (tests pass a fake one)
   */
  constructor(
    options: Partial<ThrottleOptions> = {},
    log: (line: string) => void = () => {},
    now: () => number = () => performance.now(),
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
    this.#log = log;
    this.#now = now;
  }

  /**
   * Seconds (rounded up) until `client` may try a password for `user` again; 0 when it may now.
   * Call before checking a password that is not already known to be valid.
   */
  retryAfter(client: string, user: string | null): number {
    if (!this.options.enabled) return 0;
    const now = this.#now();
    const waits = [this.#wait(this.#clients, clientKey(client), now)];
    if (user !== null) waits.push(this.#wait(this.#users, userKey(user), now));
    const ms = Math.max(...waits);
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  /** Records a failed password check by `client` as `user` (null: no name was given). */
  failed(client: string, user: string | null): void {
    if (!this.options.enabled) return;
    this.publish?.({ kind: "failed", client, user });
    this.#failed(client, user);
  }

  /** Records what another server thread's throttle recorded, so limits count every thread. */
  apply(event: ThrottleEvent): void {
    if (!this.options.enabled) return;
    if (event.kind === "failed") this.#failed(event.client, event.user);
    else if (event.user !== null) this.#users.delete(userKey(event.user));
  }

  #failed(client: string, user: string | null): void {
    const now = this.#now();
    const o = this.options;
    const c = this.#fail(this.#clients, clientKey(client), o.clientFailures, now);
    if (c) {
      this.#log(
        `login throttled: client ${client} waits ${c.seconds} s after ${c.failures} failed logins`,
      );
    }
    if (user === null) return;
    const u = this.#fail(this.#users, userKey(user), o.userFailures, now);
    if (u) {
      this.#log(
        `login throttled: user ${JSON.stringify(user.slice(0, 64))} waits ${u.seconds} s after ` +
          `${u.failures} failed logins`,
      );
    }
  }

  /** Records a successful login: the user's failures are forgotten (the client's are not). */
  succeeded(client: string, user: string): void {
    if (!this.options.enabled) return;
    this.publish?.({ kind: "succeeded", client, user });
    this.#users.delete(userKey(user));
  }

  /** Keys currently tracked (for tests and metrics). */
  get tracked(): { clients: number; users: number } {
    return { clients: this.#clients.size, users: this.#users.size };
  }

  #wait(map: Map<string, Entry>, key: string, now: number): number {
    const entry = map.get(key);
    return entry ? entry.blockedUntil - now : 0;
  }

  #fail(
    map: Map<string, Entry>,
    key: string,
    allowed: number,
    now: number,
  ): { seconds: number; failures: number } | null {
    const o = this.options;
    let entry = map.get(key);
    if (entry && now - entry.last > o.forgetAfterSeconds * 1000) entry = undefined;
    entry ??= { failures: 0, last: now, blockedUntil: 0 };
    entry.failures++;
    entry.last = now;
    map.delete(key); // re-insert: the map's order is least recently failed first
    map.set(key, entry);
    if (map.size > o.maxTracked) map.delete(map.keys().next().value!);
    if (entry.failures < allowed) return null;
    const exponent = Math.min(entry.failures - allowed, 30);
    const ms = Math.min(o.maxDelaySeconds * 1000, o.baseDelaySeconds * 1000 * 2 ** exponent);
    entry.blockedUntil = Math.max(entry.blockedUntil, now + ms);
    return { seconds: Math.ceil(ms / 1000), failures: entry.failures };
  }
}

function userKey(user: string): string {
  return user.length > MAX_USER_KEY ? user.slice(0, MAX_USER_KEY) : user;
}

/** The key of a client address: IPv4 as is, IPv6 by its /64 (IPv4-mapped IPv6 as IPv4). */
export function clientKey(address: string): string {
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  const groups = expandIpv6(address.replace(/%.*$/, ""));
  return groups ? groups.slice(0, 4).join(":") + "::/64" : address;
}

function expandIpv6(address: string): string[] | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...Array(missing).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => parseInt(g, 16).toString(16));
}
