/**
 * Wires a loaded config into a running server: users, authenticator, access log, handler; and
 * keeps it current: the htpasswd file and the certificate/key are re-read when they change on
 * disk, the whole config on request (SIGHUP). A new version that does not load is logged and
 * the last good one keeps serving; the reload gauges (lib/service/reload_status.ts) say so until a load
 * succeeds, and every load that succeeds prints the warnings about what it loaded
 * (lib/service/warnings.ts). Every request reads the state once, when it starts, so a reload never
 * changes the rules under a request in flight.
 * main.ts owns the process (arguments, signals, exit codes); this module owns the service.
 */
import { type AccessLog, NO_ACCESS_LOG, openAccessLog } from "../http/mod.ts";
import { enforceClientTimeouts } from "../slow_clients/mod.ts";
import { Authenticator } from "../auth/mod.ts";
// Types only: the config module (zod, certificate generation) would cost each server thread
// ~25 MB; the caller passes the loaders (see ConfigLoaders).
import type { Config, TlsConfig } from "../config/mod.ts";
import { type CheckedFile, fileModeWarnings, filesOf } from "./file_modes.ts";
import { type FileWatcher, watchFiles } from "./file_watch.ts";
import { createHandler, type HandlerState } from "../http/mod.ts";
import { loadHtpasswd, type Users } from "../auth/mod.ts";
import { createVerifier, type PasswordVerifier } from "../auth/mod.ts";
import { fingerprintOf, oneLine, planReload, SwitchableAccessLog } from "./reload.ts";
import { Metrics, type MetricsSnapshot } from "../http/mod.ts";
import { type ReloadSource, ReloadStatus } from "./reload_status.ts";
import { plain } from "../http/mod.ts";
import { ConnectionTable } from "../slow_clients/mod.ts";
import type { Reaper } from "../slow_clients/mod.ts";
import type { ClientInfo, HttpHandler } from "../http/mod.ts";
import type { Runtime, Server } from "../runtime/mod.ts";
import { Throttle, type ThrottleEvent } from "../auth/mod.ts";
import { buildCommit, VERSION } from "../version.ts";
import { configWarnings } from "./warnings.ts";
import { errorText } from "../log.ts";

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
  /** This thread's request counts, for a scrape answered by another server thread. */
  metricsSnapshot(): MetricsSnapshot;
}

/** The base URL of a server on `hostname`:`port`, e.g. "https://127.0.0.1:12321". */
export function baseUrl(hostname: string, port: number, tls: boolean): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${tls ? "https" : "http"}://${host}:${port}`;
}

/** Where promgate's own messages (not access-log lines) go. */
export type Logger = (line: string) => void;

/** How one server thread shares state with the others (lib/service/start.ts); absent when alone. */
export interface ThreadLink {
  /** Tells the other threads about a login this thread's throttle recorded. */
  publishThrottle(event: ThrottleEvent): void;
  /** Registers the receiver of the other threads' throttle records. */
  onThrottle(apply: (event: ThrottleEvent) => void): void;
  /** The other threads' metrics, for a scrape answered here. */
  otherMetrics(): Promise<MetricsSnapshot[]>;
  /** The credential cache's secret, the same in every thread. */
  readonly cacheSecret: string;
  /** Tells the other threads about a credential this thread verified. */
  publishLogin(key: string, encoded: string): void;
  /** Registers the receiver of the other threads' verified credentials. */
  onLogin(remember: (key: string, encoded: string) => void): void;
  /**
   * Whether this thread watches the htpasswd and certificate files. One thread does, and tells
   * the others what changed, so that all switch within milliseconds of each other instead of
   * up to a polling interval apart.
   */
  readonly watchesFiles: boolean;
  /** Tells the other threads which watched files changed. */
  publishFilesChanged(changed: string[]): void;
  /** Registers the receiver of the watching thread's file changes. */
  onFilesChanged(reload: (changed: string[]) => void): void;
}

/** How the app runs: alone (the defaults) or as one of several server threads. */
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
  readonly link?: ThreadLink;
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
 * How the app reads its config and certificate again (reloads): lib/config/load.ts's functions in the
 * main thread; in a server thread, the main thread does it (so all threads serve the same).
 */
export interface ConfigLoaders {
  loadConfig(file: string): Promise<Config>;
  readTlsFiles(certFile: string, keyFile: string): Promise<TlsConfig>;
}

