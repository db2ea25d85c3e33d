/** The Deno adapter; loaded only by lib/runtime/current.ts, under Deno. */
export { denoRuntime } from "./adapter.ts";
