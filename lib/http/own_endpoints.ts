/**
 * promgate's own endpoints, answered before any route is matched: the single sign-on endpoints
 * (login, callback, logout; lib/auth/oidc.ts), which need no session, and the metrics endpoint
 * (config.metrics.path), which needs a login only when config.metrics.auth says so.
 */
import type { ClientInfo } from "./types.ts";
import type { RequestTarget } from "./target.ts";
import { plain } from "./responses.ts";
import type { Metrics, MetricsSnapshot } from "./metrics.ts";
import { authenticate } from "./authenticate.ts";
import { type Context, type HandlerState, originOf, type Outcome } from "./handler_state.ts";

/**
 * Whether `target` names one of promgate's own endpoints (checked without a promise, as nearly
 * every request names none).
 */
export function isOwnEndpoint(target: RequestTarget, state: HandlerState, ctx: Context): boolean {
  if (!target.ok) return false;
  if (state.oidc && state.oidc.owns(target.path)) return true;
  const metricsConfig = state.config.metrics;
  return !!metricsConfig && target.path === metricsConfig.path && !!ctx.deps.metrics;
}

/** The answer of the own endpoint `target` names, or null when it names none. */
export async function serveOwnEndpoint(
  req: Request,
  info: ClientInfo,
  address: string,
  target: RequestTarget,
  state: HandlerState,
  ctx: Context,
): Promise<Outcome | null> {
  if (!target.ok) return null;
  if (state.oidc && state.oidc.owns(target.path)) {
    const url = new URL(target.path + target.search, "http://promgate.invalid");
    const answer = await state.oidc.endpoint(req, url, originOf(state, target.host));
    if (answer.event) ctx.onSecurityEvent(`${answer.event} (client ${info.address})`);
    return { response: answer.response, user: answer.user, route: null };
  }
  const metricsConfig = state.config.metrics;
  if (metricsConfig && target.path === metricsConfig.path && ctx.deps.metrics) {
    const login = metricsConfig.auth ? await authenticate(req, address, state, ctx, null) : null;
    if (login && !login.ok) return login.outcome;
    const others = await ctx.deps.otherMetrics?.() ?? [];
    const response = metricsResponse(ctx.deps.metrics, others);
    return { ...response, user: login?.user ?? null, route: null };
  }
  return null;
}

function metricsResponse(metrics: Metrics, others: MetricsSnapshot[]) {
  return plain(200, metrics.render(others), {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
    "cache-control": "no-store",
  });
}
