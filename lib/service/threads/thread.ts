/**
 * One server thread (see group.ts): runs the whole app on its own listener on the shared port,
 * with the config the main thread loaded, the store the main thread serves, and the main
 * thread's password checks; and answers the main thread's messages.
 */
import type { App } from "../types.ts";
import { startApp } from "../app.ts";
import type { Config, TlsConfig } from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import type { PasswordVerifier } from "../../auth/mod.ts";
import { ConnectionTable } from "../../slow_clients/mod.ts";
import { currentRuntime } from "../../runtime/mod.ts";
import { StateStatus, ThreadStore } from "../../state/mod.ts";
import { ReloadStatus } from "../reload_status.ts";
import { type FromThread, fromWire, type ToThread } from "./messages.ts";
import { Notices } from "./notices.ts";
import { errorText, log } from "../../log.ts";

interface ThreadScope {
  onmessage: ((event: MessageEvent<ToThread>) => void) | null;
  postMessage(message: FromThread): void;
}

const scope = globalThis as unknown as ThreadScope;
const send = (message: FromThread) => scope.postMessage(message);

let app: App | null = null;
let store: ThreadStore | null = null;
/** The config of the reload under way, as the main thread loaded it (or why it did not load). */
let reloaded: Promise<Config> = Promise.reject(new Error("no reload under way"));
reloaded.catch(() => {});
let nextId = 1;
const certificates = new Map<number, (answer: Extract<ToThread, { type: "tls" }>) => void>();
const verifications = new Map<number, (ok: boolean | null) => void>();
let closed = false;

/** Password checks go to the main thread, which hashes for all threads (group.ts). */
const verifier: PasswordVerifier = {
  verify: (password, hash) =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new Error("the password verifier is closed"));
      const id = nextId++;
      verifications.set(id, (ok) => {
        if (ok === null) reject(new Error("the password check failed in the main thread"));
        else resolve(ok);
      });
      send({ type: "verify", id, password, hash });
    }),
  close() {
    closed = true;
    for (const settle of verifications.values()) settle(null);
    verifications.clear();
  },
};

/** The main thread reads changed certificate files, with lib/config/files.ts's checks. */
function readTlsFiles(certFile: string, keyFile: string): Promise<TlsConfig> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    certificates.set(id, (answer) => {
      if (answer.tls) resolve(answer.tls);
      else reject(new InputError(answer.error ?? "the certificate does not load"));
    });
    send({ type: "tls?", id, certFile, keyFile });
  });
}

async function start(message: Extract<ToThread, { type: "start" }>) {
  const { index } = message;
  store = new ThreadStore(message.store);
  const notices = new Notices(store, index, message.threads);
  try {
    const loaders = { loadConfig: () => reloaded, readTlsFiles };
    const started = await startApp(fromWire(message.config), await currentRuntime(), log, loaders, {
      sharedPort: true,
      // The first thread speaks for all: they load the same files and apply the same changes.
      notice: index === 0 ? log : () => {},
      shared: { store, secret: message.cacheSecret },
      watchFiles: index === 0,
      onFilesChanged: (changed) => notices.filesChanged(changed),
      otherMetrics: () => notices.otherMetrics(),
      verifier,
      connections: new ConnectionTable(message.connections),
      reloadStatus: new ReloadStatus(message.reloadStatus, index),
      stateStatus: message.stateStatus ? new StateStatus(message.stateStatus) : undefined,
    });
    app = started;
    notices.serve((changed) => void started.filesChanged(changed), () => started.metricsSnapshot());
    send({ type: "started" });
  } catch (error) {
    const text = errorText(error);
    send({ type: "failed", message: text, input: error instanceof InputError });
  }
}

scope.onmessage = async (event) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      return await start(message);
    case "reload":
      reloaded = message.config
        ? Promise.resolve(fromWire(message.config))
        : Promise.reject(new InputError(message.error ?? "the config does not load"));
      reloaded.catch(() => {}); // read by app.reload(), which reports it
      await app?.reload();
      return send({
        type: "reloaded",
        shutdownGraceSeconds: app?.config.shutdownGraceSeconds ?? 0,
      });
    case "verified":
      verifications.get(message.id)?.(message.ok);
      verifications.delete(message.id);
      return;
    case "tls":
      certificates.get(message.id)?.(message);
      certificates.delete(message.id);
      return;
    case "shutdown":
      await app?.shutdown(message.graceMs);
      await store?.close();
      return send({ type: "stopped" });
  }
};
