/**
 * Reloads run one at a time, in order (SIGHUP and file changes may coincide), and each one's
 * outcome is recorded for the reload gauges (reload_status.ts): a load that fails has been logged
 * by its task and leaves the gauge at 0; one that succeeds prints the warnings about what it read
 * (warnings.ts, file_modes.ts) and, while other kinds still fail, says why the gauge stays 0.
 */
import type { Config } from "../config/mod.ts";
import { type CheckedFile, fileModeWarnings, filesOf } from "./file_modes.ts";
import { oneLine } from "./reload.ts";
import type { ReloadSource, ReloadStatus } from "./reload_status.ts";
import type { Logger } from "./types.ts";
import { configWarnings } from "./warnings.ts";

/** The files a successful load of each kind read, for the file-mode warnings. */
const FILES_OF: Record<Exclude<ReloadSource, "config">, CheckedFile["what"][]> = {
  tls: ["tls.certFile", "tls.keyFile"],
  htpasswd: ["auth.htpasswdFile"],
  tokens: ["auth.tokensFile"],
};

/** One app's queue of loads. */
export class ReloadQueue {
  readonly #reloads: ReloadStatus;
  readonly #notice: Logger;
  readonly #config: () => Config;
  #queue: Promise<void> = Promise.resolve();
  #stopping = false;

  /**
   * @param reloads where outcomes are recorded
   * @param notice where messages about the shared state go
   * @param config the config being served once a load has run (for its warnings)
   */
  constructor(reloads: ReloadStatus, notice: Logger, config: () => Config) {
    this.#reloads = reloads;
    this.#notice = notice;
    this.#config = config;
  }

  /**
   * Runs `task`, a load of `source`, after the loads already queued. The task returns whether the
   * load succeeded (a failure has been logged); the reload gauges and warnings follow from it.
   */
  run(source: ReloadSource, task: () => Promise<boolean>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      if (this.#stopping) return;
      let ok = false;
      try {
        ok = await task();
      } catch (error) {
        // Every expected failure is handled in the task; this is a bug, but not a reason to stop.
        this.#notice(`reload: failed: ${oneLine(error)}`);
      }
      if (!ok) {
        this.#reloads.failed(source);
        return;
      }
      this.#reloads.succeeded(source);
      // A warning is advice: if working it out fails, the load still stands and later loads run.
      await this.#warnAbout(source).catch((error) =>
        this.#notice(`reload: could not check for warnings: ${oneLine(error)}`)
      );
      const failing = this.#reloads.failing();
      if (failing.length > 0) {
        // Say why the reload gauge stays 0 although this load worked.
        this.#notice(
          `reload: still serving the previous version of: ${failing.join(", ")} ` +
            `(fix what the earlier lines name; for the config, send SIGHUP again)`,
        );
      }
    });
    return this.#queue;
  }

  /** Lets the load under way finish and runs no more; resolves when it has. */
  stop(): Promise<void> {
    this.#stopping = true;
    return this.#queue;
  }

  /** Prints the warnings about what a successful load of `source` read. */
  async #warnAbout(source: ReloadSource): Promise<void> {
    const config = this.#config();
    let warnings: string[];
    if (source === "config") {
      warnings = await configWarnings(config);
    } else {
      const wanted = FILES_OF[source];
      warnings = await fileModeWarnings(filesOf(config).filter((f) => wanted.includes(f.what)));
    }
    for (const line of warnings) this.#notice(`warning: ${line}`);
  }
}
