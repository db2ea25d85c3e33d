/**
 * The client timeouts nginx calls client_header_timeout and keepalive_timeout, which neither
 * Deno's nor Bun's server (`serve`) lets a program set: once a second a sweep lists the
 * connections on promgate's port (lib/runtime/linux_sockets.ts), looks up what the server
 * threads recorded about each one's requests (lib/slow_clients/connection_table.ts), and shuts
 * down those that
 *
 * - have sent no complete request head within `headerMs` of connecting (slowloris);
 * - have been idle, no request in flight and no byte either way, for `idleMs` (keep-alive);
 * - after a response, have kept sending for `headerMs` without completing the next request
 *   head while the server sent nothing (slowloris on a keep-alive connection).
 *
 * A connection with a request in flight, an upgraded WebSocket or a response still streaming is
 * never closed here: the route's `timeoutSeconds` bounds those.
 */
import type { ConnectionTable, PortActivity } from "./connection_table.ts";
import type { AcceptedSocket, SocketOps } from "./types.ts";

/** The limits, in milliseconds. */
export interface ClientTimeouts {
  readonly headerMs: number;
  readonly idleMs: number;
}

/** Why a connection was closed. */
export type CloseReason = "header" | "idle";

/** How often the sweep looks: the timeouts are kept to within this. */
export const SWEEP_INTERVAL_MS = 1000;

/** What the sweep remembers about one connection between looks (times in the table's clock). */
export interface Watched {
  readonly peer: string;
  /** When it was accepted, as the sweep estimates it the first time it lists it. */
  readonly firstSeenMs: number;
  /**
   * The client sending after the server fell silent, with no request begun: when that was
   * first seen, and when the client last sent, so that a next head sent a byte at a time is
   * told from one window update.
   */
  trickle: { since: number; last: number; sends: number } | null;
}

/** The facts for one connection at one sweep. */
export interface SweepInput {
  readonly socket: Pick<AcceptedSocket, "lastReceivedMs" | "lastSentMs">;
  readonly activity: PortActivity;
  readonly nowMs: number;
  readonly limits: ClientTimeouts;
}

/** Whether to close the connection `watched` now, and why (null: leave it); updates `watched`. */
export function closeDecision(watched: Watched, input: SweepInput): CloseReason | null {
  const { socket, activity, nowMs, limits } = input;
  if (activity.active > 0) {
    watched.trickle = null;
    return null;
  }
  // A request that started before the connection can have been accepted was another
  // connection's, from the same client port.
  if (activity.startedMs < 0 || activity.startedMs < watched.firstSeenMs - 2 * SWEEP_INTERVAL_MS) {
    return nowMs - watched.firstSeenMs >= limits.headerMs ? "header" : null;
  }
  const endedAt = Math.max(activity.endedMs, activity.startedMs);
  const clientAt = nowMs - socket.lastReceivedMs;
  const serverAt = nowMs - socket.lastSentMs;
  if (nowMs - Math.max(endedAt, clientAt, serverAt) >= limits.idleMs) return "idle";
  if (clientAt <= endedAt || clientAt <= serverAt) {
    watched.trickle = null; // nothing from the client since, or the server answered it
    return null;
  }
  const trickle = watched.trickle ??= { since: clientAt, last: clientAt, sends: 1 };
  if (clientAt > trickle.last) {
    trickle.last = clientAt;
    trickle.sends++;
  }
  return trickle.sends > 1 && nowMs - trickle.since >= limits.headerMs ? "header" : null;
}

/**
 * When a connection listed for the first time was accepted, at the latest: not before the last
 * sweep, and not after the first byte either side sent (TCP_INFO counts from the handshake for a
 * side that has sent nothing).
 */
function acceptedBy(socket: AcceptedSocket, nowMs: number): number {
  const oldest = Math.max(socket.lastReceivedMs, socket.lastSentMs);
  return nowMs - Math.min(oldest, SWEEP_INTERVAL_MS);
}

/** A running sweep; {@linkcode ClientTimeoutSweep.stop} ends it. */
export interface ClientTimeoutSweep {
  stop(): void;
  /** Looks once, now (the interval calls this); returns how many connections it closed. */
  sweep(): number;
}

/** What {@linkcode startSweep} needs. */
export interface SweepOptions {
  readonly port: number;
  readonly table: ConnectionTable;
  readonly sockets: SocketOps;
  /** Read at every sweep, so that a reloaded config applies at once. */
  readonly limits: () => ClientTimeouts;
  /** Told about connections closed for sending no request head (nginx logs those too). */
  readonly onHeaderTimeouts: (count: number) => void;
}

/** Starts sweeping every {@linkcode SWEEP_INTERVAL_MS}. */
export function startSweep(options: SweepOptions): ClientTimeoutSweep {
  const { port, table, sockets } = options;
  const watched = new Map<number, Watched>();
  const sweep = (): number => {
    const now = table.nowMs();
    const limits = options.limits();
    const present = new Set<number>();
    let closed = 0;
    let headers = 0;
    for (const socket of sockets.list(port)) {
      present.add(socket.fd);
      let seen = watched.get(socket.fd);
      if (seen?.peer !== socket.peer) {
        seen = { peer: socket.peer, firstSeenMs: acceptedBy(socket, now), trickle: null };
        watched.set(socket.fd, seen);
      }
      const activity = table.read(socket.peerPort);
      const reason = closeDecision(seen, { socket, activity, nowMs: now, limits });
      if (reason && sockets.shutdown(socket)) {
        closed++;
        if (reason === "header") headers++;
        watched.delete(socket.fd);
      }
    }
    for (const fd of watched.keys()) if (!present.has(fd)) watched.delete(fd);
    if (headers > 0) options.onHeaderTimeouts(headers);
    return closed;
  };
  const timer = setInterval(() => {
    try {
      sweep();
    } catch { /* a descriptor closed under us; the next sweep lists afresh */ }
  }, SWEEP_INTERVAL_MS);
  return { stop: () => clearInterval(timer), sweep };
}
