/**
 * What a restricted user may reach on a Prometheus upstream, decided on the path the upstream
 * receives. Prometheus may serve everything under its own route prefix, which promgate cannot
 * know (DESIGN fact 9), so an endpoint is recognised by how the path ENDS, at a segment boundary:
 * `/prometheus/api/v1/query` is the query endpoint whatever route prefix comes before it. What
 * comes before it must look like a route prefix, though: no segment of it may start a path of
 * another server part (`api`, `federate`, `-`, `metrics`, …), so `/api/v2/query` is not the UI
 * page `/query` and Pushgateway's `/metrics/job/x/api/v1/query` (a push) is not a query.
 * Everything not recognised is denied: the list of what passes is explicit.
 */

/** How a request to a recognised endpoint is handled for a restricted user. */
export type Endpoint =
  /** Every `query` parameter gets the tenant matcher. */
  | { readonly kind: "query" }
  /** Every `match[]` parameter gets it; none given → one is added. */
  | { readonly kind: "match" }
  /** The JSON answer is filtered by the label. */
  | { readonly kind: "rules" | "alerts" }
  /** Passes unchanged: nothing in it belongs to a tenant. */
  | { readonly kind: "pass" }
  /** 403; `reason` is for the log. */
  | { readonly kind: "deny"; readonly reason: string };

const READ = ["GET", "HEAD"];
const READ_OR_POST = ["GET", "HEAD", "POST"];
/**
 * Filtered answers: GET only. A HEAD answer carries the headers of the whole, unfiltered answer,
 * and its Content-Length would tell the size of the other tenants' rules and alerts.
 */
const FILTERED = ["GET"];

/** Endpoints recognised by their last segments: [path ending, kind, methods]. */
const LISTED: readonly [string, Endpoint["kind"], readonly string[]][] = [
  ["/api/v1/query", "query", READ_OR_POST],
  ["/api/v1/query_range", "query", READ_OR_POST],
  ["/api/v1/query_exemplars", "query", READ_OR_POST],
  ["/api/v1/series", "match", READ_OR_POST],
  ["/api/v1/labels", "match", READ_OR_POST],
  ["/federate", "match", READ],
  ["/api/v1/rules", "rules", FILTERED],
  ["/api/v1/alerts", "alerts", FILTERED],
  // What the Prometheus UI needs to start, and answers that hold no series data.
  ["/api/v1/status/buildinfo", "pass", READ],
  ["/api/v1/format_query", "pass", READ_OR_POST],
  ["/api/v1/parse_query", "pass", READ_OR_POST],
  ["/-/healthy", "pass", READ],
  ["/-/ready", "pass", READ],
  // UI pages that render no data themselves (their data comes through the API above). The
  // classic UI's other pages (/classic/alerts, /classic/rules, /classic/targets, …) render rules,
  // alerts and targets on the server, so they are not here.
  ["/graph", "pass", READ],
  ["/graph/", "pass", READ],
  ["/classic/graph", "pass", READ],
  ["/query", "pass", READ],
];

/** {@link LISTED}, longest first: `/api/v1/query` is found before `/query`. */
const ENDINGS = [...LISTED].sort((a, b) => b[0].length - a[0].length);

/** `/api/v1/label/<name>/values` at the end of the path. */
const LABEL_VALUES = /\/api\/v1\/label\/[^/]+\/values$/;

/**
 * Segments that start a path of some server part (Prometheus' API, federation, consoles, pprof,
 * health and admin under `/-/`, its own or Pushgateway's `/metrics`): a route prefix never holds
 * one, so a listed ending or a static file after one is some other, unknown path
 * (a Prometheus served under `/static` answers `/static/api/v1/targets`).
 */
const SERVER_SEGMENTS = new Set(["api", "federate", "consoles", "debug", "-", "metrics"]);

/** Classifies `method` on the upstream path `path` (canonical, starting with "/"). */
export function classify(method: string, path: string): Endpoint {
  const upper = method.toUpperCase();
  const found = endpointOf(path);
  if (found === null) return deny(`${path} is not an endpoint open to restricted users`);
  const [kind, methods] = found;
  if (!methods.includes(upper)) return deny(`${method} is not allowed on ${path}`);
  return kind === "deny" ? deny(`${path} is not open to restricted users`) : { kind } as Endpoint;
}

const deny = (reason: string): Endpoint => ({ kind: "deny", reason });

function endpointOf(path: string): [Endpoint["kind"], readonly string[]] | null {
  if (path === "/") return ["pass", READ]; // Prometheus redirects its root to the UI
  const listed = ENDINGS.find(([ending]) => path.endsWith(ending));
  if (listed !== undefined) {
    const [ending, kind, methods] = listed;
    return isRoutePrefix(path.slice(0, -ending.length)) ? [kind, methods] : null;
  }
  const labelValues = LABEL_VALUES.exec(path);
  if (labelValues !== null) {
    return isRoutePrefix(path.slice(0, labelValues.index)) ? ["match", READ] : null;
  }
  if (isStaticAsset(path)) return ["pass", READ];
  return null;
}

/** Whether `prefix` ("" or "/a/b") can be a route prefix: none of its segments is a server's. */
export function isRoutePrefix(prefix: string): boolean {
  return !prefix.split("/").some((s) => SERVER_SEGMENTS.has(s));
}

/**
 * A file of the UI: under a `static` or `assets` segment (or a favicon or manifest), named with a
 * "." (no Prometheus page or API endpoint has one), and with no segment that could start an API
 * path under an unknown route prefix.
 */
function isStaticAsset(path: string): boolean {
  const segments = path.split("/").slice(1);
  const last = segments.at(-1) ?? "";
  if (!last.includes(".")) return false;
  if (segments.some((s) => SERVER_SEGMENTS.has(s))) return false;
  return segments.includes("static") || segments.includes("assets") ||
    ["favicon.ico", "favicon.svg", "manifest.json"].includes(last);
}
