/**
 * The store of a promgate that is one of several replicas: the keys that must be one across the
 * replicas (those `shared` selects: the failed-login counts) live in a remote store (Redis,
 * redis.ts); everything else — and publish/subscribe, which carries the notices between this
 * process's own threads (file changes, metrics for a scrape) — stays in this process's
 * {@link LocalStore}.
 *
 * Redis must never make promgate fail or wait: every remote operation gets at most `timeoutMs`;
 * one that fails or takes longer is answered by the local store instead, and from then on the
 * shared keys live locally (each replica counting alone) while a probe (PING, every `probeMs`)
 * waits for Redis to answer again; the client itself reconnects with backoff meanwhile. Both
 * switches are logged once and shown in the {@link StateStatus}. What was counted locally during
 * an outage stays local: when Redis is back, the replicas go on from Redis' counts.
 */
import { LocalStore } from "./local.ts";
import type { StateStatus } from "./status.ts";
import type { Json, KeyedStore, SetOptions, Store } from "./types.ts";

/** A keyed store across the network: connects in the background and can be probed. */
export interface RemoteStore extends KeyedStore {
  /**
   * Starts connecting (and reconnecting); resolves once connected, or rejects with the first
   * failure while it goes on trying.
   */
  connect(): Promise<void>;
  /** Resolves when the remote store answers now. */
  ping(): Promise<void>;
}

/** What a {@link ReplicatedStore} needs. */
export interface ReplicatedStoreOptions {
  readonly remote: RemoteStore;
  /** Whether `key` is one the replicas share (kept in `remote`). */
  readonly shared: (key: string) => boolean;
  /** Longest wait for the remote store, per operation, in ms. */
  readonly timeoutMs: number;
  /** How the remote store is named in log lines (never with a password). */
  readonly name: string;
  readonly log: (line: string) => void;
  /** Where the switches and fallbacks are recorded for the metrics. */
  readonly status?: StateStatus;
  /** How often a remote store that failed is tried again, in ms. Default 500. */
  readonly probeMs?: number;
  /** Where the keys live meanwhile, and the other keys always. Default: a new LocalStore. */
  readonly local?: LocalStore;
}

/** Rejects with "no answer within N ms" if `promise` takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  // A late answer or failure is dropped: the caller has moved on to the local store.
  promise.catch(() => {});
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A {@link Store} for replicas; see the module comment. */
export class ReplicatedStore implements Store {
  readonly #remote: RemoteStore;
  readonly #local: LocalStore;
  readonly #options: ReplicatedStoreOptions;
  /** Where shared keys go: nowhere yet (local), the remote store, or the local one for now. */
  #mode: "starting" | "up" | "down" = "starting";
  #probe: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(options: ReplicatedStoreOptions) {
    this.#options = options;
    this.#remote = options.remote;
    this.#local = options.local ?? new LocalStore();
    if (options.status) options.status.up = false;
  }

  /** Whether shared keys go to the remote store now. */
  get up(): boolean {
    return this.#mode === "up";
  }

  /**
   * Connects, waiting at most `waitMs` (promgate serves meanwhile from local counts); logs where
   * the shared state is. Resolves whether the remote store is in use.
   */
  async start(waitMs: number): Promise<boolean> {
    try {
      await within(this.#remote.connect().then(() => this.#remote.ping()), waitMs);
      this.#switch(true, "");
    } catch (error) {
      this.#switch(false, reason(error));
    }
    return this.#mode === "up";
  }

  increment(key: string, ttlMs: number, by = 1): Promise<number> {
    return this.#run(key, (s) => s.increment(key, ttlMs, by));
  }

  get(key: string): Promise<Json> {
    return this.#run(key, (s) => s.get(key));
  }

  put(key: string, value: Json, ttlMs: number): Promise<void> {
    return this.#run(key, (s) => s.put(key, value, ttlMs));
  }

  delete(key: string): Promise<void> {
    return this.#run(key, (s) => s.delete(key));
  }

  add(set: string, member: string, ttlMs: number, options?: SetOptions): Promise<number> {
    return this.#run(set, (s) => s.add(set, member, ttlMs, options));
  }

  has(set: string, member: string): Promise<boolean> {
    return this.#run(set, (s) => s.has(set, member));
  }

  remove(set: string, member: string): Promise<void> {
    return this.#run(set, (s) => s.remove(set, member));
  }

  /** Within this process only (see the module comment). */
  publish(channel: string, message: Json): Promise<void> {
    return this.#local.publish(channel, message);
  }

  /** Within this process only (see the module comment). */
  subscribe(channel: string, listener: (message: Json) => void): () => void {
    return this.#local.subscribe(channel, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probe !== null) clearTimeout(this.#probe);
    this.#probe = null;
    await Promise.all([this.#remote.close(), this.#local.close()]);
  }

  /** Runs `operation` on the store that holds `key` now; see the module comment. */
  async #run<T>(key: string, operation: (store: KeyedStore) => Promise<T>): Promise<T> {
    if (this.#closed || !this.#options.shared(key)) return await operation(this.#local);
    if (this.#mode === "up") {
      try {
        return await within(operation(this.#remote), this.#options.timeoutMs);
      } catch (error) {
        if (this.#closed) throw error;
        this.#switch(false, reason(error));
      }
    }
    this.#options.status?.fellBack();
    return await operation(this.#local);
  }

  /** Moves the shared keys to the remote store (`up`) or off it, logging each change once. */
  #switch(up: boolean, why: string): void {
    const was = this.#mode;
    if (was === (up ? "up" : "down")) return;
    this.#mode = up ? "up" : "down";
    const { name, log, status } = this.#options;
    if (status) status.up = up;
    if (up) {
      log(
        was === "starting"
          ? `state: sharing failed-login counts in ${name}`
          : `state: ${name} reachable again; sharing failed-login counts in it`,
      );
    } else {
      log(`state: ${name} unreachable (${why}); using local counters until it answers`);
      this.#scheduleProbe();
    }
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    this.#probe = setTimeout(async () => {
      try {
        await within(this.#remote.ping(), this.#options.timeoutMs);
      } catch {
        return this.#scheduleProbe();
      }
      this.#probe = null;
      if (!this.#closed) this.#switch(true, "");
    }, this.#options.probeMs ?? 500);
  }
}

/** A one-line reason from a failure. */
function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] || "unknown error";
}
