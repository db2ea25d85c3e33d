/**
 * Wires a loaded config into a running server: users, authenticator, access log, handler; and
 * keeps it current: the htpasswd, tokens, certificate and key files are re-read when they change
 * on disk, the whole config on request (SIGHUP). A new version that does not load is logged and
 * the last good one keeps serving; the reload gauges (reload_status.ts) say so until a load
 * succeeds, and every load that succeeds prints the warnings about what it loaded (warnings.ts).
 * Every request reads the state once, when it starts, so a reload never changes the rules under a
 * request in flight. This is one server; lib/service/threads/ runs several of them as one, each
 * with the same store (AppOptions.shared).
 */
import {
  AddressBlocks,
  type ClientInfo,
  createHandler,
  type HandlerState,
  type HttpHandler,
  Limits,
  Metrics,
  type MetricsSnapshot,
  plain,
  UpstreamPools,
} from "../http/mod.ts";
import {
  type ClientTimeoutSweep,
  ConnectionTable,
  enforceClientTimeouts,
  trackConnections,
} from "../slow_clients/mod.ts";
import {
  Authenticator,
  createVerifier,
  newCacheSecret,
  type PasswordVerifier,
  Throttle,
  type Users,
} from "../auth/mod.ts";
import { LocalStore, type Store } from "../state/mod.ts";
// Types only: the config module (zod, certificate generation) would cost each server thread
// ~25 MB; the caller passes the loaders (see ConfigLoaders).
import type { Config, TlsConfig } from "../config/mod.ts";
import { type FileWatcher, watchFiles } from "./file_watch.ts";
import { oneLine, planReload, SwitchableAccessLog } from "./reload.ts";
import { ReloadStatus } from "./reload_status.ts";
import { ReloadQueue } from "./reload_queue.ts";
import { type Credentials, credentialsFor, reloadTokens, reloadUsers } from "./credentials.ts";
import type { Runtime, Server } from "../runtime/mod.ts";
import { buildCommit, VERSION } from "../version.ts";
import { errorText } from "../log.ts";
import type { App, AppOptions, ConfigLoaders, Logger } from "./types.ts";
import { baseUrl, openLog, replaceCertificate } from "./loading.ts";

/** Loads the users and starts serving `config`. Throws InputError for a bad htpasswd file. */
export async function startApp(
  config: Config,
  runtime: Runtime,
  log: Logger,
  loaders: ConfigLoaders,
  options: AppOptions = {},
): Promise<App> {
  const verifier = options.verifier ?? createVerifier({ verifyBcrypt: runtime.verifyBcrypt });
  const credentials = await credentialsFor(config, null);
  const live = new LiveApp(config, credentials, runtime, verifier, log, { ...options, loaders });
  await live.start(options.pollMs);
  return live;
}

class LiveApp implements App {
  readonly #runtime: Runtime;
  readonly #verifier: PasswordVerifier;
  readonly #log: Logger;
  /** State-change messages; see AppOptions.notice. */
  readonly #notice: Logger;
  readonly #options: AppOptions & { loaders: ConfigLoaders };
  /** Failed-login counts and verified credentials (see AppOptions.shared). */
  readonly #store: Store;
  readonly #secret: string;
  readonly #accessLog: SwitchableAccessLog;
  /** One set of counters for the process's life, across reloads. */
  readonly #metrics: Metrics;
  /** Per-user limits; their counts live in #store, across reloads. */
  readonly #limits: Limits;
  /** Whether the last loads succeeded, for the reload gauges. */
  readonly #reloads: ReloadStatus;
  #state: HandlerState;
  /** Rebuilt when the throttle settings change (the counts, in the store, stay). */
  #handler: HttpHandler;
  #throttleSettings: string;
  #server: Server | null = null;
  #watcher: FileWatcher | null = null;
  #clientTimeouts: ClientTimeoutSweep | null = null;
  /** Old servers finishing their requests after a certificate change. */
  readonly #draining = new Set<Promise<void>>();
  readonly #reloadQueue: ReloadQueue;

