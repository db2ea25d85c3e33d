/**
 * The request pipeline, as one web-standard handler: target -> route -> auth -> proxy -> log.
 * The request target is canonicalized once (lib/http/target.ts; ambiguous ones get 400) and
 * that one path is routed and forwarded. Authentication runs for every path that is not on a
 * public route, so unknown paths also answer 401 to anonymous clients and reveal nothing about
 * which routes exist; failed logins are throttled per client and per user (lib/auth/throttle.ts).
 */
import { type AccessLog, type AccessRecord } from "./access_log.ts";
import type { Config, RouteConfig } from "../config/mod.ts";
import type { ClientInfo } from "./types.ts";
import { clientAddressFor } from "./client_address.ts";
import { DEFAULTS } from "../defaults.ts";
import { secureResponseHeaders, withoutCookie, withoutHeader } from "./headers.ts";
import { pickWebSocketTarget, proxy, type ProxyRequest, type UpstreamClient } from "./proxy.ts";
import type { UpstreamPools } from "./upstreams.ts";
import { canonicalTarget } from "./target.ts";
import { challenge, plain } from "./responses.ts";
import type { Metrics, MetricsSnapshot } from "./metrics.ts";
import { authorize, groupsFor } from "./policy.ts";
import { matchRoute, type RouteMatch } from "./routes.ts";
import {
  type Authenticator,
  bearerChallenge,
  bearerCredential,
  INVALID_JWT_USER,
  type JwtAuthenticator,
  looksLikeJwt,
  type OidcAuthenticator,
  SESSION_COOKIE,
  Throttle,
  type TokenAuthenticator,
  UNKNOWN_TOKEN_USER,
  wantsLoginRedirect,
} from "../auth/mod.ts";
import { LocalStore } from "../state/mod.ts";
import { bridgeWebSocket, isWebSocketUpgrade } from "./websocket.ts";
import { log } from "../log.ts";
import { discardUnreadBody } from "./request_body.ts";
import { logWhenSent } from "./sent.ts";
import { applyTenancy } from "./tenancy/mod.ts";
import { Limits, rulesFor } from "./limits.ts";

/** The state a handler serves from; replaced as a whole on reload. */
export interface HandlerState {
  readonly config: Config;
  /** null when no route needs authentication. */
  readonly authenticator: Authenticator | null;
  /** API tokens (lib/auth/tokens.ts), beside `authenticator`; absent or null: none. */
  readonly tokens?: TokenAuthenticator | null;
  /** JWT bearer tokens (lib/auth/jwt.ts), beside `authenticator`; absent or null: none. */
  readonly jwt?: JwtAuthenticator | null;
  /** Single sign-on for browsers (lib/auth/oidc.ts); absent or null: none. */
  readonly oidc?: OidcAuthenticator | null;
  readonly accessLog: AccessLog;
  /** The pools of routes with several upstreams (lib/http/upstreams.ts); absent: none. */
  readonly upstreams?: UpstreamPools | null;
}

/** Dependencies of the handler that outlive a reload. */
export interface HandlerDeps {
  /** Returns the current state (read once per request, so a reload never splits a request). */
  readonly state: () => HandlerState;
  readonly client: UpstreamClient;
  /** Called with the one-line reason when promgate answers 5xx itself (upstream down, timeout). */
  readonly onUpstreamError?: (line: string) => void;
  /**
   * Failed-login throttling; it outlives reloads. Absent: a Throttle with the safe defaults and a
   * store of its own, logging through `onSecurityEvent`. null: no throttling.
   */
  readonly throttle?: Throttle | null;
  /**
   * Called with one line when a client or user gets throttled, and when a request is refused as
   * ambiguous (never with a password, hash or Authorization value). Default: stderr
   * through lib/log.ts, as main.ts's own messages are.
   */
  readonly onSecurityEvent?: (line: string) => void;
  /** Counts every request; served at config.metrics.path when that is set. */
  readonly metrics?: Metrics;
  /** The other server threads' counts, for a scrape to cover the whole process. */
  readonly otherMetrics?: () => Promise<MetricsSnapshot[]>;
  /**
   * Per-user limits (lib/http/limits.ts); they outlive reloads. Absent: Limits with a store of
   * their own. null: no limits, whatever the config says.
   */
  readonly limits?: Limits | null;
}

/** A request's hold on per-user limit slots, freed once its response has been sent. */
interface Held {
  release?: () => void;
}

