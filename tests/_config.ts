/** Configs written out in code, for tests that drive the handler or the router without a file. */
import { DEFAULTS } from "../lib/defaults.ts";
import type { Config, RouteConfig } from "../lib/config/types.ts";

/** A route as loadConfig builds it (prefix = path without its trailing slash), with defaults. */
export function routeConfig(
  path: string,
  upstream: string,
  overrides: Partial<RouteConfig> = {},
): RouteConfig {
  return {
    path,
    prefix: path.replace(/\/$/, ""),
    upstream: new URL(upstream),
    stripPrefix: true,
    auth: true,
    timeoutMs: 60_000,
    forwardAuthorization: false,
    policy: { allow: null, readOnly: false, admins: [] },
    forwardUser: null,
    ...overrides,
  };
}

/** A config for `routes` (sorted longest prefix first, as loadConfig does), no TLS, no log. */
export function configWith(routes: RouteConfig[], overrides: Partial<Config> = {}): Config {
  return {
    file: "/etc/promgate/config.json",
    listen: {
      hostname: "127.0.0.1",
      port: 0,
      headerTimeoutSeconds: DEFAULTS.listen.headerTimeoutSeconds,
      idleTimeoutSeconds: DEFAULTS.listen.idleTimeoutSeconds,
    },
    tls: null,
    auth: { realm: "Prometheus", htpasswdFile: "/etc/promgate/.htpasswd", throttle: null },
    routes: [...routes].sort((a, b) => b.prefix.length - a.prefix.length),
    accessLog: null,
    shutdownGraceSeconds: 10,
    workers: 1,
    groups: new Map(),
    metrics: null,
    ...overrides,
  };
}
