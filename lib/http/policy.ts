/**
 * Who may use a route, and what a read-only route lets through.
 *
 * `allow` restricts a route to named users and groups ("@ops"). `readOnly` means read-only for
 * the whole Prometheus stack (Prometheus, Alertmanager, Pushgateway), except for the route's
 * `admins`:
 * - GET, HEAD and OPTIONS pass, unless the path holds a server-changing endpoint (below);
 * - POST passes only to Prometheus' read endpoints that take it (`…/api/v1/query`,
 *   `query_range`, `query_exemplars`, `series`, `labels`, `read`, `format_query`,
 *   `parse_query`: Grafana sends long queries that way, remote read always does);
 * - every other method, and every request to a path holding `/api/v1/admin`, `/-/quit`,
 *   `/-/reload`, `/api/v1/write`, `/api/v1/otlp` or Pushgateway's `/metrics/job` (or
 *   `/metrics/job@base64`) at a segment boundary, gets 403. So Alertmanager's silences and
 *   alerts, Pushgateway's pushes and wipe, and any PUT, PATCH or DELETE are refused.
 * Apps that POST to read (Grafana) do not work behind a read-only route.
 *
 * The path checked is the one the upstream receives (after the route's prefix is replaced by the
 * upstream's path), and the endpoints are found at ANY segment boundary of it: Prometheus serves
 * its admin API under its own route prefix (`--web.external-url=…/prometheus` without
 * `--web.route-prefix` serves `/prometheus/-/quit`), which promgate cannot know. The path is
 * already canonical (lib/http/target.ts), so `/api/v1/%61dmin/…` or `/api/v1/query/../admin/…`
 * cannot slip past.
 *
 * {@link policyWarnings} finds configs where these rules can be walked around.
 */
import type { Groups, RouteConfig, RoutePolicy } from "../config/mod.ts";

export type { Groups, RoutePolicy };

/** Why a request is refused, for the log; null when it may pass. */
export type Denial = string | null;

/** Methods that read (OPTIONS: CORS preflights; Prometheus answers them without acting). */
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Endpoints (matched at any segment boundary) that change or stop a server of the stack, refused
 * whatever the method. Pushgateway's push paths are here, not only left to the method rule,
 * because their label pairs are a free-form tail: `POST /metrics/job/x/a/api/v1/query` pushes
 * (job "x", labels a="api", v1="query") yet ends like a query.
 */
const WRITE_PATHS = [
  "/api/v1/admin",
  "/-/quit",
  "/-/reload",
  "/api/v1/write",
  "/api/v1/otlp",
  "/metrics/job",
  "/metrics/job@base64",
];

/** Prometheus read endpoints that take POST; the path must end with one of them. */
const POST_READ_PATHS = [
  "/api/v1/query",
  "/api/v1/query_range",
  "/api/v1/query_exemplars",
  "/api/v1/series",
  "/api/v1/labels",
  "/api/v1/read",
  "/api/v1/format_query",
  "/api/v1/parse_query",
];

/** Endpoints that only say whether the server is up: harmless to reach without restrictions. */
const HEALTH_PATHS = ["/-/healthy", "/-/ready"];

/**
 * Who a request comes from: the user, and the groups its identity source vouches for (a JWT's
 * groups claim; none for htpasswd users and API tokens). The config's `groups` apply by name
 * on top of these, to every user alike.
 */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
}

/**
 * The groups every rule (allow, admins, tenancy) reads for one request: the config's, with the
 * identity added to each configured group its source names. Groups the config does not name are
 * left out, as no rule can refer to them (lib/config/route_rules.ts).
 */
export function groupsFor(groups: Groups, identity: Identity | null): Groups {
  const named = identity?.groups.filter((g) => groups.has(g) && !groups.get(g)!.has(identity.user));
  if (!identity || !named || named.length === 0) return groups;
  const merged = new Map(groups);
  for (const g of named) merged.set(g, new Set([...groups.get(g)!, identity.user]));
  return merged;
}

/** Whether `user` is listed in `names` directly or through one of its "@group"s. */
export function isListed(user: string, names: readonly string[], groups: Groups): boolean {
  return names.some((name) =>
    name.startsWith("@") ? groups.get(name.slice(1))?.has(user) ?? false : name === user
  );
}

/** The first of `endpoints` that `path` holds at a segment boundary (both ends), or undefined. */
function heldEndpoint(path: string, endpoints: readonly string[]): string | undefined {
  const slashed = path.endsWith("/") ? path : path + "/";
  return endpoints.find((e) => slashed.includes(e + "/"));
}

