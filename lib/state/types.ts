/**
 * The seam for state that must be one across server threads (and replicas): failed-login counts,
 * verified credentials, and notices about changes. Every operation returns a Promise so that a
 * store across the network (Redis: Lua scripts over INCRBY+PEXPIRE and sorted sets, redis.ts)
 * fits the same shape as the in-process one, which resolves at once.
 *
 * Keys are strings; the part before the first ":" is the key's namespace (e.g. "throttle.pair"),
 * which an implementation may bound on its own, so that a flood of one kind of entry cannot
 * evict another kind. Values and messages are JSON.
 */

/** A value a store keeps or carries: what JSON.stringify round-trips. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How the members of a set expire (see {@link Store.add}). */
export interface SetOptions {
  /**
   * "member" (the default): each member expires `ttlMs` after it was last added. "set": the set
   * expires as a whole `ttlMs` after its last add, however long ago each member was added (as
   * Redis SADD + PEXPIRE).
   */
  readonly expiry?: "member" | "set";
  /** At most this many members; over it, those added least recently are dropped. */
  readonly limit?: number;
}

/** Shared state with expiry, and publish/subscribe for change notices. */
export interface Store extends KeyedStore {
  /**
   * Sends `message` to every listener subscribed to `channel` (the publisher's own included),
   * asynchronously; nothing is kept for later subscribers.
   */
  publish(channel: string, message: Json): Promise<void>;
  /** Calls `listener` with every message published to `channel`; returns the unsubscribe. */
  subscribe(channel: string, listener: (message: Json) => void): () => void;
}

/**
 * The keyed half of a {@link Store}: counters, values and sets, without publish/subscribe. What
 * Redis keeps for several replicas (redis.ts); the notices between one process's threads stay in
 * the process (replicated.ts).
 */
export interface KeyedStore {
  /**
   * Adds `by` (default 1) to the counter `key` (0 when absent or expired) and makes it expire
   * `ttlMs` from now; resolves the new count. Atomic: concurrent increments all count.
   */
  increment(key: string, ttlMs: number, by?: number): Promise<number>;
  /** The value or count under `key`, or null when absent or expired. */
  get(key: string): Promise<Json>;
  /** Sets `key` to `value`, expiring `ttlMs` from now. */
  put(key: string, value: Json, ttlMs: number): Promise<void>;
  /** Removes `key` (a value, a counter or a set). */
  delete(key: string): Promise<void>;
  /**
   * Adds `member` to `set` (or renews it); resolves the set's size after the add. Callers give a
   * set one ttl and one expiry kind (as a Redis sorted set scored by expiry time would need).
   */
  add(set: string, member: string, ttlMs: number, options?: SetOptions): Promise<number>;
  /** Whether `member` is in `set` and not expired. */
  has(set: string, member: string): Promise<boolean>;
  /** Removes `member` from `set`. */
  remove(set: string, member: string): Promise<void>;
  /** Releases the store's resources; operations after it reject. */
  close(): Promise<void>;
}
