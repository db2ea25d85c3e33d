/**
 * One server thread (see lib/workers.ts): runs the whole app on its own listener on the shared
 * port, with the config the main thread loaded, and answers the main thread's messages.
 */
import { type App, startApp, type ThreadLink } from "./app.ts";
import { InputError } from "./errors.ts";
import type { MetricsSnapshot } from "./metrics.ts";
import { currentRuntime } from "./runtime/mod.ts";
import { type FromThread, fromWire, type ToThread } from "./workers.ts";

interface ThreadScope {
  onmessage: ((event: MessageEvent<ToThread>) => void) | null;
  postMessage(message: FromThread): void;
}

const scope = globalThis as unknown as ThreadScope;
const send = (message: FromThread) => scope.postMessage(message);
const log = (line: string) => console.error(`promgate: ${line}`);

let app: App | null = null;
let applyThrottle: Parameters<ThreadLink["onThrottle"]>[0] = () => {};
let applyLogin: Parameters<ThreadLink["onLogin"]>[0] = () => {};
let nextId = 1;
const scrapes = new Map<number, (snapshots: MetricsSnapshot[]) => void>();

/** The link to the other threads; its cache secret arrives with the start message. */
const linkWith = (cacheSecret: string): ThreadLink => ({
  cacheSecret,
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
    app = await startApp(fromWire(message.config), await currentRuntime(), log, {
      sharedPort: true,
      // The first thread speaks for all: they load the same files and apply the same changes.
      notice: index === 0 ? log : () => {},
      link: linkWith(message.cacheSecret),
    });
    send({ type: "started" });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    send({ type: "failed", message: text, input: error instanceof InputError });
  }
}

scope.onmessage = async (event) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      return await start(message.index, message);
    case "reload":
      await app?.reload();
      return send({
        type: "reloaded",
        shutdownGraceSeconds: app?.config.shutdownGraceSeconds ?? 0,
      });
    case "throttle":
      return applyThrottle(message.event);
    case "login":
      return applyLogin(message.key, message.encoded);
    case "snapshot?":
      if (app) send({ type: "snapshot", id: message.id, snapshot: app.metricsSnapshot() });
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
