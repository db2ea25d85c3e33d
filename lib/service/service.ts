/**
 * What main.ts starts: one server (app.ts) in this thread, or several server threads that act as
 * one (lib/service/threads/) when the config asks for more than one worker and the runtime can
 * share the port.
 */
import { startApp } from "./app.ts";
import { type Config, loadConfig, readTlsFiles } from "../config/mod.ts";
import type { Runtime } from "../runtime/mod.ts";
import { startThreads } from "./threads/mod.ts";
import { newCacheSecret } from "../auth/mod.ts";
import { openSharedState } from "./shared_state.ts";
import type { Logger, Service } from "./types.ts";

/**
 * Serves `config`: in this thread when it asks for one worker, else in `config.workers` server
 * threads (or in this thread, saying why, where the runtime cannot share the port).
 */
export async function startService(
  config: Config,
  runtime: Runtime,
  log: Logger,
): Promise<Service> {
  const count = config.workers;
  const shared = await openSharedState(config, log);
  const alone = async () => {
    if (!shared) {
      const app = await startApp(config, runtime, log, { loadConfig, readTlsFiles });
      return Object.assign(app, { threads: 1 });
    }
    const app = await startApp(config, runtime, log, { loadConfig, readTlsFiles }, {
      shared: { store: shared.store, secret: newCacheSecret() },
      stateStatus: shared.status,
    }).catch(async (error) => {
      await shared.store.close();
      throw error;
    });
    const stop = app.shutdown.bind(app);
    // A store the app was given is not the app's to close.
    const shutdown = (graceMs?: number) => stop(graceMs).finally(() => shared.store.close());
    return Object.assign(app, { threads: 1, shutdown });
  };
  if (count <= 1) return await alone();
  const problem = runtime.sharedPortProblem(config.tls !== null);
  if (problem) {
    log(`workers: ${problem}; serving from one thread`);
    return await alone();
  }
  return await startThreads(config, runtime, log, shared);
}
