/** The header and idle timeouts: the connection table and its sweep. */
export { enforceClientTimeouts } from "./client_timeouts.ts";
export { ConnectionTable, trackConnections } from "./connection_table.ts";
export type { ClientTimeoutSweep } from "./sweep.ts";
export type { AcceptedSocket, SocketAccess, SocketOps } from "./types.ts";