/** Loads the users and starts serving `config`. Throws InputError for a bad htpasswd file. */
export async function startApp(
  config: Config,
  runtime: Runtime,
  log: Logger,
  loaders: ConfigLoaders,
  options: AppOptions = {},
): Promise<App> {
  const verifier = options.verifier ?? createVerifier({ verifyBcrypt: runtime.verifyBcrypt });
  const users = await usersFor(config);
  const live = new LiveApp(config, users, runtime, verifier, log, { ...options, loaders });
  await live.start(options.pollMs);
  return live;
}

/** The users `config` needs, or null when no route requires authentication. */
async function usersFor(config: Config): Promise<Users | null> {
  const needsAuth = config.routes.some((r) => r.auth);
  return needsAuth && config.auth ? await loadHtpasswd(config.auth.htpasswdFile) : null;
}

function openLog(config: Config): AccessLog {
  return config.accessLog
    ? openAccessLog(config.accessLog.format, config.accessLog.path)
    : NO_ACCESS_LOG;
}

class LiveApp implements App {
  readonly #runtime: Runtime;
  readonly #verifier: PasswordVerifier;
  readonly #log: Logger;
  /** State-change messages; see AppOptions.notice. */
  readonly #notice: Logger;
  readonly #options: AppOptions & { loaders: ConfigLoaders };
  #throttle: Throttle | null = null;
  readonly #accessLog: SwitchableAccessLog;
  /** One set of counters for the process's life, across reloads. */
  readonly #metrics: Metrics;
  /** Whether the last loads succeeded, for the reload gauges. */
  readonly #reloads: ReloadStatus;
  #state: HandlerState;
  /** Rebuilt only when the throttle settings change, so failure counts survive other reloads. */
  #handler: HttpHandler;
  #throttleSettings: string;
  #server: Server | null = null;
  #watcher: FileWatcher | null = null;
  #reaper: Reaper | null = null;
  /** Old servers finishing their requests after a certificate change. */
  readonly #draining = new Set<Promise<void>>();
  /** Reloads run one at a time, in order (SIGHUP and file changes may coincide). */
  #queue: Promise<void> = Promise.resolve();
  #stopping = false;

