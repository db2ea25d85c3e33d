/**
 * The config's rules: one check per field, each returning a complete message (value, what is
 * wrong, how to fix) or null, and the rules that involve more than one field.
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { jsonPath } from "./json_text.ts";

// ---------------------------------------------------------------------------------------------
// Field rules. Each returns a complete message (value, what is wrong, how to fix) or null.

export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function hostnameProblem(h: string): string | null {
  if (h.startsWith("[")) {
    return `${show(h)}: write IPv6 addresses without brackets, e.g. "::1" or "::".`;
  }
  if (/^[^:]+:\d+$/.test(h)) return `${show(h)} includes a port; put the port in listen.port.`;
  if (!/^[A-Za-z0-9.:%_-]+$/.test(h)) {
    return `${show(h)} is not a hostname or IP address. ` +
      `Use e.g. "0.0.0.0" (all IPv4 addresses), "::" or "127.0.0.1".`;
  }
  return null;
}

export function realmProblem(realm: string): string | null {
  const bad = [...realm].find((c) => c === '"' || c === "\\" || c < " " || c > "~");
  if (bad === undefined) return null;
  const name = bad === '"'
    ? 'a double quote (")'
    : bad === "\\"
    ? "a backslash (\\)"
    : bad < " "
    ? "a control character"
    : show(bad);
  return `${show(realm)} contains ${name}. The realm is sent in the WWW-Authenticate header: ` +
    `use printable ASCII without " or \\.`;
}

/** Characters a request path can hold unencoded (RFC 3986 pchar, plus "/"). */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

export function routePathProblem(p: string): string | null {
  const v = show(p);
  if (!p.startsWith("/")) return `${v} must start with "/", e.g. "/prometheus/".`;
  if (p.includes("?")) return `${v} contains "?": routes match the path only, never the query.`;
  if (p.includes("#")) return `${v} contains "#": fragments are never sent to the server.`;
  if (p.includes("%")) {
    return `${v} contains "%": percent-encoded routes are not supported; use plain characters.`;
  }
  if (p.includes("\\")) return `${v} contains "\\": use "/" to separate segments.`;
  if (!PATH_CHARS.test(p)) {
    const bad = [...p].find((c) => !PATH_CHARS.test(c));
    return `${v} contains ${show(bad)}, which requests only send percent-encoded; ` +
      `use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ only.`;
  }
  if (p.includes("//")) return `${v} contains "//" (an empty segment); use single slashes.`;
  if (p.split("/").some((s) => s === "." || s === "..")) {
    return `${v} has a "." or ".." segment, which clients remove before sending; ` +
      "write the path without it.";
  }
  return null;
}

const UPSTREAM_FIX = `Set it to the service's address, e.g. "http://localhost:9090/".`;

export function upstreamProblem(u: string): string | null {
  // Messages go to logs: never echo a password written into the URL.
  const v = show(u.replace(/^([^/]*\/\/)[^/]*@/, "$1***@"));
  if (/[\s\\]/.test(u)) return `${v} contains whitespace or "\\". ${UPSTREAM_FIX}`;
  // Checked on the raw text: the URL parser also accepts "http:host" and lower-cases schemes.
  if (!/^https?:\/\//i.test(u)) return `${v} is not an http:// or https:// URL. ${UPSTREAM_FIX}`;
  if (!URL.canParse(u)) return `${v} is not a valid URL. ${UPSTREAM_FIX}`;
  const authority = u.slice(u.indexOf("//") + 2).split("/")[0];
  if (authority.includes("@")) {
    return `${v} contains a user name or password; remove the "user:password@" part ` +
      `(set "forwardAuthorization": true to pass the client's credentials instead).`;
  }
  if (u.includes("?") || u.includes("#")) {
    return `${v} has a query or fragment; an upstream is only scheme, host, port and path.`;
  }
  return null;
}

const REDIS_FIX = 'Write it as "redis://host:6379/0" (or "rediss://" for TLS).';

/** state.redis: a redis:// or rediss:// URL with a host, an optional db number, no password. */
export function redisUrlProblem(u: string): string | null {
  // Messages go to logs: never echo a password written into the URL.
  const v = show(u.replace(/^([^/]*\/\/)[^/]*@/, "$1***@"));
  if (!/^rediss?:\/\//i.test(u) || !URL.canParse(u)) {
    return `${v} is not a redis:// or rediss:// URL. ${REDIS_FIX}`;
  }
  const url = new URL(u);
  if (url.password) {
    return `${v} contains a password; remove it and put it in a file named by ` +
      '"passwordFile" (readable by promgate only), so it is not in the config text.';
  }
  if (!url.hostname) return `${v} has no host. ${REDIS_FIX}`;
  if (!/^(\/\d{0,5})?$/.test(url.pathname)) {
    return `${v}: the path must be a database number, e.g. "/0". ${REDIS_FIX}`;
  }
  if (url.search || url.hash) return `${v} has a query or fragment. ${REDIS_FIX}`;
  return null;
}

/** Prometheus' label-name syntax; names starting "__" are reserved for Prometheus itself. */
export function labelNameProblem(name: string): string | null {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return `${show(name)} is not a Prometheus label name: use letters, digits and "_", not ` +
      'starting with a digit, e.g. "tenant".';
  }
  if (name.startsWith("__")) {
    return `${show(name)} starts with "__", which Prometheus reserves for its own labels ` +
      '(__name__ is the metric name). Use the label your series carry, e.g. "tenant".';
  }
  return null;
}

