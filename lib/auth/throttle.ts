/**
 * Brute-force throttling of failed logins: bounds the guesses an attacker gets without letting
 * those guesses lock real users out.
 *
 * A failed password check (an unknown user or a wrong password; not a missing or malformed
 * header, which costs no hash) by client address A (IPv6: its /64, which one host controls) as
 * user name U counts under three rules, each with its own counter:
 *
 * 1. **The pair (A, U).** After `clientFailures` failures, A may not try U again for a block that
 *    doubles with every further failure from `baseDelaySeconds` up to `maxDelaySeconds`. Other
 *    names from A, and U from other addresses, are not affected: a guesser behind a load balancer
 *    or NAT does not lock out the other users of that address.
 * 2. **The user U, from any address.** After `userFailures`, U is blocked the same way — but only
 *    at addresses where U has not logged in within `knownAddressDays` ("known" pairs, learned from
 *    {@link Throttle.succeeded}). Guesses from rotating addresses bound the guesses at U without
 *    keeping U out where U has worked before.
 * 3. **The address A, by distinct names** (password spraying). Once `clientUsers` different names
 *    have failed from A, A is blocked the same way for every name it is not known for.
 *
 * A success clears only the pair's count and makes the pair known. It clears neither U's count
 * nor A's: otherwise an attacker who owns one account could reset A's count by logging in, and
 * the real user's logins would hand the attacker a fresh budget of guesses at U.
 *
 * A blocked attempt is answered at once (429) with no hash computed and no connection held, so an
 * attacker gets at most one guess per block. Its `Retry-After` is always `maxDelaySeconds`: a
 * value that is the same for every block says nothing about when this one lapses (a jittered one
 * would, averaged over a few answers), and an honest client waits at most one longest block.
 * Counters are forgotten `forgetAfterSeconds` after their last failure. Memory is bounded:
 * `maxTracked` entries per kind (least recently used evicted first), and at most
 * {@link KNOWN_ADDRESSES_PER_USER} known addresses per user, so one account logging in from many
 * addresses cannot evict other users' known addresses.
 */

import { DEFAULTS } from "../defaults.ts";

/** Settings of the throttle; every field has a safe default ({@link DEFAULT_THROTTLE}). */
export interface ThrottleOptions {
  /** false turns throttling off. Default true. */
  readonly enabled: boolean;
  /** Failed logins from one address (IPv6: one /64) as one user name before that pair waits. */
  readonly clientFailures: number;
  /** Failed logins as one user name, from any address, before it waits at unknown addresses. */
  readonly userFailures: number;
  /** Distinct user names failing from one address before it waits for names it is not known for. */
  readonly clientUsers: number;
  /** The first block, in seconds; each further failure doubles it. */
  readonly baseDelaySeconds: number;
  /** The longest block, in seconds; also the Retry-After of every 429. */
  readonly maxDelaySeconds: number;
  /** Seconds after the last failure at which a counter is forgotten. */
  readonly forgetAfterSeconds: number;
  /** Days an address where a user logged in stays known for that user; 0: no address is. */
  readonly knownAddressDays: number;
  /** Most entries tracked at once per kind (pairs, users, addresses, users with known addresses). */
  readonly maxTracked: number;
}

/** The config's throttle defaults (lib/defaults.ts), on, with a bound on what is tracked. */
export const DEFAULT_THROTTLE: ThrottleOptions = {
  enabled: true,
  ...DEFAULTS.throttle,
  maxTracked: 10_000,
};

/** Known addresses kept per user (most recently successful first). */
export const KNOWN_ADDRESSES_PER_USER = 64;

/** Longest user name kept as a key; longer names share a key with their prefix. */
const MAX_USER_KEY = 256;

const DAY_MS = 86_400_000;

