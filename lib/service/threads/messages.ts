/**
 * What the main thread (group.ts) and a server thread (thread.ts) say to each other. Kept apart
 * from both so that a server thread loads neither the config module nor the main thread's code.
 * The shared state (failed-login counts, verified credentials) and the notices between the
 * threads (file changes, metrics for a scrape) go through the store the main thread serves
 * (lib/state/threads.ts), over the MessagePort sent with "start"; this is the rest.
 */
import type { Config, TlsConfig } from "../../config/mod.ts";
import type { PasswordHash } from "../../auth/mod.ts";

/** A config as postMessage can carry it: URLs as strings. */
export type WireConfig = Omit<Config, "routes"> & {
  routes: (Omit<Config["routes"][number], "upstream"> & { upstream: string })[];
};

/** Messages from the main thread to a server thread. */
export type ToThread =
  | {
    type: "start";
    /** This thread's number, from 0; thread 0 watches the files and speaks for all. */
    index: number;
    /** How many server threads there are. */
    threads: number;
    config: WireConfig;
    /** The secret of the credential cache's keys, the same in every thread. */
    cacheSecret: string;
    /** This thread's connection to the main thread's store (StoreBroker.connect). */
    store: MessagePort;
    /** The ConnectionTable's buffer, shared by all threads (the main thread reaps). */
    connections: SharedArrayBuffer;
    /** The ReloadStatus's buffer, shared by all threads (each writes its own slot, `index`). */
    reloadStatus: SharedArrayBuffer;
    /** The StateStatus's buffer when the state is in Redis (the main thread writes it). */
    stateStatus: SharedArrayBuffer | null;
  }
  | { type: "reload"; config: WireConfig | null; error: string | null }
  | { type: "tls"; id: number; tls: TlsConfig | null; error: string | null }
  | { type: "verified"; id: number; ok: boolean | null }
  | { type: "shutdown"; graceMs: number };

/** Messages from a server thread to the main thread. */
export type FromThread =
  | { type: "started" }
  | { type: "failed"; message: string; input: boolean }
  | { type: "reloaded"; shutdownGraceSeconds: number }
  | { type: "tls?"; id: number; certFile: string; keyFile: string }
  | { type: "verify"; id: number; password: string; hash: PasswordHash }
  | { type: "stopped" };

/** Converts a loaded config for postMessage. */
export function toWire(config: Config): WireConfig {
  return { ...config, routes: config.routes.map((r) => ({ ...r, upstream: r.upstream.href })) };
}

/** The config a server thread received. */
export function fromWire(wire: WireConfig): Config {
  return { ...wire, routes: wire.routes.map((r) => ({ ...r, upstream: new URL(r.upstream) })) };
}
