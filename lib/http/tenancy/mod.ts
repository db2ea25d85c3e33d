/** Multi-tenancy: narrowing what a restricted user's requests reach (see request.ts). */
export { applyTenancy } from "./request.ts";
export type { TenancyForward, TenancyInput, TenancyOutcome, TenancyRefusal } from "./request.ts";
export { injectMatcher, parse as parsePromQL, PromQLError } from "./promql.ts";
export { quoteRegex, type TenantMatcher, tenantMatcher } from "./matcher.ts";
export { encodePair, FormError, type FormPair, parsePairs, rewritePairs } from "./form.ts";
export { classify, type Endpoint } from "./endpoints.ts";
export { filterAlerts, FilterError, filterRules } from "./filter.ts";
export { filterAnswer, type FilteredAnswer, MAX_ANSWER_BYTES } from "./response.ts";
export { type Tenant, tenantOf } from "./tenant.ts";
export { BodyTooLarge, readLimited } from "./body.ts";
