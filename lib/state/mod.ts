/** Shared state: the Store seam, kept in this thread or served to several by the main thread. */
export { LocalStore } from "./local.ts";
export type { LocalStoreOptions } from "./local.ts";
export { RedisStore } from "./redis.ts";
export type { RedisStoreOptions } from "./redis.ts";
export { ReplicatedStore } from "./replicated.ts";
export type { RemoteStore, ReplicatedStoreOptions } from "./replicated.ts";
export { StateStatus } from "./status.ts";
export { StoreBroker, ThreadStore } from "./threads.ts";
export type { Json, KeyedStore, SetOptions, Store } from "./types.ts";
