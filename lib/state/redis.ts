/**
 * The keyed part of a {@link Store} kept in Redis, so that several promgate replicas count as one
 * (lib/state/replicated.ts puts it in front of a local fallback). Client: `@redis/client`, the
 * Redis project's own Node client, which the caller loads and hands in (see
 * {@link RedisStoreOptions.createClient}).
 *
 * Layout, every key under `keyPrefix`:
 * - a counter or a value is a string: INCRBY / SET … PX of JSON text (a count's text is its JSON),
 *   so `get` reads both alike;
 * - a set is a sorted set. A member's score is when it expires, in µs of Redis' own clock
 *   (per-member expiry), or — in a set that expires whole — when it was added, minus 10^16
 *   (negative: it has no expiry of its own). In both the lowest score is the member added least
 *   recently, which `limit` drops first. (µs since 1970 stay below 2^53, where doubles are exact.)
 *
 * Each operation is one command or one Lua script, so it is atomic however many replicas run it
 * at once; the scripts read the time from Redis (TIME), so the replicas' clocks need not agree.
 * Commands are not queued while disconnected: they fail at once, and the caller falls back.
 */
import type { Json, KeyedStore, SetOptions } from "./types.ts";

/** Where and how to reach Redis. */
export interface RedisStoreOptions {
  /** redis://[user@]host:port/db or rediss:// (TLS). A password here is refused by the config. */
  readonly url: string;
  /** The password (AUTH), read from the config's passwordFile; never logged. */
  readonly password?: string;
  /** Put before every key, so that one Redis can serve other programs. Default "promgate:". */
  readonly keyPrefix?: string;
  /** Longest wait for a TCP (and TLS) connection, in ms. Default 1000. */
  readonly connectTimeoutMs?: number;
  /**
   * `createClient` of `@redis/client`. The main thread loads the library (lib/service/
   * shared_state.ts), not this file: the binary bundles, for each server thread, every module
   * its files import, by `import()` too, and every thread imports lib/state/ — so an import here
   * would put the client's ~500 KB in the binary twice, for threads that never connect.
   */
  readonly createClient: CreateRedisClient;
}

/** `createClient` of `@redis/client`, as far as this store uses it. */
export type CreateRedisClient = (options: {
  url: string;
  password?: string;
  disableOfflineQueue: boolean;
  socket: { connectTimeout: number; reconnectStrategy: (retries: number) => number };
}) => unknown;

/** The subset of the client this store uses (the library's own types are much wider). */
interface Client {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  destroy(): void;
  readonly isReady: boolean;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** Reconnection backoff: 100 ms doubling to 5 s, with jitter so replicas do not retry in step. */
function backoff(retries: number): number {
  return Math.min(100 * 2 ** Math.min(retries, 6), 5000) * (0.75 + Math.random() / 2);
}

/** Redis' clock in microseconds (scripts that read it need effects replication before Redis 7). */
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

/**
 * Sets: adds (or renews) ARGV[1], ttl ARGV[2] ms, ARGV[3] "member" or "set", at most ARGV[4]
 * members. A score never ties with the highest one: the order of adds is kept within a µs too.
 */
const ADD = NOW + `
local ttl = tonumber(ARGV[2])
local score = now - 1e16
if ARGV[3] == 'member' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now)
  score = now + ttl * 1000
end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= score and top[1] ~= ARGV[1] then score = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[1], score, ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[4])
if n > limit then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - limit - 1)
  n = limit
end
local left = redis.call('PTTL', KEYS[1])
if ARGV[3] == 'set' or left < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return n
`;

/** Whether ARGV[1] is in set KEYS[1] and not expired (see the module comment on scores). */
const HAS = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
if tonumber(score) < 0 then return 1 end
` + NOW + `
if tonumber(score) > now then return 1 end
return 0
`;

/** Counters: INCRBY and PEXPIRE as one. */
const INCREMENT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
`;

/** A Lua script with its SHA-1, run by EVALSHA (EVAL once when Redis does not have it yet). */
class Script {
  /** Its SHA-1 in hex, as Redis names it: set when the store connects (Web Crypto is async). */
  sha = "";
  constructor(readonly text: string) {}

  async digest(): Promise<void> {
    const bytes = new Uint8Array(
      await crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.text)),
    );
    this.sha = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
}

const SCRIPTS = { add: new Script(ADD), has: new Script(HAS), increment: new Script(INCREMENT) };

