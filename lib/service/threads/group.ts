/**
 * Several server threads on one port, so that every core serves requests (one JavaScript thread
 * uses one core; DESIGN.md fact 7). The main thread proves the port free, starts `workers`
 * threads (thread.ts), each running the whole app (lib/service/app.ts) on its own SO_REUSEPORT
 * listener, and the kernel spreads connections over them. What must be one for the whole
 * process:
 *
 * - the config: loaded and validated once, here (a generated certificate is generated once);
 * - SIGHUP and SIGTERM: every thread reloads, or drains and stops;
 * - the shared state: failed-login counts and verified credentials live in one store, here,
 *   which every thread uses through its MessagePort (lib/state/threads.ts), so the limits count
 *   all of a client's attempts wherever they land, and a login costs one hash, not one per
 *   thread (one secret for the cache keys);
 * - /metrics: the thread answering a scrape asks the others for their counts through the store's
 *   publish/subscribe (notices.ts); whether the reloads succeeded is one shared record
 *   (lib/service/reload_status.ts) every thread reads;
 * - password checks: hashed here, in the main thread, one at a time (it serves no requests; a
 *   Worker inside a server thread starts about a second slower under Deno, and a Worker of its
 *   own here would be one more isolate, ~15-20 MB); this also bounds the CPU that password
 *   guessing can take however many threads there are (Bun checks bcrypt natively instead);
 * - file changes: the first thread polls the htpasswd and certificate files and tells the
 *   others what changed (notices.ts); each then loads them.
 *
 * Only the first thread prints messages about the shared state (reloads, certificates).
 */
import { baseUrl } from "../loading.ts";
import {
  type ClientTimeoutSweep,
  ConnectionTable,
  enforceClientTimeouts,
} from "../../slow_clients/mod.ts";
import { createVerifier, newCacheSecret, type PasswordVerifier } from "../../auth/mod.ts";
import { type Config, loadConfig, readTlsFiles } from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import { ReloadStatus } from "../reload_status.ts";
import type { Runtime } from "../../runtime/mod.ts";
import { StoreBroker } from "../../state/mod.ts";
import type { SharedState } from "../shared_state.ts";
import type { Logger, Service } from "../types.ts";
import { type FromThread, type ToThread, toWire } from "./messages.ts";
import { errorText } from "../../log.ts";

// The thread's module, next to this one when run from source; in a binary built by
// `bun build --compile main.ts … lib/service/threads/thread.ts` it sits at the same path under
// the root.
const THREAD_URL = import.meta.url.endsWith("/group.ts")
  ? new URL("./thread.ts", import.meta.url).href
  : new URL("./lib/service/threads/thread.ts", import.meta.url).href;

interface Thread {
  worker: Worker;
  readonly index: number;
  /** Its connection to the store. */
  readonly store: MessagePort;
}

/** The answers the main thread waits for, one per thread at a time. */
type Answer = "reloaded" | "stopped";

/**
 * Starts `config.workers` server threads on `config.listen` and resolves once every one listens.
 * Rejects (InputError for a bad htpasswd file) if any of them cannot start.
 */
export async function startThreads(
  config: Config,
  runtime: Runtime,
  log: Logger,
  shared: SharedState | null = null,
): Promise<Service> {
  let port: number;
  try {
    port = runtime.claimPort(config.listen.hostname, config.listen.port);
  } catch (error) {
    await shared?.store.close();
    throw error;
  }
  const resolved: Config = { ...config, listen: { ...config.listen, port } };
  const group = new ThreadGroup(resolved, log, runtime, shared);
  await group.start(config.workers);
  await group.enforceClientTimeouts(runtime);
  return group;
}

