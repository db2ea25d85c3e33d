/** A running promgate: one server (app.ts), reloads, and its threads. */
export { startService } from "./service.ts";
export type { Service } from "./types.ts";
export { configWarnings } from "./warnings.ts";