interface Outcome {
  response: Response;
  /** Body bytes, when the body is complete in memory (or absent). */
  bytes?: number;
  user: string | null;
  route: string | null;
  error?: string;
  logStatus?: number;
  /** Why authentication failed (for metrics). */
  authFailure?: string;
  /** Whether a login was served from the credential cache (for metrics). */
  cacheHit?: boolean;
}

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
      await discardUnreadBody(req);
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
    return logWhenSent(outcome, (bytes) => {
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

/**
 * Most bytes of request headers accepted (names, values and ": " + CRLF per field), as nginx's
 * default `large_client_header_buffers 4 8k` allows about 32 KiB. Larger ones get 431 before any
 * password is checked. (Deno's server itself refuses ~100 KiB or over 100 fields with 400; Bun
 * refuses over 16 KiB with 431.)
 */
export const MAX_HEADER_BYTES = 32 * 1024;

function headerBytes(entries: readonly [string, string][]): number {
  let n = 0;
  for (const [name, value] of entries) n += name.length + value.length + 4;
  return n;
}

/**
 * Methods never forwarded: TRACE (and IIS's TRACK) echo the request back, credentials and
 * cookies included (cross-site tracing), and CONNECT asks for a tunnel, which promgate is not.
 * nginx answers TRACE with 405; Bun's server hands CONNECT to the handler like any method.
 */
const REFUSED_METHODS = new Set(["TRACE", "TRACK", "CONNECT"]);

/** The Allow header of that 405: the methods promgate forwards. */
const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

interface Context {
  readonly deps: HandlerDeps;
  readonly throttle: Throttle | null;
  readonly onSecurityEvent: (line: string) => void;
  readonly limits: Limits | null;
}

async function handle(
  req: Request,
  info: ClientInfo,
  address: string,
  state: HandlerState,
  ctx: Context,
  held: Held,
): Promise<Outcome> {
  // Before authentication, as nginx does for TRACE: the answer is the same for every path, so
  // it tells an anonymous client nothing about the routes, and it costs no password check.
  if (REFUSED_METHODS.has(req.method.toUpperCase())) {
    const headers = { allow: ALLOWED_METHODS };
    return { ...plain(405, "405 Method Not Allowed\n", headers), user: null, route: null };
  }
  // One snapshot of the headers serves the size check and the upstream request.
  let headerEntries = [...req.headers];
  if (headerBytes(headerEntries) > MAX_HEADER_BYTES) {
    return { ...plain(431, "431 Request Header Fields Too Large\n"), user: null, route: null };
  }
  // A token never reaches an upstream, under its header's name or a look-alike of it.
  const tokenHeader = state.tokens?.header;
  if (tokenHeader) headerEntries = withoutHeader(headerEntries, tokenHeader);
  // Nor does a session cookie (the other cookies pass).
  if (state.oidc) headerEntries = withoutCookie(headerEntries, SESSION_COOKIE);
  // An ambiguous target matches no route: like any unknown path it needs authentication (so
  // anonymous clients learn nothing, not even that the target was refused), then gets 400.
  const target = canonicalTarget(req.url, req.headers.get("host"));
  // promgate's own single sign-on endpoints (login, callback, logout) need no session.
  if (state.oidc && target.ok && state.oidc.owns(target.path)) {
    const url = new URL(target.path + target.search, "http://promgate.invalid");
    const answer = await state.oidc.endpoint(req, url, originOf(state, target.host));
    if (answer.event) ctx.onSecurityEvent(`${answer.event} (client ${info.address})`);
    return { response: answer.response, user: answer.user, route: null };
  }
  const metricsConfig = state.config.metrics;
  if (metricsConfig && target.ok && target.path === metricsConfig.path && ctx.deps.metrics) {
    const login = metricsConfig.auth ? await authenticate(req, address, state, ctx, null) : null;
    if (login && !login.ok) return login.outcome;
    const others = await ctx.deps.otherMetrics?.() ?? [];
    const response = metricsResponse(ctx.deps.metrics, others);
    return { ...response, user: login?.user ?? null, route: null };
  }
  const match = target.ok ? matchRoute(state.config.routes, target.path) : NONE;
  const route = match.kind === "none" ? null : match.route;
  let user: string | null = null;
  let cacheHit: boolean | undefined;
  let claimed: readonly string[] = [];
  if (!route || route.auth) {
    const login = await authenticate(req, address, state, ctx, route);
    if (!login.ok) return login.outcome;
    ({ user, cacheHit } = login);
    claimed = login.groups ?? [];
  }
  // The config's groups, plus the groups the identity source vouches for (a JWT's claim).
  const groups = groupsFor(state.config.groups, user === null ? null : { user, groups: claimed });
  if (!target.ok) {
    ctx.onSecurityEvent(`refused a request from ${address} with 400: ${target.reason}`);
    return { ...plain(400, "400 Bad Request\n"), user, route: null, cacheHit };
  }
  if (match.kind === "none") {
    return { ...plain(404, "404 Not Found\n"), user, route: null, cacheHit };
  }
  // Decided on the path the upstream receives (lib/http/policy.ts says why).
  const denial = authorize(
    match.route.policy,
    groups,
    user,
    req.method,
    policyPath(state.config.routes, match),
  );
  if (denial) {
    ctx.onSecurityEvent(`refused ${req.method} ${target.path} with 403: ${denial}`);
    return { ...plain(403, "403 Forbidden\n"), user, route: match.route.path, cacheHit };
  }
  if (match.kind === "redirect") {
    const headers = { location: match.location + target.search };
    return { ...plain(301, "301 Moved Permanently\n", headers), user, route: route!.path };
  }
  const routeLabel = match.route.path;
  // Per-user limits: the config's and the route's rules for this user (lib/http/limits.ts).
  const rules = user === null || !ctx.limits
    ? []
    : rulesFor([...state.config.limits ?? [], ...match.route.limits ?? []], user, groups);
  if (rules.length > 0) {
    const admission = await ctx.limits!.admit(rules, user!, req.signal);
    if (!admission.ok) {
      const headers = { "retry-after": String(admission.retryAfter) };
      return {
        ...plain(429, "429 Too Many Requests\n", headers),
        user,
        route: routeLabel,
        cacheHit,
      };
    }
    held.release = admission.release;
  }
  // How the client reached promgate: the connection's scheme, never the request target's.
  const forwarded = {
    clientAddr: info.address,
    proto: state.config.tls ? "https" : "http",
    host: target.host,
  };
  // Narrowed to the user's tenant (lib/http/tenancy/): what the upstream receives, or a refusal.
  const tenancy = match.route.tenancy
    ? await applyTenancy({
      tenancy: match.route.tenancy,
      groups,
      user,
      request: req,
      upstreamPath: match.upstreamPath,
      search: target.search,
      headerEntries,
      // A GET of its own, sent as any request on the route is (Alertmanager silence checks).
      ask: async (upstreamPath, entries) =>
        (await proxy({
          request: new Request(req.url, { signal: req.signal }),
          route: match.route,
          upstreamPath,
          user,
          forwarded,
          client: ctx.deps.client,
          headerEntries: entries,
          search: "",
        })).response,
    })
    : null;
  if (tenancy && !tenancy.ok) {
    ctx.onSecurityEvent(
      `refused ${req.method} ${target.path} with ${tenancy.status}: ${tenancy.reason}`,
    );
    return { ...plain(tenancy.status, tenancy.text), user, route: routeLabel, cacheHit };
  }
  const proxyRequest: ProxyRequest = {
    request: tenancy?.request ?? req,
    route: match.route,
    upstreamPath: match.upstreamPath,
    user,
    forwarded,
    client: ctx.deps.client,
    onBodyCut: (line) => {
      ctx.deps.metrics?.upstreamCut(routeLabel);
      ctx.deps.onUpstreamError?.(`${req.method} ${target.path}: ${line}`);
    },
    connection: info,
    headerEntries: tenancy?.headerEntries ?? headerEntries,
    search: tenancy?.search ?? target.search,
    checkClientFirst: cacheHit === false,
    pool: state.upstreams?.get(match.route),
    counts: ctx.deps.metrics,
  };
  const accept = ctx.deps.client.acceptWebSocket;
  const socketTarget = isWebSocketUpgrade(req) && accept ? pickWebSocketTarget(proxyRequest) : null;
  const result = socketTarget && "response" in socketTarget
    ? socketTarget
    : socketTarget
    ? await bridgeWebSocket({
      ...socketTarget,
      request: req,
      route: match.route,
      accept: accept!,
      connection: info,
    })
    : await proxy(proxyRequest);
  if (tenancy?.filter) {
    const filtered = await tenancy.filter(result.response);
    if (filtered.error) ctx.onSecurityEvent(`${req.method} ${target.path}: ${filtered.error}`);
    return { ...result, ...filtered, user, route: routeLabel, cacheHit };
  }
  return { ...result, user, route: routeLabel, cacheHit };
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

/** A logged-in user (null where no users are configured), or the refusal (401, 429). */
type Login =
  | {
    readonly ok: true;
    readonly user: string | null;
    readonly cacheHit?: boolean;
    /** Groups the credential itself names (a JWT's groups claim). */
    readonly groups?: readonly string[];
  }
  | { readonly ok: false; readonly outcome: Outcome };

/** Checks the request's credentials (throttled per client and user; see lib/auth/throttle.ts). */
async function authenticate(
  req: Request,
  client: string,
  state: HandlerState,
  ctx: Context,
  route: RouteConfig | null,
): Promise<Login> {
  const realm = state.config.auth?.realm ?? DEFAULTS.auth.realm;
  const routePath = route?.path ?? null;
  // Fail closed: a protected route with no users configured admits nobody.
  if (!state.authenticator) {
    return route
      ? { ok: false, outcome: { ...challenge(realm), user: null, route: routePath } }
      : { ok: true, user: null };
  }
  const { throttle } = ctx;
  const guard = throttle ? (name: string) => throttle.retryAfter(client, name) : undefined;
  // A request that presents a token is judged on it alone: a JWT-shaped one by the JWT check
  // when auth.jwt is set (lib/auth/jwt.ts), any other by the API tokens (lib/auth/tokens.ts).
  const { tokens, jwt, oidc } = state;
  const token = tokens?.presented(req.headers) ?? (jwt ? bearerCredential(req.headers) : null);
  // A browser's session (lib/auth/oidc.ts), when it presents no other credential.
  const bare = token === null && !req.headers.has("authorization");
  if (oidc && bare) {
    const session = await oidc.session(req.headers.get("cookie"));
    if (session) return { ok: true, user: session.user, groups: session.groups };
    if (wantsLoginRedirect(req)) {
      const target = canonicalTarget(req.url, req.headers.get("host"));
      const back = target.ok ? target.path + target.search : "/";
      const answer = await oidc.login(originOf(state, target.ok ? target.host : ""), back);
      if (answer.event) ctx.onSecurityEvent(answer.event);
      return { ok: false, outcome: { response: answer.response, user: null, route: routePath } };
    }
  }
  const asJwt = token !== null && jwt && (looksLikeJwt(token) || !tokens) ? jwt : null;
  const result = asJwt
    ? await asJwt.check(token!, guard)
    : token !== null
    ? await tokens!.check(token, guard)
    : await state.authenticator.check(req.headers.get("authorization"), guard);
  if (result.ok) {
    if (result.cached === false) await throttle?.succeeded(client, result.user);
    // Only a JWT's result carries groups (lib/auth/jwt.ts JwtResult).
    const { groups } = result as { groups?: readonly string[] };
    return { ok: true, user: result.user, cacheHit: result.cached, groups };
  }
  if ("detail" in result && result.reason !== "malformed") {
    ctx.onSecurityEvent(`refused a JWT from ${client}: ${result.detail}`);
  }
  const failed = { user: result.user, route: routePath, authFailure: result.reason };
  if (result.reason === "throttled") {
    const headers = { "retry-after": String(result.retryAfter ?? 1) };
    return { ok: false, outcome: { ...plain(429, "429 Too Many Requests\n", headers), ...failed } };
  }
  if (result.reason === "unknown_user" || result.reason === "wrong_password") {
    // Counted before the answer, so that the client's next attempt finds it wherever it lands.
    await throttle?.failed(client, result.user);
  }
  if (result.reason === "unknown_token") await throttle?.failed(client, UNKNOWN_TOKEN_USER);
  if (result.reason === "invalid_jwt") await throttle?.failed(client, INVALID_JWT_USER);
  const refused = challenge(realm);
  if (tokens || jwt) {
    refused.response.headers.append("www-authenticate", bearerChallenge(realm, token !== null));
  }
  return { ok: false, outcome: { ...refused, ...failed } };
}

function metricsResponse(metrics: Metrics, others: MetricsSnapshot[]) {
  return plain(200, metrics.render(others), {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
    "cache-control": "no-store",
  });
}

/** The scheme and host the client reached promgate at (for redirect URIs and cookies). */
function originOf(state: HandlerState, host: string): string {
  return `${state.config.tls ? "https" : "http"}://${host}`;
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
