/**
 * The identity step: who sends a request. Its credentials are judged by the one source they are
 * for (an API token, a JWT, a browser's single sign-on session, or Basic auth), failed logins are
 * throttled per client and per user (lib/auth/throttle.ts), and a refusal carries the challenges
 * (401) or the wait (429).
 */
import type { Groups, RouteConfig } from "../config/mod.ts";
import { DEFAULTS } from "../defaults.ts";
import {
  bearerChallenge,
  bearerCredential,
  INVALID_JWT_USER,
  looksLikeJwt,
  UNKNOWN_TOKEN_USER,
  wantsLoginRedirect,
} from "../auth/mod.ts";
import { canonicalTarget } from "./target.ts";
import { challenge, plain } from "./responses.ts";
import { groupsFor } from "./policy.ts";
import { type Context, type HandlerState, originOf, type Outcome } from "./handler_state.ts";

/** A logged-in user (null where no users are configured), or the refusal (401, 429). */
export type Login =
  | {
    readonly ok: true;
    readonly user: string | null;
    readonly cacheHit?: boolean;
    /** Groups the credential itself names (a JWT's groups claim). */
    readonly groups?: readonly string[];
  }
  | { readonly ok: false; readonly outcome: Outcome };

/** Who sends a request (null: anonymous, on a public route) and in which groups. */
export interface Caller {
  readonly user: string | null;
  readonly cacheHit?: boolean;
  /** The config's groups, plus the ones the identity source vouches for (a JWT's claim). */
  readonly groups: Groups;
}

/** A request on a public route: anonymous, with no login to check. */
export const ANONYMOUS: Login = { ok: true, user: null };

/**
 * Whether a request for `route` must log in: every request not on a public route (unknown paths
 * included, so that anonymous clients learn nothing about which routes exist).
 */
export function needsLogin(route: RouteConfig | null): boolean {
  return !route || route.auth;
}

/** The caller a successful login (or {@link ANONYMOUS}) makes, with the groups it is in. */
export function callerOf(login: Extract<Login, { ok: true }>, state: HandlerState): Caller {
  const { user, cacheHit } = login;
  const claimed = login.groups ?? [];
  const groups = groupsFor(state.config.groups, user === null ? null : { user, groups: claimed });
  return { user, cacheHit, groups };
}

/** Checks the request's credentials (throttled per client and user; see lib/auth/throttle.ts). */
export async function authenticate(
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
  await countFailure(ctx, client, result.reason, result.user);
  const refused = challenge(realm);
  if (tokens || jwt) {
    refused.response.headers.append("www-authenticate", bearerChallenge(realm, token !== null));
  }
  return { ok: false, outcome: { ...refused, ...failed } };
}

/**
 * Counts a failed login against the client and the name it tried (unknown tokens and invalid
 * JWTs under one name each), before the answer, so that the client's next attempt finds it
 * wherever it lands. Other reasons (a malformed credential, for one) are not counted.
 */
async function countFailure(
  { throttle }: Context,
  client: string,
  reason: string,
  user: string | null,
): Promise<void> {
  if (reason === "unknown_user" || reason === "wrong_password") {
    await throttle?.failed(client, user);
  }
  if (reason === "unknown_token") await throttle?.failed(client, UNKNOWN_TOKEN_USER);
  if (reason === "invalid_jwt") await throttle?.failed(client, INVALID_JWT_USER);
}
