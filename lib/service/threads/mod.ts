/** A server replicated over N threads: the messages between the threads. */
export { toWire } from "./messages.ts";
export type { FromThread, ToThread } from "./messages.ts";