/** Most members a set keeps when the caller sets no limit (as LocalStore's default). */
const MAX_MEMBERS = 10_000;

/** A {@link KeyedStore} in Redis; see the module comment. */
export class RedisStore implements KeyedStore {
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  #client: Client | null = null;
  /** The connection under way (it resolves once ready, however many retries that takes). */
  #connecting: Promise<void> | null = null;
  /** Why the connection last failed, said when a command cannot be sent for want of one. */
  #lastError = "not connected yet";
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.#options = options;
    this.#prefix = options.keyPrefix ?? "promgate:";
  }

  /**
   * Starts connecting, and reconnecting whenever the connection drops, with backoff; resolves
   * once connected, or rejects with the first failure (while it goes on trying).
   */
  connect(): Promise<void> {
    this.#connecting ??= this.#open();
    return this.#connecting;
  }

  async #open(): Promise<void> {
    await Promise.all(Object.values(SCRIPTS).map((script) => script.digest()));
    if (this.#closed) throw new Error("the store is closed");
    const client = this.#options.createClient({
      url: this.#options.url,
      password: this.#options.password,
      // Fail at once while disconnected: a command must never wait for a reconnection.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: this.#options.connectTimeoutMs ?? 1000,
        reconnectStrategy: backoff,
      },
    }) as unknown as Client;
    this.#client = client;
    await new Promise<void>((resolve, reject) => {
      // Without a listener the client would throw connection errors at the process.
      client.on("error", (error) => {
        this.#lastError = error.message.split("\n")[0];
        reject(error);
      });
      client.connect().then(() => resolve(), reject);
    });
  }

  /** Resolves when Redis answers PING (rejects when it cannot now). */
  async ping(): Promise<void> {
    await this.#command(["PING"]);
  }

  async increment(key: string, ttlMs: number, by = 1): Promise<number> {
    return Number(await this.#eval(SCRIPTS.increment, key, [String(by), ms(ttlMs)]));
  }

  async get(key: string): Promise<Json> {
    let text: unknown;
    try {
      text = await this.#command(["GET", this.#key(key)]);
    } catch (error) {
      // A set under this name is not a value (as LocalStore answers).
      if (String((error as Error)?.message).startsWith("WRONGTYPE")) return null;
      throw error;
    }
    if (text === null || text === undefined) return null;
    try {
      return JSON.parse(String(text));
    } catch {
      // Not written by promgate (a key prefix shared by mistake): absent, not a Redis failure.
      return null;
    }
  }

  async put(key: string, value: Json, ttlMs: number): Promise<void> {
    await this.#command(["SET", this.#key(key), JSON.stringify(value), "PX", ms(ttlMs)]);
  }

  async delete(key: string): Promise<void> {
    await this.#command(["UNLINK", this.#key(key)]);
  }

  async add(set: string, member: string, ttlMs: number, options: SetOptions = {}): Promise<number> {
    const limit = String(Math.max(1, Math.min(options.limit ?? MAX_MEMBERS, MAX_MEMBERS)));
    const expiry = options.expiry ?? "member";
    return Number(await this.#eval(SCRIPTS.add, set, [member, ms(ttlMs), expiry, limit]));
  }

  async has(set: string, member: string): Promise<boolean> {
    try {
      return Number(await this.#eval(SCRIPTS.has, set, [member])) === 1;
    } catch (error) {
      if (String((error as Error)?.message).startsWith("WRONGTYPE")) return false;
      throw error;
    }
  }

  async remove(set: string, member: string): Promise<void> {
    try {
      await this.#command(["ZREM", this.#key(set), member]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("WRONGTYPE")) throw error;
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#client?.destroy();
    this.#client = null;
    return Promise.resolve();
  }

  #key(key: string): string {
    return this.#prefix + key;
  }

  #command(args: string[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    if (!this.#client?.isReady) return Promise.reject(new Error(this.#lastError));
    return this.#client.sendCommand(args);
  }

  /** Runs `script` on `key` by its SHA-1; sends its text only when Redis does not know it. */
  async #eval(script: Script, key: string, args: string[]): Promise<unknown> {
    const rest = ["1", this.#key(key), ...args];
    try {
      return await this.#command(["EVALSHA", script.sha, ...rest]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
      return await this.#command(["EVAL", script.text, ...rest]);
    }
  }
}

/** A ttl as Redis takes it: whole milliseconds, at least 1. */
function ms(ttlMs: number): string {
  return String(Math.max(1, Math.ceil(ttlMs)));
}
