/** A running promgate: one server (app.ts), reloads, and its threads. */
export { startService } from "./start.ts";
export { configWarnings } from "./warnings.ts";
