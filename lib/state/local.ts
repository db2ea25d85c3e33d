/**
 * The in-process store: what one server thread uses alone, and what the main thread's broker
 * (broker.ts) keeps for all of them. Memory is bounded per namespace (the key up to its first
 * ":"): at most `maxEntries` keys each, the least recently used dropped first, so that a flood of
 * failed logins from many addresses cannot push out the addresses where users logged in. A set
 * holds at most `maxMembers`. Expired entries are dropped when read, and a namespace is swept
 * whole once per `maxEntries` writes, which keeps a write O(1) on average.
 */
import type { Json, SetOptions, Store } from "./types.ts";

/** Bounds and clock of a {@link LocalStore}. */
export interface LocalStoreOptions {
  /** Most keys per namespace. Default 10,000. */
  readonly maxEntries?: number;
  /** Most members per set. Default 10,000. */
  readonly maxMembers?: number;
  /** Milliseconds clock (tests pass a fake one). Default performance.now. */
  readonly now?: () => number;
}

type Entry =
  | { kind: "value"; value: Json; expiresAt: number }
  | { kind: "set"; members: Map<string, number>; expiresAt: number };

/** One namespace: its keys in least-recently-used-first order, and writes since its sweep. */
interface Space {
  readonly entries: Map<string, Entry>;
  writes: number;
}

/** A {@link Store} in this thread's memory. */
export class LocalStore implements Store {
  readonly #spaces = new Map<string, Space>();
  readonly #channels = new Map<string, Set<(message: Json) => void>>();
  readonly #maxEntries: number;
  readonly #maxMembers: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: LocalStoreOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxMembers = options.maxMembers ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Keys and set members held, expired ones not yet dropped included (for tests). */
  get size(): number {
    let n = 0;
    for (const { entries } of this.#spaces.values()) {
      for (const entry of entries.values()) n += entry.kind === "set" ? 1 + entry.members.size : 1;
    }
    return n;
  }

  increment(key: string, ttlMs: number, by = 1): Promise<number> {
    return this.#run(() => {
      const entry = this.#live(key);
      const prior = entry?.kind === "value" && typeof entry.value === "number" ? entry.value : 0;
      const count = prior + by;
      this.#write(key, { kind: "value", value: count, expiresAt: this.#now() + ttlMs });
      return count;
    });
  }

  get(key: string): Promise<Json> {
    return this.#run(() => {
      const entry = this.#live(key);
      return entry?.kind === "value" ? entry.value : null;
    });
  }

  put(key: string, value: Json, ttlMs: number): Promise<void> {
    return this.#run(() => {
      this.#write(key, { kind: "value", value, expiresAt: this.#now() + ttlMs });
    });
  }

  delete(key: string): Promise<void> {
    return this.#run(() => {
      this.#spaces.get(namespaceOf(key))?.entries.delete(key);
    });
  }

  add(set: string, member: string, ttlMs: number, options: SetOptions = {}): Promise<number> {
    return this.#run(() => this.#add(set, member, ttlMs, options));
  }

  #add(set: string, member: string, ttlMs: number, options: SetOptions): number {
    const now = this.#now();
    const found = this.#live(set);
    const members = found?.kind === "set" ? found.members : new Map<string, number>();
    const perMember = (options.expiry ?? "member") === "member";
    // Least recently added first: with one ttl per set, that is soonest expiring first.
    for (const [m, at] of members) {
      if (at > now) break;
      members.delete(m);
    }
    members.delete(member); // re-inserted last: a Map iterates least recently added first
    members.set(member, perMember ? now + ttlMs : Infinity);
    const limit = Math.min(options.limit ?? Infinity, this.#maxMembers);
    while (members.size > limit) members.delete(members.keys().next().value!);
    const expiresAt = Math.max(found?.expiresAt ?? 0, now + ttlMs);
    this.#write(set, { kind: "set", members, expiresAt: perMember ? expiresAt : now + ttlMs });
    return members.size;
  }

  has(set: string, member: string): Promise<boolean> {
    return this.#run(() => {
      const entry = this.#live(set);
      const at = entry?.kind === "set" ? entry.members.get(member) : undefined;
      return at !== undefined && at > this.#now();
    });
  }

  remove(set: string, member: string): Promise<void> {
    return this.#run(() => {
      const entry = this.#live(set);
      if (entry?.kind === "set") entry.members.delete(member);
    });
  }

  publish(channel: string, message: Json): Promise<void> {
    return this.#run(() => {
      // A copy, as a store across a wire would deliver, so no listener shares another's object.
      const text = JSON.stringify(message);
      for (const listener of this.#channels.get(channel) ?? []) {
        queueMicrotask(() => listener(JSON.parse(text)));
      }
    });
  }

  subscribe(channel: string, listener: (message: Json) => void): () => void {
    const listeners = this.#channels.get(channel) ?? new Set();
    this.#channels.set(channel, listeners);
    // Wrapped, so that the same function subscribed twice is called twice and unsubscribed once.
    const own = (message: Json) => listener(message);
    listeners.add(own);
    return () => {
      listeners.delete(own);
      if (listeners.size === 0) this.#channels.delete(channel);
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#spaces.clear();
    this.#channels.clear();
    return Promise.resolve();
  }

  /** Runs one operation: its result at once, or a rejection (e.g. once closed). */
  #run<T>(operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The entry of `key` as the most recently used, or undefined (dropped) when expired. */
  #live(key: string): Entry | undefined {
    const entries = this.#spaces.get(namespaceOf(key))?.entries;
    const entry = entries?.get(key);
    if (!entries || !entry) return undefined;
    entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    entries.set(key, entry);
    return entry;
  }

  /** Stores `entry` as the most recently used of its namespace, within the namespace's bound. */
  #write(key: string, entry: Entry): void {
    const name = namespaceOf(key);
    let space = this.#spaces.get(name);
    if (!space) this.#spaces.set(name, space = { entries: new Map(), writes: 0 });
    const { entries } = space;
    entries.delete(key);
    entries.set(key, entry);
    if (++space.writes >= this.#maxEntries) {
      space.writes = 0;
      const now = this.#now();
      for (const [k, e] of entries) if (e.expiresAt <= now) entries.delete(k);
    }
    while (entries.size > this.#maxEntries) entries.delete(entries.keys().next().value!);
  }
}

/** The namespace of `key`: its text up to the first ":" (all of it when there is none). */
function namespaceOf(key: string): string {
  const colon = key.indexOf(":");
  return colon < 0 ? key : key.slice(0, colon);
}
