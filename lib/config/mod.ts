/** The config file: files in, a typed Config or a clear error out. */
export { loadConfig } from "./load.ts";
export { readTlsFiles } from "./files.ts";
export type {
  BalanceMode,
  Config,
  Groups,
  HealthCheckConfig,
  JwtConfig,
  JwtKeySource,
  LimitRule,
  OidcConfig,
  RouteConfig,
  RoutePolicy,
  StateConfig,
  TenancyApi,
  TenancyConfig,
  TlsConfig,
} from "./types.ts";
