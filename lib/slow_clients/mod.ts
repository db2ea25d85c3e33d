/** The header and idle timeouts: the connection table and its sweep. */
export { enforceClientTimeouts } from "./client_timeouts.ts";
export { ConnectionTable, TrackedConn, trackRequest } from "./connection_table.ts";
export type { Reaper } from "./sweep.ts";
export type { AcceptedSocket, SocketAccess, SocketOps } from "./types.ts";
