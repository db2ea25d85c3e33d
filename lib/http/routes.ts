/**
 * Route matching: which configured route serves a request path, and what path the upstream sees.
 *
 * Matching is by path segment on the canonical path of lib/http/target.ts (dot segments
 * resolved, slashes merged, ambiguous spellings already refused with 400), so "/prometheus" and
 * "/prometheus/" match "/prometheus/x" but never "/prometheusfoo". The longest matching prefix
 * wins.
 */
import type { RouteConfig } from "../config/mod.ts";

/** The outcome of matching a request path against the routes. */
export type RouteMatch =
  | { readonly kind: "route"; readonly route: RouteConfig; readonly upstreamPath: string }
  | { readonly kind: "redirect"; readonly route: RouteConfig; readonly location: string }
  | { readonly kind: "none" };

const NONE: RouteMatch = { kind: "none" };

/**
 * Finds the route for `pathname` (routes must be sorted longest prefix first, as loadConfig does).
 * A request for a route's bare prefix, when the route was written with a trailing slash, gets a
 * redirect to the slash form, as nginx does for `location /prometheus/`.
 */
export function matchRoute(routes: readonly RouteConfig[], pathname: string): RouteMatch {
  for (const route of routes) {
    const { prefix } = route;
    if (pathname === prefix && route.path.endsWith("/") && prefix !== "") {
      return { kind: "redirect", route, location: prefix + "/" };
    }
    if (pathname === prefix || pathname.startsWith(prefix + "/")) {
      return { kind: "route", route, upstreamPath: upstreamPathFor(route, pathname) };
    }
  }
  return NONE;
}

/**
 * Replaces the matched prefix with the upstream URL's path (nginx `proxy_pass` with a URI).
 * The result never starts with "//" nor holds a backslash: the proxy resolves it against the
 * upstream URL, where "//host/x" or "/\\host/x" would name another host.
 */
function upstreamPathFor(route: RouteConfig, pathname: string): string {
  const safe = "/" + pathname.replace(/\\/g, "%5C").replace(/^\/+/, "");
  if (!route.stripPrefix) return safe;
  const rest = safe.slice(route.prefix.length);
  const base = route.upstream.pathname;
  if (rest === "") return base;
  return ((base.endsWith("/") ? base.slice(0, -1) : base) + rest).replace(/^\/+/, "/");
}

/**
 * Maps an upstream `Location` back into the client's view of the URL space.
 *
 * Upstreams that do not know their external prefix (Prometheus answers `/graph` with
 * `Location: /graph/`) redirect to root-relative paths of their own; those get the route prefix.
 * A Location already under the route prefix (Prometheus does know its external URL for most
 * redirects) is left alone, since prefixing it twice gives a 404.
 *
 * An absolute redirect to the upstream's own origin becomes root-relative (path, query and
 * fragment): the browser resolves it against the URL it asked for, so promgate never has to
 * write an origin of its own, which it could only take from the client's `Host` header (a client
 * sending `Host: evil.example` must not get a Location pointing there back).
 * `_publicOrigin` is no longer read; it stays so that existing callers compile.
 */
export function rewriteLocation(
  location: string,
  route: RouteConfig,
  _publicOrigin?: string,
): string {
  let target: URL;
  try {
    target = new URL(location, route.upstream);
  } catch {
    return location;
  }
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith("//");
  if (!isRouteOrigin(route, target.origin)) return location;
  if (!absolute && !location.startsWith("/")) return location; // relative: resolves correctly as is
  const path = clientPathFor(route, target.pathname);
  if (!absolute && path === target.pathname) return location; // already right: keep it byte for byte
  // A path starting "//" would read as another host ("//evil.example/x"): keep one slash.
  return path.replace(/^\/{2,}/, "/") + queryOf(target) + target.hash;
}

/** Whether `origin` is one of the route's upstreams (several share one path; any may redirect). */
function isRouteOrigin(route: RouteConfig, origin: string): boolean {
  if (origin === route.upstream.origin) return true;
  return (route.upstreams ?? []).some((href) => new URL(href).origin === origin);
}

/** The query with its "?", kept even when empty ("/graph?" stays so; URL.search says ""). */
function queryOf(url: URL): string {
  if (url.search !== "") return url.search;
  const beforeHash = url.href.slice(0, url.href.length - url.hash.length);
  return beforeHash.endsWith("?") ? "?" : "";
}

function clientPathFor(route: RouteConfig, upstreamPath: string): string {
  if (!route.stripPrefix) return upstreamPath;
  const { prefix } = route;
  if (prefix !== "" && (upstreamPath === prefix || upstreamPath.startsWith(prefix + "/"))) {
    return upstreamPath;
  }
  const base = route.upstream.pathname.replace(/\/$/, "");
  if (upstreamPath === base || upstreamPath.startsWith(base + "/")) {
    return prefix + upstreamPath.slice(base.length);
  }
  return upstreamPath;
}
