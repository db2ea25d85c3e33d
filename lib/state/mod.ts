/** Shared state: the Store seam, kept in this thread or served to several by the main thread. */
export { LocalStore } from "./local.ts";
export type { LocalStoreOptions } from "./local.ts";
export type { CreateRedisClient, RedisStore, RedisStoreOptions } from "./redis.ts";
export type { RemoteStore, ReplicatedStore, ReplicatedStoreOptions } from "./replicated.ts";
export { loadReplicaStores } from "./replica_stores.ts";
export type { ReplicaStores } from "./replica_stores.ts";
export { StateStatus } from "./status.ts";
export { StoreBroker, ThreadStore } from "./threads.ts";
export type { Json, KeyedStore, SetOptions, Store } from "./types.ts";
