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
 * Counters are forgotten `forgetAfterSeconds` after their last failure.
 *
 * The counts live in a {@link Store} (lib/state/), so that every server thread sharing it counts
 * every attempt wherever it lands: per rule a counter (expiring `forgetAfterSeconds` after its
 * last failure) and a block (a key that lives as long as the block); the names failing from an
 * address as a set that lives as long as the address's count; the addresses where a user logged
 * in as a set whose members expire `knownAddressDays` after their last success, at most
 * {@link KNOWN_ADDRESSES_PER_USER} per user, so one account logging in from many addresses keeps
 * only its most recent ones. The store bounds memory per kind of key (lib/state/local.ts).
 */

import { createHash } from "node:crypto";
import { DEFAULTS } from "../defaults.ts";
import type { Store } from "../state/mod.ts";

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
}

/** The config's throttle defaults (lib/defaults.ts), on. */
export const DEFAULT_THROTTLE: ThrottleOptions = { enabled: true, ...DEFAULTS.throttle };

/** Known addresses kept per user (most recently successful first). */
export const KNOWN_ADDRESSES_PER_USER = 64;

/** Longest user name kept as a key; longer names share a key with their prefix. */
const MAX_USER_KEY = 256;

const DAY_MS = 86_400_000;

/**
 * The store's keys, by kind. Each kind is its own namespace (the text before the ":"), which the
 * store bounds on its own: a flood of failures cannot push out the known addresses. Addresses
 * never contain a newline, so no two (address, user) pairs share a key.
 */
const KEY = {
  pair: (client: string, user: string) => `throttle.pair:${client}\n${user}`,
  pairBlock: (client: string, user: string) => `throttle.pair.block:${client}\n${user}`,
  user: (user: string) => `throttle.user:${user}`,
  userBlock: (user: string) => `throttle.user.block:${user}`,
  client: (client: string) => `throttle.client:${client}`,
  clientBlock: (client: string) => `throttle.client.block:${client}`,
  clientNames: (client: string) => `throttle.client.names:${client}`,
  known: (user: string) => `throttle.known:${user}`,
};

/** Counts failed logins and says when a client must wait before trying a user's password. */
export class Throttle {
  readonly options: ThrottleOptions;
  readonly #store: Store;
  readonly #log: (line: string) => void;

  /**
   * @param store where the counts live; server threads that share it count each other's attempts
   * @param options overrides of {@link DEFAULT_THROTTLE}
   * @param log receives one line when a pair, a user or an address gets blocked (never a password)
   */
  constructor(
    store: Store,
    options: Partial<ThrottleOptions> = {},
    log: (line: string) => void = () => {},
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
    this.#store = store;
    this.#log = log;
  }

  /**
   * Seconds `client` must wait before trying a password for `user`: 0 when it may now, else
   * always `maxDelaySeconds` (rounded up), which does not reveal when the block lapses. Call
   * before checking a password that is not already known to be valid.
   */
  async retryAfter(client: string, user: string | null): Promise<number> {
    if (!this.options.enabled) return 0;
    const blocked = await this.#blocked(clientKey(client), user === null ? null : userKey(user));
    return blocked ? Math.ceil(this.options.maxDelaySeconds) : 0;
  }