/**
 * Headers promgate writes or the HTTP exchange itself depends on: a tenancy header must not be
 * one of them (compared as CGI-style upstreams compare names: case, "_" and "-" alike).
 */
const OWNED_HEADERS = new Set([
  "host",
  "authorization",
  "cookie",
  "connection",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "accept-encoding",
  "te",
  "trailer",
  "upgrade",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-user",
]);

export function headerNameProblem(name: string): string | null {
  if (!/^[A-Za-z0-9-]+$/.test(name)) {
    return `${show(name)} is not a header name promgate sets: use letters, digits and "-", ` +
      'e.g. "X-Scope-OrgID".';
  }
  if (OWNED_HEADERS.has(name.toLowerCase())) {
    return `${show(name)} is a header HTTP or promgate itself uses; name the tenant header ` +
      'your upstream reads, e.g. "X-Scope-OrgID".';
  }
  return null;
}

/**
 * auth.tokenHeader: a header name a client can send, and none that HTTP or promgate itself uses
 * (a token there would also reach the upstream, or be read as something else).
 */
export function tokenHeaderProblem(name: string): string | null {
  if (!/^[A-Za-z0-9-]+$/.test(name)) {
    return `${show(name)} is not a header name: use letters, digits and "-", ` +
      'e.g. "X-Promgate-Token".';
  }
  if (OWNED_HEADERS.has(name.toLowerCase())) {
    return `${show(name)} is a header HTTP or promgate itself uses; name another, ` +
      'e.g. "X-Promgate-Token" (Authorization: Bearer works without tokenHeader).';
  }
  return null;
}

/** Whether `url`'s host is this machine (where plain http is accepted for an issuer or keys). */
function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * An identity provider's issuer or keys URL: https (plain http only to this machine, for tests
 * and a provider on the same host), no credentials, query or fragment. The issuer is compared
 * with each token's `iss` as written, so it is not normalized.
 */
export function providerUrlProblem(u: string): string | null {
  const v = show(u);
  const fix = 'e.g. "https://idp.example.com/realms/main".';
  if (!URL.canParse(u) || !/^https?:\/\//i.test(u)) return `${v} is not an https:// URL, ${fix}`;
  const url = new URL(u);
  if (url.protocol !== "https:" && !isLoopbackUrl(url)) {
    return `${v} is not https: keys fetched over plain http could be replaced on the way. Use ` +
      "the provider's https:// address (plain http is accepted only for 127.0.0.1 and localhost).";
  }
  if (url.username || url.password || url.search || url.hash) {
    return `${v} has a user name, password, query or fragment; write only the provider's URL, ${fix}`;
  }
  return null;
}

/**
 * listen.trustedProxies entries: an IPv4 or IPv6 address, or a CIDR block of one. As strict as
 * lib/http/client_address.ts reads them: no brackets, ports, zone ids, or leading zeros (which
 * some parsers read as octal).
 */
export function trustedProxyProblem(entry: string): string | null {
  const fix = 'Use an address or a CIDR block, e.g. "10.0.0.0/8", "127.0.0.1" or "fd00::/8".';
  const [address, prefix, extra] = entry.split("/");
  const v4 = isIPv4(address);
  const v6 = !v4 && isIPv6(address) && !address.includes("%");
  const dotted = address.slice(address.lastIndexOf(":") + 1).split(".");
  const leadingZero = dotted.length === 4 && dotted.some((part) => /^0[0-9]/.test(part));
  if (extra !== undefined || !(v4 || v6) || leadingZero) {
    if (entry.startsWith("[")) {
      return `${show(entry)}: write IPv6 addresses without brackets. ${fix}`;
    }
    if (/^[^:]+:\d+$/.test(entry)) return `${show(entry)} includes a port; give the address only.`;
    return `${show(entry)} is not an IP address or CIDR block. ${fix}`;
  }
  if (prefix === undefined) return null;
  const most = v4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix) || Number(prefix) > most) {
    return `${show(entry)}: the prefix length after "/" must be a number from 0 to ${most}. ${fix}`;
  }
  if (v6 && address.includes(".") && Number(prefix) < 96) {
    return `${show(entry)}: an IPv4-mapped block needs a prefix of at least 96; ` +
      "write it as an IPv4 block instead.";
  }
  return null;
}

