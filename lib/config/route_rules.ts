/**
 * The cross-field rules of routes: allow/admins policy, limit rules (global and per route),
 * tenancy with the overlap of restricted and unrestricted users, and lists of upstreams. Called
 * by crossFieldIssues (cross_field_rules.ts).
 */
import { jsonPath } from "./json_text.ts";
import { isRecord, show, upstreamProblem } from "./rules.ts";

/** Records one issue at a JSON path. */
export type Add = (path: (string | number)[], message: string) => void;

/**
 * Several upstreams of one route serve the same URL space: the route prefix maps onto one path,
 * which Location rewriting and readOnly/tenancy decisions use, so every URL must have that path.
 * balance only means something with several.
 */
export function upstreamListIssues(
  r: Record<string, unknown>,
  i: number,
  add: Add,
): void {
  const list = r.upstream;
  if (!Array.isArray(list)) {
    if (r.balance !== undefined) {
      add(
        ["routes", i, "balance"],
        'needs several upstreams; write "upstream" as an array of URLs, or remove "balance".',
      );
    }
    return;
  }
  const urls = list.filter((u): u is string =>
    typeof u === "string" && upstreamProblem(u) === null
  );
  if (urls.length === 0) return;
  const pathOf = (u: string) => u.slice(u.indexOf("//") + 2).replace(/^[^/]*/, "");
  const first = pathOf(urls[0]);
  const origins = new Map<string, number>();
  list.forEach((u, j) => {
    if (typeof u !== "string" || upstreamProblem(u) !== null) return;
    if (pathOf(u) !== first) {
      add(
        ["routes", i, "upstream", j],
        `${show(u)} has the path ${show(pathOf(u))}, but ${show(urls[0])} has ` +
          `${show(first)}; every upstream of a route must have the same path (the route's ` +
          "prefix maps onto it). Use one route per path.",
      );
    }
    const origin = new URL(u).origin;
    const seen = origins.get(origin);
    if (seen !== undefined) {
      add(
        ["routes", i, "upstream", j],
        `${show(u)} names the same server as routes[${i}].upstream[${seen}]; remove one.`,
      );
    } else origins.set(origin, j);
  });
}

/** allow/admins name known groups, and only make sense where they can apply. */
export function policyIssues(
  r: Record<string, unknown>,
  i: number,
  groups: Record<string, unknown>,
  add: Add,
): void {
  for (const key of ["allow", "admins"]) {
    const names = Array.isArray(r[key]) ? r[key] : [];
    names.forEach((name, j) => {
      if (typeof name === "string" && name.startsWith("@") && !(name.slice(1) in groups)) {
        add(
          ["routes", i, key, j],
          `${show(name)} names no group. Define it in "groups", e.g. ` +
            `"groups": { ${show(name.slice(1))}: ["alice"] }.`,
        );
      }
    });
  }
  if (r.auth === false) {
    for (
      const key of ["allow", "forwardUser"].filter((k) => r[k] !== undefined && r[k] !== false)
    ) {
      add(["routes", i, key], 'needs a logged-in user, but the route has "auth": false.');
    }
  }
  if (Array.isArray(r.admins) && r.admins.length > 0 && r.readOnly !== true) {
    add(["routes", i, "admins"], 'only applies with "readOnly": true. Remove it or add that.');
  }
}

/**
 * Limit rules (global and per route): something to limit, settings only where they apply, known
 * groups, unique names, and a logged-in user to count by.
 */
export function limitsIssues(
  raw: Record<string, unknown>,
  routes: Record<string, unknown>[],
  groups: Record<string, unknown>,
  add: Add,
): void {
  const names = new Map<string, string>();
  const check = (rules: unknown, at: (string | number)[], route?: Record<string, unknown>) => {
    if (!Array.isArray(rules)) return;
    rules.forEach((r, j) => {
      if (!isRecord(r)) return;
      const here = [...at, j];
      const shown = jsonPath(here);
      if (route?.auth === false) {
        add(here, 'needs a logged-in user to count by, but the route has "auth": false.');
      }
      if (r.concurrent === undefined && r.perSecond === undefined) {
        add(here, 'limits nothing. Add "concurrent" (requests at once) or "perSecond", or both.');
      }
      for (const key of ["queueSeconds", "queue"]) {
        if (r[key] !== undefined && r.concurrent === undefined) {
          add([...here, key], 'only applies with "concurrent". Remove it or add that.');
        }
      }
      if (r.burst !== undefined && r.perSecond === undefined) {
        add([...here, "burst"], 'only applies with "perSecond". Remove it or add that.');
      }
      const who = Array.isArray(r.who) ? r.who : [];
      who.forEach((name, k) => {
        if (typeof name === "string" && name.startsWith("@") && !(name.slice(1) in groups)) {
          add(
            [...here, "who", k],
            `${show(name)} names no group. Define it in "groups", e.g. ` +
              `"groups": { ${show(name.slice(1))}: ["alice"] }.`,
          );
        }
      });
      if (typeof r.name !== "string") return;
      const first = names.get(r.name);
      if (first === undefined) return void names.set(r.name, shown);
      add([...here, "name"], `${show(r.name)} is already the name of ${first}. Rename one.`);
    });
  };
  check(raw.limits, ["limits"]);
  routes.forEach((r, i) => check(r.limits, ["routes", i, "limits"], r));
}

