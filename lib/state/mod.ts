/** Shared state: the Store seam, kept in this thread or served to several by the main thread. */
export { LocalStore } from "./local.ts";
export type { LocalStoreOptions } from "./local.ts";
export { StoreBroker, ThreadStore } from "./threads.ts";
export type { Json, SetOptions, Store } from "./types.ts";
