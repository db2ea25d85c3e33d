/**
 * Everything promgate warns about in a config that loads: routes whose policy cannot be sound
 * (lib/policy.ts) and files others can change or read (lib/file_modes.ts). A warning never
 * stops promgate; start-up (main.ts), `--check` (lib/commands/check.ts) and every reload
 * (lib/app.ts) print the same lines, prefixed "warning: ".
 */
import type { Config } from "./config.ts";
import { fileModeWarnings, filesOf } from "./file_modes.ts";
import { policyWarnings } from "./policy.ts";

/** The warnings for `config` as a whole, one line each (no prefix); [] when there are none. */
export async function configWarnings(config: Config): Promise<string[]> {
  return [...policyWarnings(config.routes), ...await fileModeWarnings(filesOf(config))];
}
