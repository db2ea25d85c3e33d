/**
 * One server thread (see lib/service/start.ts): runs the whole app on its own listener on the shared
 * port, with the config the main thread loaded, and answers the main thread's messages.
 */
import { type App, type ThreadLink } from "../types.ts";
import { startApp } from "../app.ts";
import type { Config, TlsConfig } from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import type { MetricsSnapshot } from "../../http/mod.ts";
import type { PasswordVerifier } from "../../auth/mod.ts";
import { ConnectionTable } from "../../slow_clients/mod.ts";
import { currentRuntime } from "../../runtime/mod.ts";
import { ReloadStatus } from "../reload_status.ts";
import { type FromThread, fromWire, type ToThread } from "./messages.ts";
import { errorText, log } from "../../log.ts";

interface ThreadScope {
  onmessage: ((event: MessageEvent<ToThread>) => void) | null;
  postMessage(message: FromThread): void;
}

const scope = globalThis as unknown as ThreadScope;
const send = (message: FromThread) => scope.postMessage(message);

let app: App | null = null;
/** The config of the reload under way, as the main thread loaded it (or why it did not load). */
let reloaded: Promise<Config> = Promise.reject(new Error("no reload under way"));
reloaded.catch(() => {});
let applyThrottle: Parameters<ThreadLink["onThrottle"]>[0] = () => {};
let applyLogin: Parameters<ThreadLink["onLogin"]>[0] = () => {};
let applyFiles: Parameters<ThreadLink["onFilesChanged"]>[0] = () => {};
let nextId = 1;
const scrapes = new Map<number, (snapshots: MetricsSnapshot[]) => void>();
const certificates = new Map<number, (answer: Extract<ToThread, { type: "tls" }>) => void>();

const verifications = new Map<number, (ok: boolean | null) => void>();
let closed = false;

/** Password checks go to the main thread, which hashes for all threads (lib/service/start.ts). */
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

/** The link to the other threads; its cache secret arrives with the start message. */
const linkWith = (cacheSecret: string, index: number): ThreadLink => ({
  cacheSecret,
  watchesFiles: index === 0,
  publishFilesChanged: (changed) => send({ type: "files", changed }),
  onFilesChanged: (reload) => applyFiles = reload,
  publishLogin: (key, encoded) => send({ type: "login", key, encoded }),
  onLogin: (remember) => applyLogin = remember,
  publishThrottle: (event) => send({ type: "throttle", event }),
  onThrottle: (apply) => applyThrottle = apply,
  otherMetrics: () =>
    new Promise((resolve) => {
      const id = nextId++;
      scrapes.set(id, resolve);
      send({ type: "metrics?", id });
    }),
});

async function start(index: number, message: Extract<ToThread, { type: "start" }>) {
  try {
    const loaders = { loadConfig: () => reloaded, readTlsFiles };
    app = await startApp(fromWire(message.config), await currentRuntime(), log, loaders, {
      sharedPort: true,
      // The first thread speaks for all: they load the same files and apply the same changes.
      notice: index === 0 ? log : () => {},
      link: linkWith(message.cacheSecret, index),
      verifier,
      connections: new ConnectionTable(message.connections),
      reloadStatus: new ReloadStatus(message.reloadStatus, index),
    });
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
      return await start(message.index, message);
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
    case "throttle":
      return applyThrottle(message.event);
    case "login":
      return applyLogin(message.key, message.encoded);
    case "files":
      return applyFiles(message.changed);
    case "snapshot?":
      if (app) send({ type: "snapshot", id: message.id, snapshot: app.metricsSnapshot() });
      return;
    case "verified":
      verifications.get(message.id)?.(message.ok);
      verifications.delete(message.id);
      return;
    case "tls":
      certificates.get(message.id)?.(message);
      certificates.delete(message.id);
      return;
    case "metrics":
      scrapes.get(message.id)?.(message.snapshots);
      scrapes.delete(message.id);
      return;
    case "shutdown":
      await app?.shutdown(message.graceMs);
      return send({ type: "stopped" });
  }
};
