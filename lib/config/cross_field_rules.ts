/**
 * The config's rules across fields: auth where routes need it, tls's two kinds of certificate,
 * what listen.proxyProtocol needs, and unique route paths. The rules within each route are in
 * route_rules.ts.
 */
import {
  type Add,
  limitsIssues,
  policyIssues,
  tenancyIssues,
  upstreamListIssues,
} from "./route_rules.ts";
import { isRecord, show } from "./rules.ts";

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
 * listen.proxyProtocol needs peers to trust, and one server thread: the PROXY protocol front
 * (lib/runtime/proxy_protocol.ts) is one listener, which server threads cannot share.
 */
function proxyProtocolIssues(
  raw: Record<string, unknown>,
  add: Add,
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
  add: Add,
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
