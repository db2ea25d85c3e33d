/** The label matcher that restricts a selector to a tenant's values, as PromQL text. */

/** A tenant's restriction: the label, its values, and the matcher text injected into selectors. */
export interface TenantMatcher {
  readonly label: string;
  readonly values: readonly string[];
  /** `tenant="a"` for one value, `tenant=~"a|b"` for several (each regex-quoted). */
  readonly text: string;
}

/** Characters Go's regexp.QuoteMeta escapes (Prometheus matches regexes with Go's RE2). */
const REGEX_SPECIAL = /[\\.+*?()|[\]{}^$]/g;

/** A value as a regex matching exactly it, like Go's regexp.QuoteMeta. */
export function quoteRegex(value: string): string {
  return value.replace(REGEX_SPECIAL, "\\$&");
}

/**
 * A PromQL double-quoted string holding `value`. JSON's escapes (\" \\ \n \t \uXXXX …) are all
 * valid in PromQL's Go-style string literals, so JSON.stringify writes one exactly.
 */
export function promqlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * The matcher for `label` and `values` (deduplicated, in the order given; at least one). Several
 * values become one anchored alternation: Prometheus anchors regex matchers at both ends, so
 * `tenant=~"a|b"` matches exactly "a" or "b", never "ab" or "xa".
 */
export function tenantMatcher(label: string, values: readonly string[]): TenantMatcher {
  const unique = [...new Set(values)];
  if (unique.length === 0) throw new Error("a tenant matcher needs at least one value");
  const text = unique.length === 1
    ? `${label}=${promqlString(unique[0])}`
    : `${label}=~${promqlString(unique.map(quoteRegex).join("|"))}`;
  return { label, values: unique, text };
}
