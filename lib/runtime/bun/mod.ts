/** The Bun adapter; loaded only by lib/runtime/current.ts, under Bun. */
export { bunRuntime } from "./adapter.ts";
