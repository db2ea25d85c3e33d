/**
 * Starts the client timeouts (`listen.headerTimeoutSeconds`, `listen.idleTimeoutSeconds`) for one
 * port: the sweep of lib/slow_clients/sweep.ts with the runtime's socket access, and the messages
 * an operator needs about them.
 */
// Types only: server threads load this module, and lib/config/ (zod) costs each ~25 MB.
import type { Config } from "../config/mod.ts";
import type { ConnectionTable } from "./connection_table.ts";
import { type ClientTimeouts, type ClientTimeoutSweep, startSweep } from "./sweep.ts";
import type { SocketAccess } from "./types.ts";

/** How often at most the count of connections closed for a missing request head is logged. */
const SUMMARY_MS = 60_000;

/** The limits `config` sets, in ms. */
export function clientTimeouts(config: Config): ClientTimeouts {
  return {
    headerMs: config.listen.headerTimeoutSeconds * 1000,
    idleMs: config.listen.idleTimeoutSeconds * 1000,
  };
}

/** Why the runtime will close clients sooner than `config` says, one line each (may be none). */
export function capsNotes(config: Config, runtime: SocketAccess): string[] {
  const caps = runtime.clientTimeoutCaps;
  if (!caps) return [];
  const { headerMs, idleMs } = clientTimeouts(config);
  const notes: string[] = [];
  if (headerMs > caps.headerSeconds * 1000) {
    notes.push(
      `listen.headerTimeoutSeconds is ${headerMs / 1000}, but ${runtime.name} itself closes a ` +
        `new connection without a whole request head after about ${caps.headerSeconds} s`,
    );
  }
  if (idleMs > caps.idleSeconds * 1000) {
    notes.push(
      `listen.idleTimeoutSeconds is ${idleMs / 1000}, but ${runtime.name} itself closes a ` +
        `connection silent for ${caps.idleSeconds} s`,
    );
  }
  return notes;
}

/**
 * Enforces the client timeouts of `config()` (read at every sweep, so reloads apply) on the
 * connections accepted on `port`, as recorded in `table` by every server thread. Returns null,
 * having said why, where the runtime cannot list its sockets.
 */
export async function enforceClientTimeouts(
  runtime: SocketAccess,
  port: number,
  table: ConnectionTable,
  config: () => Config,
  log: (line: string) => void,
): Promise<ClientTimeoutSweep | null> {
  const sockets = await runtime.socketOps();
  if (typeof sockets === "string") {
    log(
      `warning: listen.headerTimeoutSeconds and listen.idleTimeoutSeconds are not enforced: ` +
        `${sockets}; slow clients stay connected until they leave`,
    );
    return null;
  }
  for (const note of capsNotes(config(), runtime)) log(`warning: ${note}`);
  let pending = 0;
  let flush: ReturnType<typeof setTimeout> | null = null;
  const report = () => {
    const seconds = clientTimeouts(config()).headerMs / 1000;
    log(
      `closed ${pending} connection${pending === 1 ? "" : "s"} that sent no whole request head ` +
        `within ${seconds} s (listen.headerTimeoutSeconds)`,
    );
    pending = 0;
  };
  const sweep = startSweep({
    port,
    table,
    sockets,
    limits: () => clientTimeouts(config()),
    onHeaderTimeouts(count) {
      pending += count;
      if (flush) return;
      report();
      flush = setTimeout(() => {
        flush = null;
        if (pending > 0) report();
      }, SUMMARY_MS);
    },
  });
  return {
    sweep: sweep.sweep,
    stop() {
      sweep.stop();
      if (flush) clearTimeout(flush);
    },
  };
}
