/** The config file: files in, a typed Config or a clear error out. */
export { loadConfig } from "./load.ts";
export { readTlsFiles } from "./files.ts";
export type {
  Config,
  Groups,
  JwtConfig,
  JwtKeySource,
  OidcConfig,
  RouteConfig,
  RoutePolicy,
  StateConfig,
  TenancyConfig,
  TlsConfig,
} from "./types.ts";
