/**
 * Filters Prometheus' `/api/v1/rules` and `/api/v1/alerts` answers down to a tenant, as
 * prom-label-proxy does: an alert is kept when its labels carry one of the tenant's values; a rule
 * (alerting or recording) when its own `labels` do; a rule group left without rules is dropped.
 * Anything that is not a successful answer of the documented shape is refused (the caller answers
 * 502) rather than passed on unfiltered.
 */

/** An answer that cannot be filtered. */
export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FilterError";
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether `labels` (a JSON labels object, or anything else) gives `label` one of `values`. */
function carries(labels: unknown, label: string, values: ReadonlySet<string>): boolean {
  if (!isObject(labels)) return false;
  const value = labels[label];
  return typeof value === "string" && values.has(value);
}

/** The `data` object of a Prometheus API answer; an error answer passes as it is (null). */
function dataOf(answer: unknown): Json | null {
  if (!isObject(answer)) throw new FilterError("the answer is not a JSON object");
  if (answer.status === "error") return null;
  if (answer.status !== "success" || !isObject(answer.data)) {
    throw new FilterError('the answer has no "status": "success" with a "data" object');
  }
  return answer.data;
}

/** `/api/v1/alerts`: only the tenant's alerts. Mutates and returns `answer`. */
export function filterAlerts(answer: unknown, label: string, values: readonly string[]): unknown {
  const data = dataOf(answer);
  if (data === null) return answer;
  if (!Array.isArray(data.alerts)) throw new FilterError('the answer has no "alerts" list');
  const allowed = new Set(values);
  data.alerts = data.alerts.filter((alert) =>
    isObject(alert) && carries(alert.labels, label, allowed)
  );
  return answer;
}

/** `/api/v1/rules`: only rules labelled with the tenant's values. Mutates and returns `answer`. */
export function filterRules(answer: unknown, label: string, values: readonly string[]): unknown {
  const data = dataOf(answer);
  if (data === null) return answer;
  if (!Array.isArray(data.groups)) throw new FilterError('the answer has no "groups" list');
  const allowed = new Set(values);
  const groups: Json[] = [];
  for (const group of data.groups) {
    if (!isObject(group) || !Array.isArray(group.rules)) {
      throw new FilterError('a rule group has no "rules" list');
    }
    const rules = group.rules.filter((rule) =>
      isObject(rule) && carries(rule.labels, label, allowed)
    );
    if (rules.length > 0) groups.push({ ...group, rules });
  }
  data.groups = groups;
  return answer;
}