/**
 * A route's tenancy: something to enforce with (label or header), at least one restricted entry,
 * known groups, nobody both restricted and unrestricted, a logged-in user, and header values that
 * survive being joined by "|".
 */
export function tenancyIssues(
  r: Record<string, unknown>,
  t: Record<string, unknown>,
  i: number,
  groups: Record<string, unknown>,
  add: Add,
): void {
  const at = (...rest: (string | number)[]) => ["routes", i, "tenancy", ...rest];
  if (t.label === undefined && t.header === undefined) {
    add(
      at(),
      'has neither "label" nor "header", so nothing would restrict anyone. Add "label": ' +
        '"tenant" (PromQL enforcement on Prometheus) or "header": "X-Scope-OrgID" (Mimir, Cortex).',
    );
  }
  if (t.api === "alertmanager" && t.label === undefined) {
    add(
      at("api"),
      'is "alertmanager", which enforces the "label" on alerts and silences, but there is no ' +
        '"label". Add "label": "tenant" (the alert label that tells tenants apart).',
    );
  }
  if (r.auth === false) {
    add(at(), 'needs a logged-in user, but the route has "auth": false. Remove one of them.');
  }
  const values = isRecord(t.values) ? t.values : {};
  if (isRecord(t.values) && Object.keys(values).length === 0) {
    add(at("values"), 'is empty. Name who is restricted, e.g. "values": { "alice": ["a"] }.');
  }
  const unrestricted = Array.isArray(t.unrestricted) ? t.unrestricted : [];
  const unknownGroup = (name: unknown) =>
    typeof name === "string" && name.startsWith("@") && !(name.slice(1) in groups);
  const groupFix = (name: string) =>
    `${show(name)} names no group. Define it in "groups", e.g. "groups": { ` +
    `${show(name.slice(1))}: ["alice"] }.`;
  for (const name of Object.keys(values).filter(unknownGroup)) {
    add(at("values", name), groupFix(name));
  }
  unrestricted.forEach((name, j) => {
    if (unknownGroup(name)) add(at("unrestricted", j), groupFix(name));
  });
  overlapIssues(values, unrestricted, groups, at, add);
  if (typeof t.header === "string") {
    for (const [name, list] of Object.entries(values)) {
      const bad = Array.isArray(list)
        ? list.find((v) => typeof v === "string" && /[|]/.test(v))
        : null;
      if (bad) {
        add(
          at("values", name),
          `${show(bad)} contains "|", which separates values in the "header". Rename the value.`,
        );
      }
    }
    const forwardUser = r.forwardUser === true ? "x-forwarded-user" : r.forwardUser;
    if (typeof forwardUser === "string" && forwardUser.toLowerCase() === t.header.toLowerCase()) {
      add(at("header"), `is also the route's forwardUser header. Use two different headers.`);
    }
  }
}

/** Users (directly or through a group) named both in values and in unrestricted. */
function overlapIssues(
  values: Record<string, unknown>,
  unrestricted: unknown[],
  groups: Record<string, unknown>,
  at: (...rest: (string | number)[]) => (string | number)[],
  add: Add,
): void {
  const members = (name: string): string[] => {
    if (!name.startsWith("@")) return [name];
    const list = groups[name.slice(1)];
    return Array.isArray(list) ? list.filter((u) => typeof u === "string") : [];
  };
  const restrictedBy = new Map<string, string>();
  for (const name of Object.keys(values)) {
    for (const user of members(name)) if (!restrictedBy.has(user)) restrictedBy.set(user, name);
  }
  unrestricted.forEach((name, j) => {
    if (typeof name !== "string") return;
    const user = members(name).find((u) => restrictedBy.has(u));
    if (user === undefined) return;
    const via = (entry: string) => (entry === user ? "" : ` (through ${show(entry)})`);
    add(
      at("unrestricted", j),
      `${show(user)}${via(name)} is also restricted by values${via(restrictedBy.get(user)!)}. ` +
        "A user is either restricted or unrestricted: remove the user from one of them.",
    );
  });
}
