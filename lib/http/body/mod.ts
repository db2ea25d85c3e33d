/** Bodies: coalescing small ones, upstream deadlines, encodings. */
export { coalesceBody, DEFAULT_LIMITS, readWhole } from "./coalesce.ts";
export type { CoalesceLimits } from "./coalesce.ts";
export { UpstreamDeadline } from "./deadline.ts";
export type { ReadWatch } from "./deadline.ts";
export { withoutRefused } from "./encoding.ts";
