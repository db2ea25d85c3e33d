/** The web-standard pipeline: (Request, ClientInfo) -> Response. */
export { NO_ACCESS_LOG, openAccessLog } from "./access_log.ts";
export type { AccessLog, AccessRecord } from "./access_log.ts";
export { AddressBlocks, formatIp } from "./client_address.ts";
export { createHandler } from "./handler.ts";
export type { HandlerState } from "./handler.ts";
export { Limits } from "./limits.ts";
export type { Admission, LimitEvents, LimitsOptions } from "./limits.ts";
export { Metrics } from "./metrics.ts";
export type { MetricsSnapshot } from "./metrics.ts";
export { policyWarnings } from "./policy.ts";
export { plain } from "./responses.ts";
export { UpstreamPools } from "./upstreams.ts";
export type {
  AcceptWebSocket,
  ClientInfo,
  HttpHandler,
  ServerSocket,
  UpstreamFetch,
} from "./types.ts";
