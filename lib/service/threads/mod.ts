/** A server replicated over N threads that act as one. */
export { startThreads } from "./group.ts";
