/** The config file: files in, a typed Config or a clear error out. */
export { loadConfig, readTlsFiles } from "./load.ts";
export type { Config, Groups, RouteConfig, RoutePolicy, TlsConfig } from "./load.ts";
