/**
 * Who may use a route, and what a read-only route lets through.
 *
 * `allow` restricts a route to named users and groups ("@ops"). `readOnly` lets Prometheus'
 * queries through (GET, and POST to the query API, which Grafana uses for long queries) but
 * refuses what changes or stops the server — the TSDB admin API, `/-/quit`, `/-/reload`, the
 * remote-write and OTLP receivers, and any PUT, PATCH or DELETE — except to the route's `admins`.
 * Paths are checked after canonicalization (lib/request_target.ts), relative to the route, so
 * `/api/v1/%61dmin/…` or `/api/v1/query/../admin/…` cannot slip past.
 */

/** A route's access rules, resolved from the config. */
export interface RoutePolicy {
  /** Users and "@group"s that may use the route at all; null: every authenticated user. */
  readonly allow: readonly string[] | null;
  /** Refuse changes to the upstream (see the module doc) to everyone but `admins`. */
  readonly readOnly: boolean;
  /** Users and "@group"s exempt from `readOnly`. */
  readonly admins: readonly string[];
}

/** Group name → members, from the config's `groups`. */
export type Groups = ReadonlyMap<string, ReadonlySet<string>>;

/** Why a request is refused, for the log; null when it may pass. */
export type Denial = string | null;

const WRITE_METHODS = new Set(["PUT", "PATCH", "DELETE"]);

/** Path prefixes (segment boundaries) that change or stop a Prometheus server. */
const WRITE_PATHS = [
  "/api/v1/admin",
  "/-/quit",
  "/-/reload",
  "/api/v1/write",
  "/api/v1/otlp",
];

/** Whether `user` is listed in `names` directly or through one of its "@group"s. */
export function isListed(user: string, names: readonly string[], groups: Groups): boolean {
  return names.some((name) =>
    name.startsWith("@") ? groups.get(name.slice(1))?.has(user) ?? false : name === user
  );
}

/**
 * Decides whether `user` may send `method` to `path` (the canonical request path with the
 * route's prefix removed, starting with "/"). Public routes (no user) are only checked by
 * `readOnly`, with nobody exempt.
 */
export function authorize(
  policy: RoutePolicy,
  groups: Groups,
  user: string | null,
  method: string,
  path: string,
): Denial {
  if (policy.allow && (user === null || !isListed(user, policy.allow, groups))) {
    return `user ${
      user === null ? "(anonymous)" : JSON.stringify(user)
    } is not allowed on this route`;
  }
  if (!policy.readOnly) return null;
  if (user !== null && isListed(user, policy.admins, groups)) return null;
  if (WRITE_METHODS.has(method.toUpperCase())) return `${method} on a read-only route`;
  const write = WRITE_PATHS.find((p) => path === p || path.startsWith(p + "/"));
  return write ? `${write} on a read-only route` : null;
}
