/**
 * The rewrite and proxy steps: what the upstream receives for an admitted request, and what the
 * client gets back. The request is narrowed to the caller's tenant (lib/http/tenancy/), sent over
 * HTTP (lib/http/proxy.ts) or bridged as a WebSocket (lib/http/websocket.ts), and the answer is
 * filtered to the tenant where tenancy says so.
 */
import type { ClientInfo } from "./types.ts";
import type { CanonicalTarget } from "./target.ts";
import { plain } from "./responses.ts";
import { pickWebSocketTarget, proxy, type ProxyRequest, type ProxyResult } from "./proxy.ts";
import { isWebSocketUpgrade } from "./headers.ts";
import type { TenancyForward } from "./tenancy/mod.ts";
import type { ForwardedMatch } from "./admission.ts";
import type { Caller } from "./authenticate.ts";
import type { Context, HandlerState, Outcome } from "./handler_state.ts";

/** Everything the rewrite and proxy steps need of one admitted request. */
export interface Admitted {
  readonly req: Request;
  readonly info: ClientInfo;
  readonly state: HandlerState;
  readonly ctx: Context;
  readonly caller: Caller;
  readonly target: CanonicalTarget;
  readonly match: ForwardedMatch;
  /** The request's headers an upstream may receive (lib/http/request_screen.ts). */
  readonly headerEntries: readonly [string, string][];
}

/** What to send instead of the client's request (null: the request as it is), or the refusal. */
export type Narrowed =
  | { readonly ok: true; readonly tenancy: TenancyForward | null }
  | { readonly ok: false; readonly outcome: Outcome };

type Tenancy = typeof import("./tenancy/mod.ts");
let tenancyModules: Promise<Tenancy> | null = null;
type WebSockets = typeof import("./websocket.ts");
let webSocketModules: Promise<WebSockets> | null = null;

/**
 * lib/http/tenancy/, loaded by the first request on a route with tenancy: a config without
 * tenancy does not hold its ~60 KB of code in every server thread (heap that V8 then grows by
 * a multiple under load).
 */
function loadTenancy(): Promise<Tenancy> {
  return tenancyModules ??= import("./tenancy/mod.ts");
}

/**
 * The WebSocket bridge and its client (with node:net and node:tls), loaded by the first upgrade:
 * ~180 KB of heap per server thread that plain HTTP traffic never uses.
 */
function loadWebSockets(): Promise<WebSockets> {
  return webSocketModules ??= import("./websocket.ts");
}

/** Narrows the request to the caller's tenant when its route has tenancy (lib/http/tenancy/). */
export async function narrowToTenant(a: Admitted): Promise<Narrowed> {
  const { req, match, caller, target, ctx } = a;
  if (!match.route.tenancy) return { ok: true, tenancy: null };
  const { applyTenancy } = await loadTenancy();
  const tenancy = await applyTenancy({
    tenancy: match.route.tenancy,
    groups: caller.groups,
    user: caller.user,
    request: req,
    upstreamPath: match.upstreamPath,
    search: target.search,
    headerEntries: a.headerEntries,
    // A GET of its own, sent as any request on the route is (Alertmanager silence checks).
    ask: async (upstreamPath, entries) =>
      (await proxy({
        request: new Request(req.url, { signal: req.signal }),
        route: match.route,
        upstreamPath,
        user: caller.user,
        forwarded: forwardedFacts(a),
        client: ctx.deps.client,
        headerEntries: entries,
        search: "",
      })).response,
  });
  if (tenancy.ok) return { ok: true, tenancy };
  ctx.onSecurityEvent(
    `refused ${req.method} ${target.path} with ${tenancy.status}: ${tenancy.reason}`,
  );
  const refused = plain(tenancy.status, tenancy.text);
  const { user, cacheHit } = caller;
  return { ok: false, outcome: { ...refused, user, route: match.route.path, cacheHit } };
}

/**
 * Sends the request (as `tenancy` rewrote it, when it did) to the route's upstream and gives
 * the answer, filtered to the tenant when tenancy asks for that.
 */
export async function forward(a: Admitted, tenancy: TenancyForward | null): Promise<Outcome> {
  const { req, info, state, ctx, match, target } = a;
  const { user, cacheHit } = a.caller;
  const routeLabel = match.route.path;
  const proxyRequest: ProxyRequest = {
    request: tenancy?.request ?? req,
    route: match.route,
    upstreamPath: match.upstreamPath,
    user,
    forwarded: forwardedFacts(a),
    client: ctx.deps.client,
    onBodyCut: (line) => {
      ctx.deps.metrics?.upstreamCut(routeLabel);
      ctx.deps.onUpstreamError?.(`${req.method} ${target.path}: ${line}`);
    },
    connection: info,
    headerEntries: tenancy?.headerEntries ?? a.headerEntries,
    search: tenancy?.search ?? target.search,
    checkClientFirst: cacheHit === false,
    pool: state.upstreams?.get(match.route),
    counts: ctx.deps.metrics,
  };
  const result = await send(a, proxyRequest);
  if (tenancy?.filter) {
    const filtered = await tenancy.filter(result.response);
    if (filtered.error) ctx.onSecurityEvent(`${req.method} ${target.path}: ${filtered.error}`);
    return { ...result, ...filtered, user, route: routeLabel, cacheHit };
  }
  return { ...result, user, route: routeLabel, cacheHit };
}

/**
 * Proxies the request, or bridges it as a WebSocket when it asks for an upgrade (and can). Not
 * async: it hands back the step's own promise rather than wrap it in one more per request.
 */
function send(a: Admitted, proxyRequest: ProxyRequest): Promise<ProxyResult> | ProxyResult {
  const accept = a.ctx.deps.client.acceptWebSocket;
  const socketTarget = isWebSocketUpgrade(a.req) && accept
    ? pickWebSocketTarget(proxyRequest)
    : null;
  if (!socketTarget) return proxy(proxyRequest);
  if ("response" in socketTarget) return socketTarget;
  return loadWebSockets().then(({ bridgeWebSocket }) =>
    bridgeWebSocket({
      ...socketTarget,
      request: a.req,
      route: a.match.route,
      accept: accept!,
      connection: a.info,
    })
  );
}

/** How the client reached promgate: the connection's scheme, never the request target's. */
function forwardedFacts({ info, state, target }: Admitted) {
  return {
    clientAddr: info.address,
    proto: state.config.tls ? "https" : "http",
    host: target.host,
  };
}
