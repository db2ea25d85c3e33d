/**
 * promgate's own endpoints, answered before any route is matched: the single sign-on endpoints
 * (login, callback, logout; lib/auth/oidc.ts), which need no session, and the metrics endpoint
 * (config.metrics.path), which needs a login only when config.metrics.auth says so.
 */
import type { ClientInfo } from "./types.ts";
import type { CanonicalTarget } from "./target.ts";
import type { OidcAuthenticator } from "../auth/mod.ts";
import { plain } from "./responses.ts";
import type { Metrics, MetricsSnapshot } from "./metrics.ts";
import { authenticate } from "./authenticate.ts";
import { type Context, type HandlerState, originOf, type Outcome } from "./handler_state.ts";

/** One of promgate's own endpoints: single sign-on's, or the metrics endpoint. */
export type OwnEndpoint =
  | { readonly kind: "sso"; readonly oidc: OidcAuthenticator }
  | { readonly kind: "metrics"; readonly auth: boolean; readonly metrics: Metrics };

/**
 * Which of promgate's own endpoints the canonical `path` names, or null (found without a
 * promise, as nearly every request names none).
 */
export function ownEndpointOf(path: string, state: HandlerState, ctx: Context): OwnEndpoint | null {
  const { oidc } = state;
  if (oidc && oidc.owns(path)) return { kind: "sso", oidc };
  const metricsConfig = state.config.metrics;
  const { metrics } = ctx.deps;
  if (!metricsConfig || path !== metricsConfig.path || !metrics) return null;
  return { kind: "metrics", auth: metricsConfig.auth, metrics };
}

/** The answer of the own endpoint `target` names (`endpoint`, from {@link ownEndpointOf}). */
export async function serveOwnEndpoint(
  endpoint: OwnEndpoint,
  req: Request,
  info: ClientInfo,
  address: string,
  target: CanonicalTarget,
  state: HandlerState,
  ctx: Context,
): Promise<Outcome> {
  if (endpoint.kind === "sso") {
    const url = new URL(target.path + target.search, "http://promgate.invalid");
    const answer = await endpoint.oidc.endpoint(req, url, originOf(state, target.host));
    if (answer.event) ctx.onSecurityEvent(`${answer.event} (client ${info.address})`);
    return { response: answer.response, user: answer.user, route: null };
  }
  const login = endpoint.auth ? await authenticate(req, address, state, ctx, null) : null;
  if (login && !login.ok) return login.outcome;
  const others = await ctx.deps.otherMetrics?.() ?? [];
  const response = metricsResponse(endpoint.metrics, others);
  return { ...response, user: login?.user ?? null, route: null };
}

function metricsResponse(metrics: Metrics, others: MetricsSnapshot[]) {
  return plain(200, metrics.render(others), {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
    "cache-control": "no-store",
  });
}
