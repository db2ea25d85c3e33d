/**
 * The request pipeline, as one web-standard handler:
 * target -> route -> identity -> policy -> rewrite -> proxy -> log.
 * The request target is canonicalized once (lib/http/target.ts; ambiguous ones get 400) and
 * that one path is routed and forwarded. Identity (lib/http/authenticate.ts) is required for
 * every path that is not on a public route, so unknown paths also answer 401 to anonymous
 * clients and reveal nothing about which routes exist. Each step lives in a module of its own;
 * this one strings them together and logs and counts what was sent.
 */
import type { AccessRecord } from "./access_log.ts";
import type { ClientInfo } from "./types.ts";
import { clientAddressFor } from "./client_address.ts";
import { secureResponseHeaders } from "./headers.ts";
import { canonicalTarget } from "./target.ts";
import { matchRoute, type RouteMatch } from "./routes.ts";
import { Throttle } from "../auth/mod.ts";
import { LocalStore } from "../state/mod.ts";
import { log } from "../log.ts";
import { discardUnreadBody } from "./request_body.ts";
import { logWhenSent } from "./sent.ts";
import { Limits } from "./limits.ts";
import type { Context, HandlerDeps, HandlerState, Held, Outcome } from "./handler_state.ts";
import { screen } from "./request_screen.ts";
import { ownEndpointOf, serveOwnEndpoint } from "./own_endpoints.ts";
import { ANONYMOUS, authenticate, callerOf, needsLogin } from "./authenticate.ts";
import { admitToLimits, admitToRoute, limitRulesFor } from "./admission.ts";
import { type Admitted, forward, narrowToTenant } from "./forward.ts";

export type { HandlerDeps, HandlerState } from "./handler_state.ts";
export { MAX_HEADER_BYTES } from "./request_screen.ts";

/** Builds the handler that the runtime's server calls for every request. */
export function createHandler(deps: HandlerDeps) {
  const onSecurityEvent = deps.onSecurityEvent ?? log;
  const throttle = deps.throttle === undefined
    ? new Throttle(new LocalStore(), {}, onSecurityEvent)
    : deps.throttle;
  const limits = deps.limits === undefined
    ? new Limits({ store: new LocalStore(), events: deps.metrics?.limits })
    : deps.limits;
  const ctx: Context = { deps, throttle, onSecurityEvent, limits };
  return async (req: Request, info: ClientInfo): Promise<Response> => {
    const started = performance.now();
    const time = new Date();
    const state = deps.state();
    // Behind trusted proxies, the client they name (lib/http/client_address.ts); else the peer.
    const address = clientAddressFor(state.config.listen, info.address, req.headers);
    deps.metrics?.started();
    let handled: Outcome;
    const held: Held = {};
    try {
      handled = await handle(req, info, address, state, ctx, held);
      const discarding = discardUnreadBody(req);
      if (discarding) await discarding;
    } catch (error) {
      held.release?.();
      deps.metrics?.abandoned(); // the runtime answers 500 (onError); nothing is logged as sent
      throw error;
    }
    const outcome = withoutBodyForHead(req, handled);
    secureResponseHeaders(outcome.response.headers);
    if (outcome.error) deps.onUpstreamError?.(`${req.method} ${pathOf(req)}: ${outcome.error}`);
    const record = (bytes: number): AccessRecord => ({
      remoteAddr: address,
      user: outcome.user,
      time,
      method: req.method,
      uri: pathOf(req),
      protocol: info.protocol,
      // 499 as nginx logs it: the client's connection was gone before its answer could be sent
      // (under Bun, a request pipelined behind this one makes the server drop the connection).
      status: outcome.logStatus ?? (req.signal.aborted ? 499 : outcome.response.status),
      bytes,
      referer: req.headers.get("referer"),
      userAgent: req.headers.get("user-agent"),
      durationMs: performance.now() - started,
      route: outcome.route,
      error: outcome.error,
    });
    return logWhenSent(outcome, info.spent, (bytes) => {
      held.release?.(); // a streaming answer holds its limit slots until its last byte
      const done = record(bytes);
      state.accessLog.write(done);
      deps.metrics?.finished(done, {
        authFailure: outcome.authFailure,
        cacheHit: outcome.cacheHit,
        upstreamError: UPSTREAM_ERRORS[outcome.error ? done.status : 0],
      });
    });
  };
}

const NONE: RouteMatch = { kind: "none" };

/** Statuses promgate answers itself for a failed upstream, as metrics name them. */
const UPSTREAM_ERRORS: Record<number, "timeout" | "refused" | "unavailable" | undefined> = {
  502: "refused",
  503: "unavailable",
  504: "timeout",
};

/** One request through the pipeline; each step either passes it on or answers it. */
async function handle(
  req: Request,
  info: ClientInfo,
  address: string,
  state: HandlerState,
  ctx: Context,
  held: Held,
): Promise<Outcome> {
  const screened = screen(req, state); // 405, 431; the headers an upstream may receive
  if (!screened.ok) return screened.outcome;
  // An ambiguous target matches no route: like any unknown path it needs authentication (so
  // anonymous clients learn nothing, not even that the target was refused), then gets 400.
  const target = canonicalTarget(req.url, req.headers.get("host"));
  const own = target.ok ? ownEndpointOf(target.path, state, ctx) : null; // SSO, metrics
  if (own && target.ok) return await serveOwnEndpoint(own, req, info, address, target, state, ctx);
  const match = target.ok ? matchRoute(state.config.routes, target.path) : NONE;
  const route = match.kind === "none" ? null : match.route;
  // Steps with nothing to do for a request (no login on a public route, no limits, no tenancy)
  // are skipped without a promise: each awaited step costs every request allocations.
  const login = needsLogin(route) ? await authenticate(req, address, state, ctx, route) : ANONYMOUS;
  if (!login.ok) return login.outcome; // 401, 429
  const caller = callerOf(login, state);
  const routed = admitToRoute(req, address, target, match, caller, state, ctx); // 400-404, 301
  if (!routed.ok) return routed.outcome;
  const rules = limitRulesFor(routed.match.route, caller, state, ctx);
  if (rules) {
    const limited = await admitToLimits(req, routed.match.route, rules, caller, ctx, held); // 429
    if (limited) return limited;
  }
  const admitted: Admitted = {
    req,
    info,
    state,
    ctx,
    caller,
    target: routed.target,
    match: routed.match,
    headerEntries: screened.headerEntries,
  };
  if (!routed.match.route.tenancy) return await forward(admitted, null);
  const narrowed = await narrowToTenant(admitted); // tenancy's rewrite, or its refusal
  if (!narrowed.ok) return narrowed.outcome;
  return await forward(admitted, narrowed.tenancy);
}

/** A response to HEAD carries no body (over HTTP/2 Deno's server resets the stream otherwise). */
function withoutBodyForHead(req: Request, outcome: Outcome): Outcome {
  const { response } = outcome;
  if (req.method !== "HEAD" || response.body === null) return outcome;
  response.body.cancel().catch(() => {});
  const bodiless = new Response(null, { status: response.status, headers: response.headers });
  return { ...outcome, response: bodiless, bytes: 0 };
}

/**
 * The path and query for the access log, as the client sent them (before canonicalization). The
 * runtime hands over a serialized absolute URL, so they are what follows its authority.
 */
function pathOf(req: Request): string {
  const url = req.url;
  const authority = url.indexOf("//");
  const start = url.indexOf("/", authority < 0 ? 0 : authority + 2);
  if (start < 0) return "/";
  const hash = url.indexOf("#", start);
  return hash < 0 ? url.slice(start) : url.slice(start, hash);
}