/** Whether `path` ends, at a segment boundary, with one of `endpoints` (a trailing "/" allowed). */
function endsWithEndpoint(path: string, endpoints: readonly string[]): boolean {
  const bare = path.endsWith("/") ? path.slice(0, -1) : path;
  return endpoints.some((e) => bare.endsWith(e));
}

/**
 * Decides whether `user` may send `method` to `upstreamPath`: the canonical path the upstream
 * will receive, starting with "/" (lib/http/routes.ts matchRoute's `upstreamPath`). Public routes (no
 * user) are only checked by `readOnly`, with nobody exempt.
 */
export function authorize(
  policy: RoutePolicy,
  groups: Groups,
  user: string | null,
  method: string,
  upstreamPath: string,
): Denial {
  if (policy.allow && (user === null || !isListed(user, policy.allow, groups))) {
    return `user ${
      user === null ? "(anonymous)" : JSON.stringify(user)
    } is not allowed on this route`;
  }
  if (!policy.readOnly) return null;
  if (user !== null && isListed(user, policy.admins, groups)) return null;
  return readOnlyDenial(method, upstreamPath);
}

/** The read-only rule of the module doc, for someone who is not an admin. */
function readOnlyDenial(method: string, path: string): Denial {
  const write = heldEndpoint(path, WRITE_PATHS);
  if (write) return `${write} on a read-only route`;
  const upper = method.toUpperCase();
  if (READ_METHODS.has(upper)) return null;
  if (upper === "POST" && endsWithEndpoint(path, POST_READ_PATHS)) return null;
  return `${method} on a read-only route (only queries may POST)`;
}

// ---------------------------------------------------------------------------------------------
// Config soundness: where one route's restrictions can be walked around through another.

/**
 * Warnings (one line each, without a "promgate: " prefix) about routes whose restrictions do not
 * hold, each naming the routes by their `path` and saying how to fix it:
 * - a `readOnly` route that is public (`"auth": false`) yet lists `admins`: nobody is logged in
 *   there, so the admins are never recognised;
 * - two routes to the same upstream origin where requests through one (`other`) reach the
 *   other's (`restricted`'s) part of the upstream — its upstream path and everything below it,
 *   by a client path no longer route takes — and `other` lets in someone `restricted` keeps out:
 *   - `auth`: `other` is public and `restricted` is not;
 *   - `allow`: `other` admits readers `restricted` does not (not flagged when `other` is a
 *     read-only view of a writable `restricted`: more readers there are a deliberate split);
 *   - `readOnly` / `admins`: someone may write through `other` who may not through
 *     `restricted` (a read-only route's writers are its `admins`; any other route's are its
 *     readers).
 *   Not flagged: an `other` that reaches only `/-/healthy` or `/-/ready` (harmless to anyone);
 *   and, for writes, one that reaches only a single Prometheus query endpoint (nothing there
 *   writes), one pointed at a write endpoint on purpose (e.g. `/api/v1/write` for remote-writing
 *   Prometheus servers, usually with its own `allow`), and an authenticated one next to a public
 *   read-only route (that `readOnly` restrains anonymous clients, whom `other` never admits).
 * Users and groups are compared by name, groups unexpanded. Origins are compared by scheme, host
 * and port, with `localhost`, `127.0.0.0/8` and `[::1]` taken as one host; other names for one
 * server (a DNS alias, another address) are not recognised.
 */
export function policyWarnings(routes: readonly RouteConfig[]): string[] {
  const warnings: string[] = [];
  for (const route of routes) {
    const { readOnly, admins } = route.policy;
    if (readOnly && !route.auth && admins.length > 0) {
      warnings.push(
        `route ${show(route.path)}: "admins" never apply on a public route ("auth": false): ` +
          'nobody logs in there, so everyone is read-only. Remove "admins", or remove ' +
          '"auth": false so that admins can log in.',
      );
    }
  }
  for (const restricted of routes) {
    for (const other of routes) {
      if (other === restricted || originKey(other.upstream) !== originKey(restricted.upstream)) {
        continue;
      }
      const missing = missingRestrictions(restricted, other);
      if (missing.length === 0 || !reaches(routes, other, restricted)) continue;
      warnings.push(bypassWarning(restricted, other, missing));
    }
  }
  return warnings;
}

/** A restriction that `restricted` has and `other` lacks. */
type Restriction = "auth" | "allow" | "readOnly" | "admins";

/** Who a route lets do something: anyone (public), every logged-in user, or those listed. */
type Who = "anyone" | "logged-in" | readonly string[];

/** Who may read through a route. */
function readers(route: RouteConfig): Who {
  return route.auth ? route.policy.allow ?? "logged-in" : "anyone";
}