/** A failure counter of one pair, user or address. */
interface Counter {
  /** Failures counted; for an address, failures since `clientUsers` names were reached. */
  failures: number;
  /** When the last failure was counted (ms). */
  last: number;
  /** Until when (ms) the key is blocked. */
  blockedUntil: number;
  /** Addresses only: hashes of the distinct names that failed, at most `clientUsers`. */
  names?: Set<number>;
}

/** A failed or successful login, as one server thread tells the others (lib/service/start.ts). */
export interface ThrottleEvent {
  readonly kind: "failed" | "succeeded";
  readonly client: string;
  readonly user: string | null;
}

/** Counts failed logins and says when a client must wait before trying a user's password. */
export class Throttle {
  readonly options: ThrottleOptions;
  /** "address\nuser" -> failures of that pair. */
  readonly #pairs = new Map<string, Counter>();
  readonly #users = new Map<string, Counter>();
  readonly #clients = new Map<string, Counter>();
  /** user -> (address -> time of its last success there). */
  readonly #known = new Map<string, Map<string, number>>();
  /** Seed of the name hashes counted per address, so nobody can pick colliding names. */
  readonly #seed = Math.floor(Math.random() * 2 ** 32);
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  /** Receives every failure and success recorded here (not those from {@link apply}). */
  publish: ((event: ThrottleEvent) => void) | null = null;

  /**
   * @param options overrides of {@link DEFAULT_THROTTLE}
   * @param log receives one line when a pair, a user or an address gets blocked (never a password)
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
   * Seconds `client` must wait before trying a password for `user`: 0 when it may now, else
   * always `maxDelaySeconds` (rounded up), which does not reveal when the block lapses. Call
   * before checking a password that is not already known to be valid.
   */
  retryAfter(client: string, user: string | null): number {
    if (!this.options.enabled) return 0;
    return this.#blocked(clientKey(client), user === null ? null : userKey(user))
      ? Math.ceil(this.options.maxDelaySeconds)
      : 0;
  }

  #blocked(client: string, user: string | null): boolean {
    const now = this.#now();
    const blocked = (map: Map<string, Counter>, key: string) =>
      (map.get(key)?.blockedUntil ?? 0) > now;
    if (user === null) return blocked(this.#clients, client);
    if (blocked(this.#pairs, pairKey(client, user))) return true;
    if (this.#isKnown(client, user, now)) return false;
    return blocked(this.#users, user) || blocked(this.#clients, client);
  }

  /** Records a failed password check by `client` as `user` (null: no name was given). */
  failed(client: string, user: string | null): void {
    if (!this.options.enabled) return;
    this.publish?.({ kind: "failed", client, user });
    this.#failed(client, user);
  }

  /**
   * Records a successful login: the pair's failures are forgotten and the address becomes known
   * for the user. The user's and the address's failures stay (see the module comment).
   */
  succeeded(client: string, user: string): void {
    if (!this.options.enabled) return;
    this.publish?.({ kind: "succeeded", client, user });
    this.#succeeded(clientKey(client), userKey(user));
  }

  /** Records what another server thread's throttle recorded, so limits count every thread. */
  apply(event: ThrottleEvent): void {
    if (!this.options.enabled) return;
    if (event.kind === "failed") this.#failed(event.client, event.user);
    else if (event.user !== null) this.#succeeded(clientKey(event.client), userKey(event.user));
  }

  /** Entries currently tracked (for tests and metrics). */
  get tracked(): { clients: number; users: number; pairs: number; knownAddresses: number } {
    let knownAddresses = 0;
    for (const addresses of this.#known.values()) knownAddresses += addresses.size;
    return {
      clients: this.#clients.size,
      users: this.#users.size,
      pairs: this.#pairs.size,
      knownAddresses,
    };
  }

  #failed(address: string, name: string | null): void {
    const now = this.#now();
    const client = clientKey(address);
    const user = name === null ? null : userKey(name);
    if (name !== null && user !== null) this.#countNameFailure(address, client, name, user, now);
    this.#countSpread(address, client, user ?? "", now);
  }

  /** Rules 1 and 2: the pair's and the user's counters. */
  #countNameFailure(address: string, client: string, name: string, user: string, now: number) {
    const shown = JSON.stringify(name.slice(0, 64));
    const pair = this.#counter(this.#pairs, pairKey(client, user), now);
    const pairMs = this.#count(pair, this.options.clientFailures, now);
    if (pairMs) {
      this.#log(
        `login throttled: client ${address} waits ${seconds(pairMs)} s for user ${shown} after ` +
          `${pair.failures} failed logins`,
      );
    }
    const counter = this.#counter(this.#users, user, now);
    const userMs = this.#count(counter, this.options.userFailures, now);
    if (userMs) {
      this.#log(
        `login throttled: user ${shown} waits ${seconds(userMs)} s after ${counter.failures} ` +
          "failed logins (not at addresses where it logged in before)",
      );
    }
  }

  /** Rule 3: the distinct names failing from the address. */
  #countSpread(address: string, client: string, user: string, now: number): void {
    const limit = this.options.clientUsers;
    const spread = this.#counter(this.#clients, client, now);
    const names = (spread.names ??= new Set());
    if (names.size < limit) names.add(this.#nameHash(user));
    if (names.size < limit) return;
    spread.failures++;
    const ms = this.#block(spread, spread.failures - 1, now);
    this.#log(
      `login throttled: client ${address} waits ${seconds(ms)} s after failed logins as ` +
        `${names.size} user names (not for names that logged in from it before)`,
    );
  }

