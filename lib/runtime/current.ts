/** Picks the runtime adapter for the runtime promgate was started with. */
import type { Runtime } from "./types.ts";

/** Returns the adapter for the current runtime (Deno or Bun). */
export async function currentRuntime(): Promise<Runtime> {
  if ("Bun" in globalThis) {
    const { bunRuntime } = await import("./bun/mod.ts");
    return bunRuntime;
  }
  const { denoRuntime } = await import("./deno/mod.ts");
  return denoRuntime;
}