  constructor(
    config: Config,
    users: Users | null,
    runtime: Runtime,
    verifier: PasswordVerifier,
    log: Logger,
    options: AppOptions & { loaders: ConfigLoaders },
  ) {
    this.#runtime = runtime;
    this.#verifier = verifier;
    this.#log = log;
    this.#notice = options.notice ?? log;
    this.#options = options;
    options.link?.onThrottle((event) => this.#throttle?.apply(event));
    options.link?.onLogin((key, encoded) => this.#state.authenticator?.remember(key, encoded));
    options.link?.onFilesChanged((changed) => void this.#filesChanged(changed));
    this.#accessLog = new SwitchableAccessLog(openLog(config));
    this.#reloads = options.reloadStatus ?? ReloadStatus.create();
    this.#metrics = new Metrics({
      version: VERSION,
      runtime: `${runtime.name} ${runtime.version}`,
      commit: buildCommit(),
    }, this.#reloads);
    this.#state = {
      config,
      authenticator: users ? this.#newAuthenticator(users) : null,
      accessLog: this.#accessLog,
    };
    this.#throttleSettings = JSON.stringify(config.auth?.throttle ?? null);
    this.#handler = this.#newHandler(config);
  }

  get server(): Server {
    return this.#server!;
  }

  get config(): Config {
    return this.#state.config;
  }

  get url(): string {
    return baseUrl(this.server.hostname, this.server.port, this.#state.config.tls !== null);
  }

  async start(pollMs: number | undefined): Promise<void> {
    const { config } = this.#state;
    const connections = this.#options.connections ?? ConnectionTable.create();
    this.#server = await this.#runtime.serve({
      hostname: config.listen.hostname,
      port: config.listen.port,
      tls: config.tls,
      sharedPort: this.#options.sharedPort,
      connections,
      // Through a field, so that reloads take effect on the running server.
      handler: (req: Request, info: ClientInfo) => this.#handler(req, info),
      onError: (error) => {
        this.#log(`internal error: ${errorText(error)}`);
        return plain(500, "500 Internal Server Error\n").response;
      },
    });
    // Listening with everything loaded is a successful load (as Prometheus counts its start).
    this.#reloads.started();
    if (!this.#options.connections) {
      this.#reaper = await enforceClientTimeouts(
        this.#runtime,
        this.#server.port,
        connections,
        () => this.#state.config,
        this.#log,
      );
    }
    const generated = config.tls?.selfSigned;
    if (generated) {
      this.#notice(
        `serving a self-signed certificate for ${generated.hostnames.join(", ")} ` +
          `(SHA-256 fingerprint ${generated.fingerprint})`,
      );
    }
    const link = this.#options.link;
    if (link && !link.watchesFiles) return;
    this.#watcher = await watchFiles(
      this.#watchedFiles(),
      (changed) => {
        link?.publishFilesChanged(changed);
        return this.#filesChanged(changed);
      },
      pollMs,
    );
  }

  reload(): Promise<void> {
    return this.#enqueue("config", () => this.#reloadConfig());
  }

  metricsSnapshot(): MetricsSnapshot {
    return this.#metrics.snapshot();
  }

  async shutdown(
    graceMs = this.#state.config.shutdownGraceSeconds * 1000,
  ): Promise<void> {
    this.#stopping = true;
    this.#watcher?.stop();
    await this.#queue;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<boolean>((resolve) => timer = setTimeout(resolve, graceMs, false));
    const drained = Promise.all([this.server.shutdown(), ...this.#draining]).then(() => true);
    const inTime = await Promise.race([drained, grace]);
    clearTimeout(timer);
    this.#reaper?.stop(); // it ran on while draining: slow clients do not hold up the exit
    if (!inTime) {
      this.#log(
        `shutdown grace of ${graceMs / 1000} s ran out; closing the requests still in flight`,
      );
    }
    this.#verifier.close();
    await this.#accessLog.close();
  }

  // -- reloads -----------------------------------------------------------------------------------

  /**
   * Runs `task`, a load of `source`, after the loads already queued. The task returns whether the
   * load succeeded (a failure has been logged); the reload gauges and warnings follow from it.
   */
  #enqueue(source: ReloadSource, task: () => Promise<boolean>): Promise<void> {
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

  /** Prints the warnings about what a successful load of `source` read (lib/service/warnings.ts). */
  async #warnAbout(source: ReloadSource): Promise<void> {
    const config = this.#state.config;
    let warnings: string[];
    if (source === "config") {
      warnings = await configWarnings(config);
    } else {
      const kinds: CheckedFile["what"][] = source === "tls"
        ? ["tls.certFile", "tls.keyFile"]
        : ["auth.htpasswdFile"];
      warnings = await fileModeWarnings(filesOf(config).filter((f) => kinds.includes(f.what)));
    }
    for (const line of warnings) this.#notice(`warning: ${line}`);
  }

  /** The files whose changes take effect without SIGHUP. */
  #watchedFiles(): string[] {
    const { config, authenticator } = this.#state;
    const files: string[] = [];
    if (authenticator && config.auth) files.push(config.auth.htpasswdFile);
    if (config.tls?.certFile && config.tls.keyFile) {
      files.push(config.tls.certFile, config.tls.keyFile);
    }
    return files;
  }

  #filesChanged(changed: string[]): Promise<void> {
    const { config } = this.#state;
    const tasks: Promise<void>[] = [];
    if (config.auth && changed.includes(config.auth.htpasswdFile)) {
      tasks.push(this.#enqueue("htpasswd", () => this.#reloadUsers()));
    }
    const tls = config.tls;
    if (tls && changed.some((f) => f === tls.certFile || f === tls.keyFile)) {
      tasks.push(this.#enqueue("tls", () => this.#reloadTls()));
    }
    return Promise.all(tasks).then(() => {});
  }

  /**
   * The htpasswd file changed: swap in its users, or keep the old ones if it does not load.
   * Resolves whether the new users (or none needed) are served.
   */
  async #reloadUsers(): Promise<boolean> {
    const { config, authenticator } = this.#state;
    if (!config.auth || !authenticator) return true;
    let users: Users;
    try {
      users = await loadHtpasswd(config.auth.htpasswdFile);
    } catch (error) {
      // htpasswd.ts never quotes a hash or a line in its messages, so this is safe to log.
      this.#notice(`reload: kept the previous users: ${oneLine(error)}`);
      return false;
    }
    // Cached logins stay valid only for users whose hash is unchanged (Authenticator.setUsers).
    authenticator.setUsers(users);
    this.#notice(`reload: htpasswd ${config.auth.htpasswdFile}: ${users.size} users`);
    return true;
  }

  /**
   * The certificate or key file changed: serve the new pair if it loads and matches. Resolves
   * whether the pair on disk (new, or unchanged) is served.
   */
  async #reloadTls(): Promise<boolean> {
    const current = this.#state.config.tls;
    if (!current?.certFile || !current.keyFile) return true;
    let next: TlsConfig;
    try {
      next = await this.#options.loaders.readTlsFiles(current.certFile, current.keyFile);
    } catch (error) {
      this.#notice(`reload: kept the previous certificate: ${oneLine(error)}`);
      return false;
    }
    if (next.cert === current.cert && next.key === current.key) return true;
    if (!(await this.#serveCertificate(next))) return false;
    this.#state = { ...this.#state, config: { ...this.#state.config, tls: next } };
    return true;
  }

  /**
   * SIGHUP: the config file and everything it names, applied together or not at all. Resolves
   * whether all of it is served (a certificate that loads but cannot be served is a failure,
   * though the rest of the new config applies).
   */
  async #reloadConfig(): Promise<boolean> {
    const current = this.#state.config;
    let loaded: Config;
    let users: Users | null;
    try {
      loaded = await this.#options.loaders.loadConfig(current.file);
      users = await usersFor(loaded);
    } catch (error) {
      this.#notice(`reload: kept the previous config; the new one does not load:`);
      const text = errorText(error);
      for (const line of text.split("\n")) if (line.trim()) this.#notice(`reload: ${line}`);
      return false;
    }
    const plan = planReload(current, loaded);
    for (const line of plan.needRestart) this.#notice(`reload: ${line}`);
    let config = plan.config;
    let served = true;
    if (plan.newTls && !(await this.#serveCertificate(plan.newTls))) {
      config = { ...config, tls: current.tls };
      served = false;
    }
    let authenticator = this.#state.authenticator;
    if (users === null) {
      authenticator = null;
    } else if (authenticator) {
      authenticator.setUsers(users);
    } else {
      authenticator = this.#newAuthenticator(users);
    }
    const throttleSettings = JSON.stringify(config.auth?.throttle ?? null);
    if (throttleSettings !== this.#throttleSettings) {
      this.#throttleSettings = throttleSettings;
      this.#handler = this.#newHandler(config);
    }
    // Reopened even when unchanged, so SIGHUP after logrotate moved the file starts a new one.
    await this.#accessLog.switchTo(openLog(config));
    this.#state = { config, authenticator, accessLog: this.#accessLog };
    await this.#watcher?.setPaths(this.#watchedFiles());
    const who = users ? `, htpasswd ${config.auth!.htpasswdFile}: ${users.size} users` : "";
    this.#notice(`reload: config ${config.file}: ${config.routes.length} routes${who}`);
    return served;
  }

  /**
   * Starts a server with `tls` next to the current one, then shuts the old one down; its
   * requests (and keep-alive connections' last requests) finish on it. Connections the kernel
   * had queued on the old listener but promgate had not yet accepted when it closes are reset
   * (a property of SO_REUSEPORT; Linux >= 5.14 can migrate them with net.ipv4.tcp_migrate_req).
   */
  async #serveCertificate(tls: TlsConfig): Promise<boolean> {
    const old = this.server;
    let fresh: Server;
    try {
      fresh = await old.replaceTls({ cert: tls.cert, key: tls.key });
    } catch (error) {
      this.#notice(`reload: kept the previous certificate: ${oneLine(error)}`);
      return false;
    }
    this.#server = fresh;
    const draining = old.shutdown().catch((error) => {
      this.#notice(`reload: closing the previous listener: ${oneLine(error)}`);
    });
    this.#draining.add(draining);
    draining.finally(() => this.#draining.delete(draining));
    const source = tls.certFile ?? "a self-signed certificate";
    this.#notice(
      `reload: certificate ${source}: serving it to new connections ` +
        `(SHA-256 fingerprint ${tls.selfSigned?.fingerprint ?? fingerprintOf(tls.cert)})`,
    );
    return true;
  }

  #newAuthenticator(users: Users): Authenticator {
    const link = this.#options.link;
    if (!link) return new Authenticator(users, this.#verifier);
    const authenticator = new Authenticator(users, this.#verifier, undefined, link.cacheSecret);
    authenticator.publish = (key, encoded) => link.publishLogin(key, encoded);
    return authenticator;
  }

  #newHandler(config: Config): HttpHandler {
    const settings = config.auth?.throttle ?? null;
    const link = this.#options.link;
    this.#throttle = settings ? new Throttle(settings, this.#notice) : null;
    if (this.#throttle && link) this.#throttle.publish = (event) => link.publishThrottle(event);
    return createHandler({
      state: () => this.#state,
      client: this.#runtime,
      onUpstreamError: (line) => this.#log(`upstream error: ${line}`),
      onSecurityEvent: this.#log,
      throttle: this.#throttle,
      metrics: this.#metrics,
      otherMetrics: link ? () => link.otherMetrics() : undefined,
    });
  }
}