  async #blocked(client: string, user: string | null): Promise<boolean> {
    const store = this.#store;
    const clientBlocked = store.get(KEY.clientBlock(client)).then((v) => v !== null);
    if (user === null) return await clientBlocked;
    const [pair, known, userBlocked, spread] = await Promise.all([
      store.get(KEY.pairBlock(client, user)).then((v) => v !== null),
      this.options.knownAddressDays > 0 ? store.has(KEY.known(user), client) : false,
      store.get(KEY.userBlock(user)).then((v) => v !== null),
      clientBlocked,
    ]);
    return pair || (!known && (userBlocked || spread));
  }

  /** Records a failed password check by `client` as `user` (null: no name was given). */
  async failed(address: string, name: string | null): Promise<void> {
    if (!this.options.enabled) return;
    const client = clientKey(address);
    const user = name === null ? null : userKey(name);
    const [lines, spread] = await Promise.all([
      name !== null && user !== null ? this.#countNameFailure(address, client, name, user) : [],
      this.#countSpread(address, client, user ?? ""),
    ]);
    for (const line of [...lines, ...spread]) this.#log(line);
  }

  /**
   * Records a successful login: the pair's failures are forgotten and the address becomes known
   * for the user. The user's and the address's failures stay (see the module comment).
   */
  async succeeded(address: string, name: string): Promise<void> {
    if (!this.options.enabled) return;
    const client = clientKey(address);
    const user = userKey(name);
    const store = this.#store;
    const days = this.options.knownAddressDays;
    await Promise.all([
      store.delete(KEY.pair(client, user)),
      store.delete(KEY.pairBlock(client, user)),
      days > 0
        ? store.add(KEY.known(user), client, days * DAY_MS, { limit: KNOWN_ADDRESSES_PER_USER })
        : 0,
    ]);
  }

  /** Rules 1 and 2: the pair's and the user's counters; resolves the lines to log. */
  async #countNameFailure(address: string, client: string, name: string, user: string) {
    const shown = JSON.stringify(name.slice(0, 64));
    const o = this.options;
    const [pair, counted] = await Promise.all([
      this.#count(KEY.pair(client, user), KEY.pairBlock(client, user), o.clientFailures),
      this.#count(KEY.user(user), KEY.userBlock(user), o.userFailures),
    ]);
    const lines: string[] = [];
    if (pair.ms) {
      lines.push(
        `login throttled: client ${address} waits ${seconds(pair.ms)} s for user ${shown} after ` +
          `${pair.failures} failed logins`,
      );
    }
    if (counted.ms) {
      lines.push(
        `login throttled: user ${shown} waits ${seconds(counted.ms)} s after ${counted.failures} ` +
          "failed logins (not at addresses where it logged in before)",
      );
    }
    return lines;
  }

  /**
   * Rule 3: the distinct names failing from the address. Its set of names lives as long as its
   * count: both are forgotten `forgetAfterSeconds` after the address's last failure.
   */
  async #countSpread(address: string, client: string, user: string): Promise<string[]> {
    const limit = this.options.clientUsers;
    const ttl = this.options.forgetAfterSeconds * 1000;
    const names = await this.#store.add(KEY.clientNames(client), nameMember(user), ttl, {
      expiry: "set",
      limit,
    });
    if (names < limit) return [];
    const spread = await this.#count(KEY.client(client), KEY.clientBlock(client), 1);
    return [
      `login throttled: client ${address} waits ${seconds(spread.ms)} s after failed logins as ` +
      `${names} user names (not for names that logged in from it before)`,
    ];
  }

  /**
   * Counts one failure under `key`; from the `allowed`-th on, blocks `block` for baseDelay ×
   * 2^(failures − allowed), at most maxDelay. Resolves the failures and the block's ms (0: none).
   */
  async #count(key: string, block: string, allowed: number) {
    const o = this.options;
    const failures = await this.#store.increment(key, o.forgetAfterSeconds * 1000);
    if (failures < allowed) {
      // A count starting afresh (forgotten or evicted) ends what was left of its old block.
      if (failures === 1) await this.#store.delete(block);
      return { failures, ms: 0 };
    }
    const doublings = Math.min(failures - allowed, 30);
    const ms = Math.min(o.maxDelaySeconds * 1000, o.baseDelaySeconds * 1000 * 2 ** doublings);
    await this.#store.put(block, true, ms);
    return { failures, ms };
  }
}

/**
 * The member a name is counted as among an address's names: 128 bits of its SHA-256, so that a
 * name costs 22 bytes rather than up to 256, and nobody can find names that count as one.
 */
function nameMember(name: string): string {
  return createHash("sha256").update(name).digest("base64").slice(0, 22);
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
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