/** Wraps a string rule as a zod refinement; empty strings are left to .min(1)'s message. */
export const rule = (check: (s: string) => string | null) => (s: string, ctx: z.RefinementCtx) => {
  const problem = s === "" ? null : check(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
};

interface PathIssue {
  code: "custom";
  path: (string | number)[];
  message: string;
  params: { crossField: true };
}

/**
 * Rules across fields: auth must exist when a route needs it, and no two routes may share a
 * prefix. Written defensively against unvalidated input so that parseConfig can report these
 * alongside zod's own issues (zod skips refinements on objects that already failed).
 */
export function crossFieldIssues(raw: unknown): PathIssue[] {
  if (!isRecord(raw) || !Array.isArray(raw.routes)) return [];
  const routes = raw.routes.map((r) => (isRecord(r) ? r : {}));
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string) =>
    issues.push({ code: "custom", path, message, params: { crossField: true } });
  const needsAuth = routes.findIndex((r) => r.auth !== false);
  if (raw.auth === undefined && needsAuth >= 0) {
    add(
      ["auth"],
      `missing, but routes[${needsAuth}] (${show(routes[needsAuth].path)}) requires it ` +
        `(routes require auth unless they say "auth": false). ` +
        `Add "auth": { "htpasswdFile": ".htpasswd" }.`,
    );
  }
  if (isRecord(raw.tls)) tlsIssues(raw.tls, add);
  if (isRecord(raw.listen) && raw.listen.proxyProtocol === true) proxyProtocolIssues(raw, add);
  const groups = isRecord(raw.groups) ? raw.groups : {};
  routes.forEach((r, i) => policyIssues(r, i, groups, add));
  routes.forEach((r, i) => {
    if (isRecord(r.tenancy)) tenancyIssues(r, r.tenancy, i, groups, add);
  });
  limitsIssues(raw, routes, groups, add);
  routes.forEach((r, i) => upstreamListIssues(r, i, add));
  const seen = new Map<string, number>();
  routes.forEach((r, i) => {
    if (typeof r.path !== "string") return;
    const prefix = r.path.replace(/\/$/, "");
    const first = seen.get(prefix);
    if (first === undefined) return void seen.set(prefix, i);
    add(
      ["routes", i, "path"],
      `${show(r.path)} duplicates routes[${first}].path ${show(routes[first].path)} ` +
        `(a trailing "/" makes no difference). Remove or change one of them.`,
    );
  });
  return issues;
}

/**
 * Several upstreams of one route serve the same URL space: the route prefix maps onto one path,
 * which Location rewriting and readOnly/tenancy decisions use, so every URL must have that path.
 * balance only means something with several.
 */
function upstreamListIssues(
  r: Record<string, unknown>,
  i: number,
  add: (path: (string | number)[], message: string) => void,
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
function policyIssues(
  r: Record<string, unknown>,
  i: number,
  groups: Record<string, unknown>,
  add: (path: (string | number)[], message: string) => void,
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

type Add = (path: (string | number)[], message: string) => void;

/**
 * Limit rules (global and per route): something to limit, settings only where they apply, known
 * groups, unique names, and a logged-in user to count by.
 */
function limitsIssues(
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
function tenancyIssues(
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

/**
 * listen.proxyProtocol needs peers to trust, and one server thread: the PROXY protocol front
 * (lib/runtime/proxy_protocol.ts) is one listener, which server threads cannot share.
 */
function proxyProtocolIssues(
  raw: Record<string, unknown>,
  add: (path: (string | number)[], message: string) => void,
): void {
  const listen = raw.listen as Record<string, unknown>;
  const trusted = listen.trustedProxies;
  if (!Array.isArray(trusted) || trusted.length === 0) {
    add(
      ["listen", "proxyProtocol"],
      "needs listen.trustedProxies: name the load balancers that send PROXY protocol headers, " +
        'e.g. "trustedProxies": ["10.0.0.0/8"].',
    );
  }
  if (raw.workers !== 1) {
    add(
      ["listen", "proxyProtocol"],
      'needs "workers": 1 (one listener reads the PROXY protocol headers). Add it.',
    );
  }
}

/** tls takes either a certificate from files or a generated one, never a mix. */
function tlsIssues(
  tls: Record<string, unknown>,
  add: (path: (string | number)[], message: string) => void,
): void {
  if (tls.selfSigned === true) {
    for (const key of ["certFile", "keyFile"].filter((k) => k in tls)) {
      add(["tls", key], `conflicts with "selfSigned": true. Use files or a generated certificate.`);
    }
    return;
  }
  if ("hostnames" in tls) {
    add(["tls", "hostnames"], 'only applies with "selfSigned": true. Remove it or add that.');
  }
  for (const key of ["certFile", "keyFile"].filter((k) => !(k in tls))) {
    add(
      ["tls", key],
      `missing. Name the PEM ${key === "certFile" ? "certificate" : "key"} file, ` +
        'or set "selfSigned": true for a certificate generated at start-up.',
    );
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