  constructor(
    config: Config,
    { users, tokens, jwt, oidc }: Credentials,
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
    this.#store = options.shared?.store ?? new LocalStore();
    this.#secret = options.shared?.secret ?? newCacheSecret();
    this.#accessLog = new SwitchableAccessLog(openLog(config));
    this.#reloads = options.reloadStatus ?? ReloadStatus.create();
    this.#reloadQueue = new ReloadQueue(this.#reloads, this.#notice, () => this.#state.config);
    this.#metrics = new Metrics(
      {
        version: VERSION,
        runtime: `${runtime.name} ${runtime.version}`,
        commit: buildCommit(),
      },
      this.#reloads,
      options.stateStatus,
    );
    this.#limits = new Limits({ store: this.#store, events: this.#metrics.limits });
    this.#state = {
      config,
      authenticator: users ? this.#newAuthenticator(users) : null,
      tokens,
      jwt,
      oidc,
      accessLog: this.#accessLog,
      upstreams: this.#newPools(config),
    };
    this.#metrics.upstreamHealth = () => this.#state.upstreams?.health() ?? [];
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
      proxyProtocol: proxyProtocolFor(config),
      // Through a field, so that reloads take effect on the running server.
      handler: trackConnections(
        connections,
        (req: Request, info: ClientInfo) => this.#handler(req, info),
      ),
      onError: (error) => {
        this.#log(`internal error: ${errorText(error)}`);
        return plain(500, "500 Internal Server Error\n").response;
      },
    });
    this.#state.upstreams?.start();
    // Listening with everything loaded is a successful load (as Prometheus counts its start).
    this.#reloads.started();
    if (!this.#options.connections) {
      this.#clientTimeouts = await enforceClientTimeouts(
        this.#runtime,
        this.#server.connectionsPort ?? this.#server.port,
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
    if (this.#options.watchFiles === false) return;
    this.#watcher = await watchFiles(
      this.#watchedFiles(),
      (changed) => {
        this.#options.onFilesChanged?.(changed);
        return this.filesChanged(changed);
      },
      pollMs,
    );
  }

  reload(): Promise<void> {
    return this.#reloadQueue.run("config", () => this.#reloadConfig());
  }

  metricsSnapshot(): MetricsSnapshot {
    return this.#metrics.snapshot();
  }

  async shutdown(
    graceMs = this.#state.config.shutdownGraceSeconds * 1000,
  ): Promise<void> {
    this.#watcher?.stop();
    await this.#reloadQueue.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<boolean>((resolve) => timer = setTimeout(resolve, graceMs, false));
    const drained = Promise.all([this.server.shutdown(), ...this.#draining]).then(() => true);
    const inTime = await Promise.race([drained, grace]);
    clearTimeout(timer);
    this.#clientTimeouts?.stop(); // it ran on while draining: slow clients do not hold up the exit
    if (!inTime) {
      this.#log(
        `shutdown grace of ${graceMs / 1000} s ran out; closing the requests still in flight`,
      );
    }
    this.#state.upstreams?.stop();
    this.#verifier.close();
    this.#limits.close();
    if (!this.#options.shared) await this.#store.close();
    await this.#accessLog.close();
  }

  // -- reloads -----------------------------------------------------------------------------------

  /** The files whose changes take effect without SIGHUP. */
  #watchedFiles(): string[] {
    const { config, authenticator, tokens } = this.#state;
    const files: string[] = [];
    if (authenticator && config.auth) files.push(config.auth.htpasswdFile);
    if (tokens && config.auth?.tokensFile) files.push(config.auth.tokensFile);
    if (config.tls?.certFile && config.tls.keyFile) {
      files.push(config.tls.certFile, config.tls.keyFile);
    }
    return files;
  }

  filesChanged(changed: string[]): Promise<void> {
    const { config } = this.#state;
    const tasks: Promise<void>[] = [];
    if (config.auth && changed.includes(config.auth.htpasswdFile)) {
      const { authenticator } = this.#state;
      tasks.push(
        this.#reloadQueue.run("htpasswd", () => reloadUsers(config, authenticator, this.#notice)),
      );
    }
    const tokensFile = config.auth?.tokensFile;
    if (tokensFile && changed.includes(tokensFile)) {
      const { tokens } = this.#state;
      tasks.push(
        this.#reloadQueue.run("tokens", () => reloadTokens(config, tokens ?? null, this.#notice)),
      );
    }
    const tls = config.tls;
    if (tls && changed.some((f) => f === tls.certFile || f === tls.keyFile)) {
      tasks.push(this.#reloadQueue.run("tls", () => this.#reloadTls()));
    }
    return Promise.all(tasks).then(() => {});
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
    let credentials: Credentials;
    try {
      loaded = await this.#options.loaders.loadConfig(current.file);
      credentials = await credentialsFor(loaded, this.#state);
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
    const { users, tokens, jwt, oidc } = credentials;
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
    // New health checks take over what the old ones knew, then the old ones stop.
    const upstreams = this.#newPools(config);
    upstreams.start(this.#state.upstreams);
    this.#state.upstreams?.stop();
    this.#state = {
      config,
      authenticator,
      tokens,
      jwt,
      oidc,
      accessLog: this.#accessLog,
      upstreams,
    };
    await this.#watcher?.setPaths(this.#watchedFiles());
    const who = (users ? `, htpasswd ${config.auth!.htpasswdFile}: ${users.size} users` : "") +
      (tokens ? `, tokens ${config.auth!.tokensFile}: ${tokens.size} tokens` : "");
    this.#notice(`reload: config ${config.file}: ${config.routes.length} routes${who}`);
    return served;
  }

  /** Serves `tls` from a new server (see {@link replaceCertificate}); false when it cannot. */
  async #serveCertificate(tls: TlsConfig): Promise<boolean> {
    return await replaceCertificate(this.server, tls, this.#notice, this.#draining, (fresh) => {
      this.#server = fresh;
    });
  }

  #newAuthenticator(users: Users): Authenticator {
    return new Authenticator(users, this.#verifier, undefined, this.#secret, this.#store);
  }

  /** The upstream pools of `config`'s routes with several upstreams (not started). */
  #newPools(config: Config): UpstreamPools {
    return new UpstreamPools(config, (url, init) => this.#runtime.fetchUpstream(url, init), {
      notice: this.#notice,
    });
  }

  #newHandler(config: Config): HttpHandler {
    const settings = config.auth?.throttle ?? null;
    return createHandler({
      state: () => this.#state,
      client: this.#runtime,
      onUpstreamError: (line) => this.#log(`upstream error: ${line}`),
      onSecurityEvent: this.#log,
      // Logs to #log, not #notice: with a shared store, a block is counted by one server only.
      throttle: settings ? new Throttle(this.#store, settings, this.#log) : null,
      metrics: this.#metrics,
      otherMetrics: this.#options.otherMetrics,
      limits: this.#limits,
    });
  }
}

/**
 * listen.proxyProtocol as the runtime takes it: PROXY headers from listen.trustedProxies only,
 * each within listen.headerTimeoutSeconds. Fixed at start, like the listening address.
 */
function proxyProtocolFor(config: Config) {
  if (!config.listen.proxyProtocol) return null;
  const trusted = new AddressBlocks(config.listen.trustedProxies ?? []);
  return {
    trusted: (address: string) => trusted.has(address),
    headerTimeoutMs: config.listen.headerTimeoutSeconds * 1000,
  };
}
