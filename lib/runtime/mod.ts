/** The only code naming Deno or Bun: the Runtime interface and its adapters. */
export { currentRuntime } from "./current.ts";
export type * from "./types.ts";
