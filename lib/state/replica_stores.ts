/**
 * The stores of several replicas (lib/state/redis.ts and the local fallback around it,
 * replicated.ts), loaded when a config names a Redis: a process serving alone never holds
 * their code, in any thread.
 */
import type { RedisStore } from "./redis.ts";
import type { ReplicatedStore } from "./replicated.ts";

/** The classes {@link loadReplicaStores} hands back. */
export interface ReplicaStores {
  readonly RedisStore: typeof RedisStore;
  readonly ReplicatedStore: typeof ReplicatedStore;
}

/** Loads the Redis store and the replicated store around it. */
export async function loadReplicaStores(): Promise<ReplicaStores> {
  const [redis, replicated] = await Promise.all([import("./redis.ts"), import("./replicated.ts")]);
  return { RedisStore: redis.RedisStore, ReplicatedStore: replicated.ReplicatedStore };
}
