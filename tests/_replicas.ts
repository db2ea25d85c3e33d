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
 * Starts promgate in `dir` with `command` (null: Deno from source), as startPromgate does with
 * PROMGATE_CMD, which it reads when it spawns.
 */
export async function startWith(
  command: string | null,
  dir: string,
  config: unknown,
): Promise<Promgate> {
  const saved = Deno.env.get("PROMGATE_CMD");
  if (command === null) Deno.env.delete("PROMGATE_CMD");
  else Deno.env.set("PROMGATE_CMD", command);
  try {
    return await startPromgate(dir, config);
  } finally {
    if (saved === undefined) Deno.env.delete("PROMGATE_CMD");
    else Deno.env.set("PROMGATE_CMD", saved);
  }
}
