/** What a running promgate offers, and what starting one takes (app.ts). */
import type { MetricsSnapshot } from "../http/mod.ts";
import type { ConnectionTable } from "../slow_clients/mod.ts";
import type { PasswordVerifier } from "../auth/mod.ts";
import type { StateStatus, Store } from "../state/mod.ts";
// Types only: the config module (zod, certificate generation) would cost each server thread
// ~25 MB.
import type { Config, TlsConfig } from "../config/mod.ts";
import type { ReloadStatus } from "./reload_status.ts";
import type { Server } from "../runtime/mod.ts";

/** A running promgate. */
export interface App {
  /** The server accepting new connections (replaced when a new certificate is served). */
  readonly server: Server;
  /** The base URL it serves, e.g. "https://127.0.0.1:12321". */
  readonly url: string;
  /** The config being served to new requests (after reloads, with what needs a restart kept). */
  readonly config: Config;
  /**
   * Loads the config file again, with the htpasswd and certificate files it names, and serves
   * it to new requests (SIGHUP). Never throws: problems are logged and the old config stays.
   */
  reload(): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default: the config's
   * shutdownGraceSeconds), then closes logs. Requests still running then are the caller's to cut
   * (main.ts exits).
   */
  shutdown(graceMs?: number): Promise<void>;
  /** This server's request counts, for a scrape answered by another server. */
  metricsSnapshot(): MetricsSnapshot;
  /**
   * Loads the watched files named in `changed` again (the htpasswd file, the certificate and
   * key), as the app does itself when it watches them.
   */
  filesChanged(changed: string[]): Promise<void>;
}
/** Where promgate's own messages (not access-log lines) go. */
export type Logger = (line: string) => void;

/** How the app runs: alone (the defaults) or as one of several servers (lib/service/threads/). */
export interface AppOptions {
  /** How often watched files are polled; default lib/service/file_watch.ts's DEFAULT_POLL_MS. */
  readonly pollMs?: number;
  /** Share the configured port with other server threads (its number must be resolved). */
  readonly sharedPort?: boolean;
  /**
   * Where messages about the shared state go (reloads, certificates, throttled clients), which
   * every server thread would otherwise print once each; default: the app's logger.
   */
  readonly notice?: Logger;
  /**
   * Where the failed-login counts and the verified credentials live, with the secret of the
   * credential keys, which every server sharing the store must have; default: a store of the
   * app's own (closed on shutdown) and a random secret.
   */
  readonly shared?: { readonly store: Store; readonly secret: string };
  /** Whether the shared state is in Redis now, for /metrics; default: none configured. */
  readonly stateStatus?: StateStatus;
  /**
   * Whether the app watches the htpasswd and certificate files itself; default true. One that
   * does not is told of changes through App.filesChanged.
   */
  readonly watchFiles?: boolean;
  /** Told which watched files changed, when the app's own watching finds them (to tell others). */
  readonly onFilesChanged?: (changed: string[]) => void;
  /** The counts of the other servers of this process, added to every scrape answered here. */
  readonly otherMetrics?: () => Promise<MetricsSnapshot[]>;
  /** Checks passwords; default: a verifier of this thread's own (closed on shutdown). */
  readonly verifier?: PasswordVerifier;
  /**
   * Where requests are recorded for the client timeouts, shared with the other server threads;
   * whoever passes it enforces the timeouts. Default: a table of the app's own, and the app
   * enforces them.
   */
  readonly connections?: ConnectionTable;
  /**
   * Where this thread records whether its reloads succeed, in a record shared with the other
   * server threads so that every scrape shows the whole process; default: a record of its own.
   */
  readonly reloadStatus?: ReloadStatus;
}

/**
 * How the app reads its config and certificate again (reloads): lib/config/load.ts's functions in
 * the main thread; in a server thread, the main thread does it (so all threads serve the same).
 */
export interface ConfigLoaders {
  loadConfig(file: string): Promise<Config>;
  readTlsFiles(certFile: string, keyFile: string): Promise<TlsConfig>;
}

/** What main.ts runs: one app, or several server threads that act as one. */
export interface Service {
  /** How many server threads serve requests. */
  readonly threads: number;
  readonly url: string;
  readonly config: Config;
  reload(): Promise<void>;
  shutdown(graceMs?: number): Promise<void>;
}
