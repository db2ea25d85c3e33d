/**
 * Starting promgate replicas that run on different runtimes: replica A on Deno, replica B as
 * PROMGATE_CMD says (the Bun binary under `deno task test:binary`, Bun from source under
 * `test:bun`; otherwise Bun from source when .tools has it, else Deno).
 */
import { DENO_RUN_FLAGS, MAIN, type Promgate, REPO, startPromgate } from "./_util.ts";

/** The command of replica B: see the module comment. */
export function replicaB(): string {
  const custom = Deno.env.get("PROMGATE_CMD");
  if (custom) return custom;
  const bun = `${REPO}.tools/node_modules/.bin/bun`;
  try {
    Deno.statSync(bun);
    return `${bun} ${MAIN}`;
  } catch {
    return [Deno.execPath(), "run", ...DENO_RUN_FLAGS, MAIN].join(" ");
  }
}

/**
 * Starts promgate in `dir` with `command` (null: Deno from source). The command is passed, not
 * set in PROMGATE_CMD: test files of a parallel run share the process environment, and another
 * file reading PROMGATE_CMD meanwhile would start the wrong runtime or skip itself.
 */
export function startWith(command: string | null, dir: string, config: unknown): Promise<Promgate> {
  return startPromgate(dir, config, command);
}
