/**
 * Wires a loaded config into a running server: users, authenticator, access log, handler.
 * main.ts owns the process (arguments, signals, exit codes); this module owns the service.
 */
import { type AccessLog, NO_ACCESS_LOG, openAccessLog } from "./access_log.ts";
import { Authenticator } from "./auth.ts";
import type { Config } from "./config.ts";
import { createHandler, type HandlerState } from "./handler.ts";
import { loadHtpasswd } from "./htpasswd.ts";
import { createVerifier, type PasswordVerifier } from "./password/mod.ts";
import { plain } from "./responses.ts";
import type { Runtime, Server } from "./runtime/types.ts";
import { Throttle } from "./throttle.ts";

/** A running promgate. */
export interface App {
  readonly server: Server;
  /** The base URL it serves, e.g. "https://127.0.0.1:12321". */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes logs. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Where promgate's own messages (not access-log lines) go. */
export type Logger = (line: string) => void;

/** Loads the users and starts serving `config`. Throws InputError for a bad htpasswd file. */
export async function startApp(config: Config, runtime: Runtime, log: Logger): Promise<App> {
  const verifier = createVerifier({ verifyBcrypt: runtime.verifyBcrypt });
  const state = await buildState(config, verifier);
  const throttleConfig = config.auth?.throttle ?? null;
  const handler = createHandler({
    state: () => state,
    client: runtime,
    onUpstreamError: (line) => log(`upstream error: ${line}`),
    onSecurityEvent: log,
    throttle: throttleConfig ? new Throttle(throttleConfig, log) : null,
  });
  const server = await runtime.serve({
    hostname: config.listen.hostname,
    port: config.listen.port,
    tls: config.tls,
    handler,
    onError: (error) => {
      log(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      return plain(500, "500 Internal Server Error\n").response;
    },
  });
  const generated = config.tls?.selfSigned;
  if (generated) {
    log(
      `serving a self-signed certificate for ${generated.hostnames.join(", ")} ` +
        `(SHA-256 fingerprint ${generated.fingerprint})`,
    );
  }
  const scheme = config.tls ? "https" : "http";
  const url = `${scheme}://${hostForUrl(server.hostname)}:${server.port}`;
  return {
    server,
    url,
    async shutdown(graceMs = 10_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise((resolve) => timer = setTimeout(resolve, graceMs));
      await Promise.race([server.shutdown(), grace]);
      clearTimeout(timer);
      verifier.close();
      await state.accessLog.close();
    },
  };
}

async function buildState(config: Config, verifier: PasswordVerifier): Promise<HandlerState> {
  const needsAuth = config.routes.some((r) => r.auth);
  const users = needsAuth && config.auth ? await loadHtpasswd(config.auth.htpasswdFile) : null;
  const accessLog: AccessLog = config.accessLog
    ? openAccessLog(config.accessLog.format, config.accessLog.path)
    : NO_ACCESS_LOG;
  return {
    config,
    authenticator: users ? new Authenticator(users, verifier) : null,
    accessLog,
  };
}

function hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
