/**
 * Alertmanager's API v2 JSON, narrowed to a tenant: answers filtered (alerts, alert groups,
 * silences), posted alerts and silences checked and given the tenant's label. What is posted is
 * re-written from the parsed JSON with only the fields Alertmanager defines, so the upstream reads
 * exactly what was checked: Go's JSON decoder matches keys without regard to case and keeps the
 * last of repeated keys, so `"Matchers"` or a second `"matchers"` could otherwise say something
 * else than what promgate read. An unknown key is refused instead.
 */
import { FilterError } from "./filter.ts";
import type { TenantMatcher } from "./matcher.ts";

/** A posted body promgate will not forward; `status` 400 (malformed) or 403 (another tenant's). */
export class PostRefused extends Error {
  constructor(readonly status: 400 | 403, message: string) {
    super(message);
    this.name = "PostRefused";
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const show = (v: unknown) => JSON.stringify(v);

/** Whether an alert (or anything else) is labelled with one of the tenant's values. */
function isTenants(alert: unknown, t: TenantMatcher): boolean {
  if (!isObject(alert) || !isObject(alert.labels)) return false;
  const value = alert.labels[t.label];
  return typeof value === "string" && t.values.includes(value);
}

/**
 * Whether a silence is the tenant's: it has a matcher on the label, and every matcher on the label
 * is an equality (not regex, not negated) to one of the tenant's values — so it silences nothing
 * of anyone else's. Alertmanager's own `filter` on silences is no help: it compares a silence's
 * matchers with the filter's as text (0.25: `tenant=~"a|b"` finds only that very regex matcher,
 * not a silence of "a"), so promgate decides on the silences themselves.
 */
export function isTenantsSilence(silence: unknown, t: TenantMatcher): boolean {
  if (!isObject(silence) || !Array.isArray(silence.matchers)) return false;
  const onLabel = silence.matchers.filter((m) => isObject(m) && m.name === t.label);
  return onLabel.length > 0 && onLabel.every((m) => pinsTo(m as Json, t));
}

/** Whether a matcher object is `label="v"` with v one of the tenant's values. */
function pinsTo(m: Json, t: TenantMatcher): boolean {
  return m.isRegex === false && m.isEqual !== false && typeof m.value === "string" &&
    t.values.includes(m.value);
}

function listOf(answer: unknown, what: string): unknown[] {
  if (!Array.isArray(answer)) throw new FilterError(`the ${what} answer is not a JSON list`);
  return answer;
}

/** GET `/api/v2/alerts`: only the tenant's alerts. */
export function filterAlertList(answer: unknown, t: TenantMatcher): unknown {
  return listOf(answer, "alerts").filter((a) => isTenants(a, t));
}

/** GET `/api/v2/alerts/groups`: each group's alerts narrowed; groups left empty dropped. */
export function filterAlertGroups(answer: unknown, t: TenantMatcher): unknown {
  const groups: Json[] = [];
  for (const group of listOf(answer, "alert groups")) {
    if (!isObject(group) || !Array.isArray(group.alerts)) {
      throw new FilterError('an alert group has no "alerts" list');
    }
    const alerts = group.alerts.filter((a) => isTenants(a, t));
    if (alerts.length > 0) groups.push({ ...group, alerts });
  }
  return groups;
}

/** GET `/api/v2/silences`: only the tenant's silences. */
export function filterSilences(answer: unknown, t: TenantMatcher): unknown {
  return listOf(answer, "silences").filter((s) => isTenantsSilence(s, t));
}

/** Copies the listed keys of `source`, refusing any other key (see the module doc). */
function known(source: Json, keys: readonly string[], where: string): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(source)) {
    if (!keys.includes(key)) {
      throw new PostRefused(400, `${where} has the unknown field ${show(key)}`);
    }
    out[key] = value;
  }
  return out;
}

const ALERT_KEYS = ["labels", "annotations", "startsAt", "endsAt", "generatorURL"];

/**
 * POST `/api/v2/alerts`: every alert's labels must give the label one of the tenant's values
 * (403 for another value); an alert without it gets the tenant's value when there is only one
 * (400 when the user has several: which one is theirs to say).
 */
export function checkPostedAlerts(body: unknown, t: TenantMatcher): unknown[] {
  if (!Array.isArray(body)) throw new PostRefused(400, "the body is not a JSON list of alerts");
  return body.map((alert, i) => {
    const where = `alert ${i}`;
    if (!isObject(alert)) throw new PostRefused(400, `${where} is not a JSON object`);
    const out = known(alert, ALERT_KEYS, where);
    if (!isObject(out.labels)) throw new PostRefused(400, `${where} has no "labels" object`);
    const labels = { ...out.labels };
    const value = labels[t.label];
    if (value === undefined) {
      labels[t.label] = onlyValue(t, `${where} has no label ${show(t.label)}`);
    } else if (typeof value !== "string" || !t.values.includes(value)) {
      throw new PostRefused(403, `${where} has ${t.label}=${show(value)}, not one of yours`);
    }
    return { ...out, labels };
  });
}

/** The tenant's value when it has one; else 400 with `missing` and the choice. */
function onlyValue(t: TenantMatcher, missing: string): string {
  if (t.values.length === 1) return t.values[0];
  throw new PostRefused(
    400,
    `${missing}; add one of ${t.values.map((v) => `${t.label}=${show(v)}`).join(", ")}`,
  );
}

const SILENCE_KEYS = ["id", "matchers", "startsAt", "endsAt", "createdBy", "comment"];
const MATCHER_KEYS = ["name", "value", "isRegex", "isEqual"];

/**
 * POST `/api/v2/silences`: the silence as it will be sent, and the id of the silence it updates
 * ("" for a new one). Every matcher on the label must be an equality to one of the tenant's
 * values (403 for another value, a regex or a negation: those could silence someone else's
 * alerts); with none, `label="value"` is added when the tenant has one value (400 otherwise).
 */
export function checkPostedSilence(body: unknown, t: TenantMatcher): { silence: Json; id: string } {
  if (!isObject(body)) throw new PostRefused(400, "the body is not a JSON object (a silence)");
  const silence = known(body, SILENCE_KEYS, "the silence");
  const id = silence.id ?? "";
  if (typeof id !== "string") throw new PostRefused(400, 'the silence\'s "id" is not a string');
  if (!Array.isArray(silence.matchers)) {
    throw new PostRefused(400, 'the silence has no "matchers" list');
  }
  const matchers = silence.matchers.map((m, i) => {
    const where = `matcher ${i}`;
    if (!isObject(m)) throw new PostRefused(400, `${where} is not a JSON object`);
    const out = known(m, MATCHER_KEYS, where);
    if (out.name === t.label && !pinsTo(out, t)) {
      throw new PostRefused(
        403,
        `${where} on ${show(t.label)} is not an equality to one of your values (${
          t.values.map(show).join(", ")
        })`,
      );
    }
    return out;
  });
  if (!matchers.some((m) => m.name === t.label)) {
    const value = onlyValue(t, `the silence has no matcher on ${show(t.label)}`);
    matchers.push({ name: t.label, value, isRegex: false, isEqual: true });
  }
  return { silence: { ...silence, matchers }, id };
}