  #succeeded(client: string, user: string): void {
    this.#pairs.delete(pairKey(client, user));
    if (this.options.knownAddressDays <= 0) return;
    const addresses = this.#known.get(user) ?? new Map<string, number>();
    touch(this.#known, user, addresses, this.options.maxTracked);
    touch(addresses, client, this.#now(), KNOWN_ADDRESSES_PER_USER);
  }

  #isKnown(client: string, user: string, now: number): boolean {
    const since = this.#known.get(user)?.get(client);
    return since !== undefined && now - since <= this.options.knownAddressDays * DAY_MS;
  }

  /** The counter of `key` (a fresh one when absent or forgotten), as the most recently used. */
  #counter(map: Map<string, Counter>, key: string, now: number): Counter {
    let counter = map.get(key);
    if (!counter || now - counter.last > this.options.forgetAfterSeconds * 1000) {
      counter = { failures: 0, last: now, blockedUntil: 0 };
    }
    counter.last = now;
    touch(map, key, counter, this.options.maxTracked);
    return counter;
  }

  /** Counts one failure; from the `allowed`-th on, blocks and returns the block's ms (else 0). */
  #count(counter: Counter, allowed: number, now: number): number {
    counter.failures++;
    return counter.failures < allowed ? 0 : this.#block(counter, counter.failures - allowed, now);
  }

  /** Blocks for baseDelay × 2^doublings (at most maxDelay); returns the block's ms. */
  #block(counter: Counter, doublings: number, now: number): number {
    const o = this.options;
    const ms = Math.min(
      o.maxDelaySeconds * 1000,
      o.baseDelaySeconds * 1000 * 2 ** Math.min(doublings, 30),
    );
    counter.blockedUntil = Math.max(counter.blockedUntil, now + ms);
    return ms;
  }

  /** A seeded 32-bit FNV-1a hash: distinct names per address cost 4 bytes each, not 256. */
  #nameHash(name: string): number {
    let h = (0x811c9dc5 ^ this.#seed) >>> 0;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }
}

/** Sets `key` as the most recently used entry of `map`, evicting the least recent over `max`. */
function touch<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key); // re-insert: a Map iterates in insertion order, least recent first
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value!);
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function userKey(user: string): string {
  return user.length > MAX_USER_KEY ? user.slice(0, MAX_USER_KEY) : user;
}

/** Addresses never contain a newline, so no two (address, user) pairs share a key. */
function pairKey(client: string, user: string): string {
  return `${client}\n${user}`;
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
