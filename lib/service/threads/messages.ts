/**
 * What the main thread and the server threads say to each other (lib/service/start.ts,
 * lib/service/threads/thread.ts). Kept apart from both so that a server thread loads neither the config
 * module nor the main thread's code.
 */
import type { Config, TlsConfig } from "../../config/mod.ts";
import type { MetricsSnapshot } from "../../http/mod.ts";
import type { PasswordHash, ThrottleEvent } from "../../auth/mod.ts";

/** A config as postMessage can carry it: URLs as strings. */
export type WireConfig = Omit<Config, "routes"> & {
  routes: (Omit<Config["routes"][number], "upstream"> & { upstream: string })[];
};

/** Messages from the main thread to a server thread. */
export type ToThread =
  | {
    type: "start";
    index: number;
    config: WireConfig;
    cacheSecret: string;
    /** The ConnectionTable's buffer, shared by all threads (the main thread reaps). */
    connections: SharedArrayBuffer;
    /** The ReloadStatus's buffer, shared by all threads (each writes its own slot, `index`). */
    reloadStatus: SharedArrayBuffer;
  }
  | { type: "login"; key: string; encoded: string }
  | { type: "files"; changed: string[] }
  | { type: "reload"; config: WireConfig | null; error: string | null }
  | { type: "throttle"; event: ThrottleEvent }
  | { type: "snapshot?"; id: number }
  | { type: "metrics"; id: number; snapshots: MetricsSnapshot[] }
  | { type: "tls"; id: number; tls: TlsConfig | null; error: string | null }
  | { type: "verified"; id: number; ok: boolean | null }
  | { type: "shutdown"; graceMs: number };

/** Messages from a server thread to the main thread. */
export type FromThread =
  | { type: "started" }
  | { type: "failed"; message: string; input: boolean }
  | { type: "reloaded"; shutdownGraceSeconds: number }
  | { type: "throttle"; event: ThrottleEvent }
  | { type: "login"; key: string; encoded: string }
  | { type: "files"; changed: string[] }
  | { type: "metrics?"; id: number }
  | { type: "tls?"; id: number; certFile: string; keyFile: string }
  | { type: "verify"; id: number; password: string; hash: PasswordHash }
  | { type: "snapshot"; id: number; snapshot: MetricsSnapshot }
  | { type: "stopped" };

/** Converts a loaded config for postMessage. */
export function toWire(config: Config): WireConfig {
  return { ...config, routes: config.routes.map((r) => ({ ...r, upstream: r.upstream.href })) };
}

/** The config a server thread received. */
export function fromWire(wire: WireConfig): Config {
  return { ...wire, routes: wire.routes.map((r) => ({ ...r, upstream: new URL(r.upstream) })) };
}
