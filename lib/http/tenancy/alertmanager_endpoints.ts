/**
 * What a restricted user may reach on an Alertmanager upstream (`"api": "alertmanager"`), decided
 * on the path the upstream receives. Like endpoints.ts for Prometheus, an endpoint is recognised
 * by how the path ends (Alertmanager may serve under its own `--web.route-prefix`), and only when
 * what comes before the ending can be a route prefix (endpoints.ts, isRoutePrefix). Everything
 * not listed is denied: the status (it holds the whole configuration, every tenant's routes and
 * receivers), the receivers list, the v1 API, `/metrics`, `/-/reload`, `/debug/…`.
 */
import { isRoutePrefix } from "./endpoints.ts";

/** How a request to a recognised Alertmanager endpoint is handled for a restricted user. */
export type AlertmanagerEndpoint =
  /** GET `/api/v2/alerts`, `/api/v2/alerts/groups`: filter parameter added, answer filtered. */
  | { readonly kind: "alerts" | "groups" }
  /** POST `/api/v2/alerts`: every alert must carry (or is given) the user's value. */
  | { readonly kind: "postAlerts" }
  /** GET `/api/v2/silences`: filter parameter added, answer filtered to the user's silences. */
  | { readonly kind: "silences" }
  /** POST `/api/v2/silences`: matchers checked (or the label added); an update's id checked. */
  | { readonly kind: "postSilence" }
  /** GET or DELETE `/api/v2/silence/<id>`: only the user's silence. */
  | { readonly kind: "silence" | "deleteSilence"; readonly id: string }
  /** Passes unchanged: nothing in it belongs to a tenant. */
  | { readonly kind: "pass" }
  /** 403; `reason` is for the log. */
  | { readonly kind: "deny"; readonly reason: string };

type Kind = AlertmanagerEndpoint["kind"];

/** [path ending, method → kind]; HEAD is not offered where the answer is filtered. */
const LISTED: readonly [string, Readonly<Record<string, Kind>>][] = [
  ["/api/v2/alerts", { GET: "alerts", POST: "postAlerts" }],
  ["/api/v2/alerts/groups", { GET: "groups" }],
  ["/api/v2/silences", { GET: "silences", POST: "postSilence" }],
  ["/-/healthy", { GET: "pass", HEAD: "pass" }],
  ["/-/ready", { GET: "pass", HEAD: "pass" }],
  // The web UI's page and files (the UI itself runs in the browser and reads the API above).
  ["/script.js", { GET: "pass", HEAD: "pass" }],
  ["/favicon.ico", { GET: "pass", HEAD: "pass" }],
];

/** `/api/v2/silence/<id>` at the end of the path. */
const SILENCE = /\/api\/v2\/silence\/([^/]*)$/;

/** Alertmanager's silence ids are UUIDs (it answers 422 to anything else). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const READ: Readonly<Record<string, Kind>> = { GET: "pass", HEAD: "pass" };

/** Classifies `method` on the upstream path `path` (canonical, starting with "/"). */
export function classifyAlertmanager(method: string, path: string): AlertmanagerEndpoint {
  const upper = method.toUpperCase();
  const silence = SILENCE.exec(path);
  if (silence !== null && isRoutePrefix(path.slice(0, silence.index))) {
    const id = silence[1];
    if (!UUID.test(id)) return deny(`${path} names no silence id (a UUID)`);
    if (upper === "GET") return { kind: "silence", id };
    if (upper === "DELETE") return { kind: "deleteSilence", id };
    return deny(`${method} is not allowed on ${path}`);
  }
  const methods = methodsOf(path);
  if (methods === null) {
    return deny(`${path} is not an Alertmanager endpoint open to restricted users`);
  }
  const kind = methods[upper];
  if (kind === undefined) return deny(`${method} is not allowed on ${path}`);
  return { kind } as AlertmanagerEndpoint;
}

const deny = (reason: string): AlertmanagerEndpoint => ({ kind: "deny", reason });

function methodsOf(path: string): Readonly<Record<string, Kind>> | null {
  if (path === "/" || (path.endsWith("/") && isRoutePrefix(path))) return READ; // the UI page
  const listed = LISTED.find(([ending]) => path.endsWith(ending));
  if (listed !== undefined) {
    const [ending, methods] = listed;
    return isRoutePrefix(path.slice(0, -ending.length)) ? methods : null;
  }
  // The UI's style sheets and fonts: `…/lib/<dir>/<file.ext>`.
  const lib = path.lastIndexOf("/lib/");
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (lib >= 0 && last.includes(".") && isRoutePrefix(path)) return READ;
  return null;
}
