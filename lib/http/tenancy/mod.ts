/** Multi-tenancy: narrowing what a restricted user's requests reach (see request.ts). */
export { applyTenancy } from "./request.ts";
export type {
  AskUpstream,
  TenancyForward,
  TenancyInput,
  TenancyOutcome,
  TenancyRefusal,
} from "./outcome.ts";
export { injectMatcher, loadPromQL, parse as parsePromQL, PromQLError } from "./promql.ts";
export { quoteRegex, type TenantMatcher, tenantMatcher } from "./matcher.ts";
export { encodePair, FormError, type FormPair, parsePairs, rewritePairs } from "./form.ts";
export { classify, type Endpoint } from "./endpoints.ts";
export { filterAlerts, FilterError, filterRules } from "./filter.ts";
export {
  AnswerForbidden,
  filterAnswer,
  type FilteredAnswer,
  filterJson,
  MAX_ANSWER_BYTES,
} from "./response.ts";
export { type Tenant, tenantOf } from "./tenant.ts";
export { BodyTooLarge, readLimited } from "./body.ts";
export { type AlertmanagerEndpoint, classifyAlertmanager } from "./alertmanager_endpoints.ts";
export {
  checkPostedAlerts,
  checkPostedSilence,
  filterAlertGroups,
  filterAlertList,
  filterSilences,
  isTenantsSilence,
  PostRefused,
} from "./alertmanager_json.ts";
