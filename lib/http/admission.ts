/**
 * The policy step: whether an identified caller's request gets through. Its target must be
 * unambiguous (400) and routed (404), the route's policy must allow it, judged on the path the
 * upstream receives (403; lib/http/policy.ts says why), a bare prefix is redirected to its slash
 * form (301), and the caller's per-user limits must have room (429; lib/http/limits.ts).
 */
import type { LimitRule, RouteConfig } from "../config/mod.ts";
import type { CanonicalTarget, RequestTarget } from "./target.ts";
import { plain } from "./responses.ts";
import { authorize } from "./policy.ts";
import { matchRoute, type RouteMatch } from "./routes.ts";
import { rulesFor } from "./limits.ts";
import type { Caller } from "./authenticate.ts";
import type { Context, HandlerState, Held, Outcome } from "./handler_state.ts";

/** A match that is forwarded (not a redirect, not none). */
export type ForwardedMatch = Extract<RouteMatch, { kind: "route" }>;

/** A request admitted to its route, or the refusal (400, 404, 403) or redirect (301). */
export type Routed =
  | { readonly ok: true; readonly target: CanonicalTarget; readonly match: ForwardedMatch }
  | { readonly ok: false; readonly outcome: Outcome };

/** Decides whether `caller` (at client `address`) may send `req` to the route `match` names. */
export function admitToRoute(
  req: Request,
  address: string,
  target: RequestTarget,
  match: RouteMatch,
  caller: Caller,
  state: HandlerState,
  ctx: Context,
): Routed {
  const { user, groups, cacheHit } = caller;
  if (!target.ok) {
    ctx.onSecurityEvent(`refused a request from ${address} with 400: ${target.reason}`);
    return {
      ok: false,
      outcome: { ...plain(400, "400 Bad Request\n"), user, route: null, cacheHit },
    };
  }
  if (match.kind === "none") {
    return {
      ok: false,
      outcome: { ...plain(404, "404 Not Found\n"), user, route: null, cacheHit },
    };
  }
  const path = policyPath(state.config.routes, match);
  const denial = authorize(match.route.policy, groups, user, req.method, path);
  if (denial) {
    ctx.onSecurityEvent(`refused ${req.method} ${target.path} with 403: ${denial}`);
    const refused = plain(403, "403 Forbidden\n");
    return { ok: false, outcome: { ...refused, user, route: match.route.path, cacheHit } };
  }
  if (match.kind === "redirect") {
    const headers = { location: match.location + target.search };
    const moved = plain(301, "301 Moved Permanently\n", headers);
    return { ok: false, outcome: { ...moved, user, route: match.route.path } };
  }
  return { ok: true, target, match };
}

/**
 * The config's and the route's limit rules that apply to `caller`; null when none do (anonymous
 * callers have no limits), found without a promise as most requests have none.
 */
export function limitRulesFor(
  route: RouteConfig,
  caller: Caller,
  state: HandlerState,
  ctx: Context,
): LimitRule[] | null {
  const { user, groups } = caller;
  if (user === null || !ctx.limits) return null;
  const general = state.config.limits ?? NO_RULES;
  const own = route.limits ?? NO_RULES;
  if (general.length === 0 && own.length === 0) return null;
  const rules = rulesFor([...general, ...own], user, groups);
  return rules.length === 0 ? null : rules;
}

const NO_RULES: readonly LimitRule[] = [];

/**
 * Takes the caller's slots under `rules` (waiting for a concurrency slot if a rule queues), held
 * in `held` until the response has been sent; or answers 429.
 */
export async function admitToLimits(
  req: Request,
  route: RouteConfig,
  rules: LimitRule[],
  caller: Caller,
  ctx: Context,
  held: Held,
): Promise<Outcome | null> {
  const { user, cacheHit } = caller;
  const admission = await ctx.limits!.admit(rules, user!, req.signal);
  if (!admission.ok) {
    const headers = { "retry-after": String(admission.retryAfter) };
    const refused = plain(429, "429 Too Many Requests\n", headers);
    return { ...refused, user, route: route.path, cacheHit };
  }
  held.release = admission.release;
  return null;
}

/**
 * The upstream path a request is judged on: the one sent upstream, or for a redirect to the
 * slash form, the one that request will be sent to.
 */
function policyPath(routes: readonly RouteConfig[], match: RouteMatch): string {
  if (match.kind === "route") return match.upstreamPath;
  if (match.kind === "redirect") {
    const next = matchRoute(routes, match.location);
    if (next.kind === "route") return next.upstreamPath;
  }
  return "/";
}
