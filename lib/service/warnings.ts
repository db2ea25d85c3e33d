/**
 * Everything promgate warns about in a config that loads: routes whose policy cannot be sound
 * (lib/http/policy.ts) and files others can change or read (lib/service/file_modes.ts). A warning never
 * stops promgate; start-up (main.ts), `--check` (lib/cli/check.ts) and every reload
 * (lib/service/app.ts) print the same lines, prefixed "warning: ".
 */
import type { Config } from "../config/mod.ts";
import { fileModeWarnings, filesOf } from "./file_modes.ts";
import { policyWarnings } from "../http/mod.ts";

/** The warnings for `config` as a whole, one line each (no prefix); [] when there are none. */
export async function configWarnings(config: Config): Promise<string[]> {
  return [
    ...policyWarnings(config.routes),
    ...ssoWarnings(config),
    ...await fileModeWarnings(filesOf(config)),
  ];
}

/** auth.oidc over plain HTTP: its session cookies would travel without `Secure`. */
export function ssoWarnings(config: Config): string[] {
  const oidc = config.auth?.oidc;
  if (!oidc || config.tls || oidc.externalOrigin?.startsWith("https:")) return [];
  return [
    "auth.oidc: promgate serves plain HTTP, so its session cookies are not Secure and travel in " +
    "clear. Set tls, or auth.oidc.externalUrl to the https:// address of the proxy that " +
    "terminates TLS.",
  ];
}
