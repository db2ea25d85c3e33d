/** promgate's version and the commit it was built from. */
import { readFileSync } from "node:fs";
import process from "node:process";

/** promgate's version, kept in step with package.json by the release process. */
export const VERSION = "0.1.0";

/** Set by `bun build --define` in `deno task compile`; absent when run from source. */
declare const PROMGATE_BUILD_COMMIT: string | undefined;

/**
 * The git commit promgate was built from: baked in by `deno task compile` (bun build --define) or
 * `deno task compile:deno` (PROMGATE_COMMIT in the embedded --env-file), read from the checkout's
 * .git when run from source, else "dev".
 */
export function buildCommit(): string {
  if (typeof PROMGATE_BUILD_COMMIT === "string" && PROMGATE_BUILD_COMMIT !== "") {
    return PROMGATE_BUILD_COMMIT;
  }
  return process.env.PROMGATE_COMMIT || gitHead() || "dev";
}

/** The checked-out commit of the repository this file is in (two small reads, no `git`). */
function gitHead(): string | null {
  if (!import.meta.url.startsWith("file:")) return null;
  try {
    const gitDir = new URL("../.git/", import.meta.url);
    const head = readFileSync(new URL("HEAD", gitDir), "utf8").trim();
    const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
    if (ref === undefined) return shortCommit(head);
    try {
      return shortCommit(readFileSync(new URL(ref, gitDir), "utf8").trim());
    } catch {
      const packed = readFileSync(new URL("packed-refs", gitDir), "utf8");
      const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
      return line ? shortCommit(line.split(" ")[0]) : null;
    }
  } catch {
    return null;
  }
}

function shortCommit(hash: string): string | null {
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(hash) ? hash.slice(0, 12) : null;
}