class ThreadGroup implements Service {
  #config: Config;
  readonly #log: Logger;
  readonly #threads: Thread[] = [];
  /** Who waits for which thread's answer, by thread index. */
  readonly #waiting = new Map<Answer, Map<number, (message: FromThread) => void>>([
    ["reloaded", new Map()],
    ["stopped", new Map()],
  ]);
  /** The last reload sent, for a thread started again after it. */
  #lastReload: ToThread | null = null;
  #stopping = false;
  /** Set once every thread listens: a thread that dies before is a failed start, not a crash. */
  #running = false;
  /** One for all threads, so a credential verified by one is cached by all. */
  readonly #cacheSecret = newCacheSecret();
  /** The store every thread shares: this process's memory, or Redis before it (shared_state.ts). */
  readonly #broker: StoreBroker;
  readonly #shared: SharedState | null;
  /** Every thread records its requests here; the main thread enforces the client timeouts. */
  readonly #connections = ConnectionTable.create();
  #clientTimeouts: ClientTimeoutSweep | null = null;
  /** How many threads serve; set by start(). */
  #count = 0;
  /** Whether each thread's loads succeeded; made in start(), once the count is known. */
  #reloadStatus: ReloadStatus | null = null;

  readonly #verifier: PasswordVerifier;

  constructor(config: Config, log: Logger, runtime: Runtime, shared: SharedState | null) {
    this.#config = config;
    this.#shared = shared;
    this.#broker = new StoreBroker(shared?.store);
    this.#log = log;
    // Inline: this thread serves no requests, and a hashing Worker would be one more isolate.
    this.#verifier = createVerifier({ verifyBcrypt: runtime.verifyBcrypt, inline: true });
  }

  get config(): Config {
    return this.#config;
  }

  get threads(): number {
    return this.#threads.length;
  }

  get url(): string {
    const { hostname, port } = this.#config.listen;
    return baseUrl(hostname, port, this.#config.tls !== null);
  }

  async start(count: number): Promise<void> {
    this.#count = count;
    this.#reloadStatus = ReloadStatus.create(count);
    const started = Array.from({ length: count }, (_, index) => this.#spawn(index));
    const results = await Promise.all(started);
    const failure = results.find((r) => r !== null);
    if (failure) {
      for (const t of this.#threads) t.worker.terminate();
      this.#verifier.close();
      await this.#broker.close();
      throw failure.input ? new InputError(failure.message) : new Error(failure.message);
    }
    this.#running = true;
  }

  /** Closes, for every thread, the connections that overstay the client timeouts. */
  async enforceClientTimeouts(runtime: Runtime): Promise<void> {
    const port = this.#config.listen.port;
    const config = () => this.#config;
    this.#clientTimeouts = await enforceClientTimeouts(
      runtime,
      port,
      this.#connections,
      config,
      this.#log,
    );
  }

  /** Starts thread `index`; resolves null once it listens, or with why it could not. */
  #spawn(index: number): Promise<{ message: string; input: boolean } | null> {
    const worker = new Worker(THREAD_URL, { type: "module" });
    const thread: Thread = { worker, index, store: this.#broker.connect() };
    this.#threads[index] = thread;
    return new Promise((resolve) => {
      worker.onmessage = (event: MessageEvent<FromThread>) => {
        const message = event.data;
        if (message.type === "started") resolve(null);
        else if (message.type === "failed") resolve(message);
        else this.#handle(thread, message);
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        resolve({ message: `server thread ${index + 1}: ${event.message}`, input: false });
        this.#crashed(thread, event.message);
      };
      const start: ToThread = {
        type: "start",
        index,
        threads: this.#count,
        config: toWire(this.#config),
        cacheSecret: this.#cacheSecret,
        store: thread.store,
        connections: this.#connections.buffer,
        reloadStatus: this.#reloadStatus!.buffer,
        stateStatus: this.#shared?.status.buffer ?? null,
      };
      worker.postMessage(start, [thread.store]);
    });
  }

  /** A thread died of an uncaught error: say so and start another in its place. */
  #crashed(thread: Thread, why: string): void {
    if (!this.#running || this.#stopping || this.#threads[thread.index] !== thread) return;
    this.#log(`server thread ${thread.index + 1} failed (${why}); starting it again`);
    thread.worker.terminate();
    this.#broker.disconnect(thread.store);
    void this.#spawn(thread.index).then((failure) => {
      if (failure) this.#log(`server thread ${thread.index + 1} did not start: ${failure.message}`);
      else if (this.#lastReload) this.#send(this.#threads[thread.index], this.#lastReload);
    });
  }

  #handle(from: Thread, message: FromThread): void {
    switch (message.type) {
      case "tls?":
        void readTlsFiles(message.certFile, message.keyFile).then(
          (tls) => this.#send(from, { type: "tls", id: message.id, tls, error: null }),
          (error) =>
            this.#send(from, { type: "tls", id: message.id, tls: null, error: errorText(error) }),
        );
        return;
      case "verify":
        void this.#verifier.verify(message.password, message.hash).then(
          (ok) => this.#send(from, { type: "verified", id: message.id, ok }),
          () => this.#send(from, { type: "verified", id: message.id, ok: null }),
        );
        return;
      case "reloaded":
      case "stopped":
        this.#waiting.get(message.type)!.get(from.index)?.(message);
        return;
    }
  }

  #send(thread: Thread, message: ToThread): void {
    thread.worker.postMessage(message);
  }

  /** Sends `message` to `thread`; resolves with its `answer`, or null after `ms`. */
  #ask(thread: Thread, message: ToThread, answer: Answer, ms: number): Promise<FromThread | null> {
    const waiting = this.#waiting.get(answer)!;
    return new Promise((resolve) => {
      const done = (reply: FromThread | null) => {
        clearTimeout(timer);
        waiting.delete(thread.index);
        resolve(reply);
      };
      const timer = setTimeout(done, ms, null);
      waiting.set(thread.index, done);
      this.#send(thread, message);
    });
  }

  /**
   * Loads the config file again (SIGHUP) and has every thread apply it, or report why it does not
   * load; resolves when all have.
   */
  async reload(): Promise<void> {
    let message: ToThread;
    try {
      const loaded = await loadConfig(this.#config.file);
      message = { type: "reload", config: toWire(loaded), error: null };
      // The client timeouts apply at once (lib/service/reload.ts); the socket stays where it is.
      const { hostname, port } = this.#config.listen;
      this.#config = { ...this.#config, listen: { ...loaded.listen, hostname, port } };
    } catch (error) {
      message = { type: "reload", config: null, error: errorText(error) };
    }
    this.#lastReload = message;
    const acks = this.#threads.map((t) => this.#ask(t, message, "reloaded", 60_000));
    const first = (await Promise.all(acks))[0];
    if (first?.type === "reloaded") {
      this.#config = { ...this.#config, shutdownGraceSeconds: first.shutdownGraceSeconds };
    }
  }

  /** Every thread stops accepting and drains for up to `graceMs`; then they are ended. */
  async shutdown(graceMs = this.#config.shutdownGraceSeconds * 1000): Promise<void> {
    this.#stopping = true;
    const stopped = this.#threads.map((t) =>
      this.#ask(t, { type: "shutdown", graceMs }, "stopped", graceMs + 5000)
    );
    await Promise.all(stopped);
    this.#clientTimeouts?.stop();
    for (const t of this.#threads) t.worker.terminate();
    this.#verifier.close();
    await this.#broker.close();
  }
}