/** Who may write through a route: its admins where it is read-only (none where public). */
function writers(route: RouteConfig): Who {
  if (!route.policy.readOnly) return readers(route);
  return route.auth ? route.policy.admins : [];
}

/** Whether everyone in `who` is also in `outer` (lists compared by name, groups unexpanded). */
function within(who: Who, outer: Who): boolean {
  if (outer === "anyone") return true;
  if (outer === "logged-in") return who !== "anyone";
  return Array.isArray(who) && who.every((name) => outer.includes(name));
}

/** What `restricted` enforces that `other` does not, where `other` may not be exempt from it. */
function missingRestrictions(restricted: RouteConfig, other: RouteConfig): Restriction[] {
  const base = basePath(other);
  const missing: Restriction[] = [];
  if (endsWithEndpoint(base, HEALTH_PATHS)) return missing;
  // A read-only view of a writable route may deliberately admit more readers.
  const readView = other.policy.readOnly && !restricted.policy.readOnly;
  if (restricted.auth && !other.auth) missing.push("auth");
  else if (!readView && !within(readers(other), readers(restricted))) missing.push("allow");
  // Reaching one query endpoint writes nothing; a route aimed at a write endpoint is deliberate;
  // a public read-only route restrains anonymous clients, whom a route needing a login never
  // admits.
  const exempt = endsWithEndpoint(base, POST_READ_PATHS) ||
    heldEndpoint(base, WRITE_PATHS) !== undefined || (!restricted.auth && other.auth);
  if (!exempt && !within(writers(other), writers(restricted))) {
    if (restricted.policy.readOnly && !other.policy.readOnly) missing.push("readOnly");
    else if (other.policy.readOnly) missing.push("admins");
    // Neither read-only: who may write is who may read, reported above.
  }
  return missing;
}

/**
 * Whether a request routed to `other` can reach an upstream path at or below `restricted`'s
 * upstream path: their upstream subtrees overlap, and the client path leading there through
 * `other` is not taken by a longer route.
 */
function reaches(routes: readonly RouteConfig[], other: RouteConfig, restricted: RouteConfig) {
  const mine = trimSlash(basePath(restricted));
  const theirs = trimSlash(basePath(other));
  if (isAtOrBelow(theirs, mine)) return true; // all of other's subtree is inside restricted's
  if (!isAtOrBelow(mine, theirs)) return false; // disjoint
  const clientPath = other.prefix + mine.slice(theirs.length);
  return !routes.some((r) =>
    r !== other && r.prefix.length > other.prefix.length && isAtOrBelow(clientPath, r.prefix)
  );
}

/** The upstream path a route's own prefix is sent to: the top of what it can reach. */
function basePath(route: RouteConfig): string {
  return route.stripPrefix ? route.upstream.pathname : route.prefix || "/";
}

function trimSlash(path: string): string {
  return path.endsWith("/") ? path.slice(0, -1) : path;
}

/** Whether `path` is `top` or below it, by whole segments ("" is the root). */
function isAtOrBelow(path: string, top: string): boolean {
  return top === "" || path === top || path.startsWith(top + "/");
}

/** Loopback spellings name one host; everything else is compared as the URL parser wrote it. */
function originKey(url: URL): string {
  const host = url.hostname;
  const loopback = host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  return `${url.protocol}//${loopback ? "loopback" : host}:${url.port}`;
}

/** How to fix a missing restriction on `other`, naming `restricted` where it helps. */
function fix(missing: Restriction, restricted: RouteConfig): string {
  const there = show(restricted.path);
  switch (missing) {
    case "auth":
      return 'remove "auth": false';
    case "allow":
      return `give it an "allow" within that of ${there}`;
    case "readOnly":
      return `give it "readOnly": true, or an "allow" within the "admins" of ${there}`;
    case "admins":
      return `list as "admins" only users who may write through ${there}`;
  }
}

function bypassWarning(restricted: RouteConfig, other: RouteConfig, missing: Restriction[]) {
  const what = missing.map((m) => (m === "auth" ? "authentication" : `"${m}"`)).join(" and ");
  const fixes = missing.map((m) => fix(m, restricted)).join(", ");
  return `routes ${show(restricted.path)} and ${show(other.path)} reach the same upstream ` +
    `(${restricted.upstream.origin}), so ${what} of ${show(restricted.path)} can be bypassed ` +
    `through ${show(other.path)}. On ${show(other.path)}, ${fixes}; or point it at a ` +
    "different upstream.";
}

const show = (s: string): string => JSON.stringify(s);
