/**
 * Notices when files change on disk, by polling their metadata (node:fs stat).
 *
 * Polling rather than an OS watcher: it works the same under Deno and Bun, and it follows the
 * path, not the inode, so it sees editors and tools (certbot, `htpasswd`, `mv new old`) that
 * replace a file by renaming a new one over it, which an inotify watch on the old inode misses.
 * A few stat calls a second cost nothing next to serving requests.
 */
import { stat } from "node:fs/promises";

/** How often the files are looked at. */
export const DEFAULT_POLL_MS = 1000;

/** Watches a set of paths; see {@linkcode watchFiles}. */
export interface FileWatcher {
  /** Watches exactly `paths` from now on; paths watched before keep what they last reported. */
  setPaths(paths: readonly string[]): Promise<void>;
  /** Stops polling (no callback runs after the pending one, if any, finishes). */
  stop(): void;
}

/**
 * Calls `onChange` with the paths whose size, modification or change time or inode changed (or
 * that appeared or disappeared). A change is reported once it has been the same for two polls in
 * a row, so a file caught half-written, or a certificate replaced before its key, is not read
 * until the writer is done. The callback is awaited before the next poll, so calls never overlap.
 */
export async function watchFiles(
  paths: readonly string[],
  onChange: (changed: string[]) => Promise<void> | void,
  pollMs = DEFAULT_POLL_MS,
): Promise<FileWatcher> {
  /** path -> what the last poll saw, and what was last reported (or seen at the start). */
  const files = new Map<string, { seen: string; reported: string }>();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const setPaths = async (next: readonly string[]) => {
    for (const path of [...files.keys()]) if (!next.includes(path)) files.delete(path);
    for (const path of next) {
      if (files.has(path)) continue;
      const now = await fingerprint(path);
      files.set(path, { seen: now, reported: now });
    }
  };

  const poll = async () => {
    const changed: string[] = [];
    for (const [path, file] of files) {
      const now = await fingerprint(path);
      if (now !== file.seen) {
        file.seen = now; // still changing, or just changed: look again next time
      } else if (now !== file.reported) {
        file.reported = now;
        changed.push(path);
      }
    }
    if (changed.length > 0 && !stopped) await onChange(changed);
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await poll();
      } finally {
        schedule();
      }
    }, pollMs);
  };

  await setPaths(paths);
  schedule();
  return {
    setPaths,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * What identifies a version of a file without reading it; "missing" (or the error) if none. Mode
 * and owner are in it because a chmod or chown changes what promgate warns about
 * (lib/file_modes.ts), and ctime alone misses them: Deno's node:fs gives ctime in whole seconds.
 */
async function fingerprint(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.mode}:${s.uid}:${s.gid}`;
  } catch (error) {
    return `error:${(error as { code?: string }).code ?? String(error)}`;
  }
}
