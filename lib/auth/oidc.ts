/**
 * Single sign-on for browsers (auth.oidc): the OpenID Connect authorization code flow with PKCE
 * (discovery, the login redirect, the callback, logout), after which a session cookie identifies
 * the browser as { user, groups }.
 *
 * The protocol is oauth4webapi's (npm; discovery, the authorization response's `state` check,
 * the code exchange with PKCE S256, the ID token's `iss`, `aud`, `exp`, `iat` and `nonce`
 * checks), none hand-written. The ID token comes straight from the provider's token endpoint
 * (OIDC Core 3.1.3.7: the TLS connection vouches for it).
 *
 * The cookies are sealed in lib/auth/oidc_cookies.ts; the state cookie (state, nonce, PKCE
 * verifier, return path; 10 minutes) binds a login to the browser that started it; the session
 * cookie holds user, groups and expiry. The return target is checked in
 * lib/auth/login_redirect.ts. Nothing here logs a cookie, a code or a token.
 */
import type * as oauth from "oauth4webapi";
import type { OidcConfig } from "../config/mod.ts";
import { safeReturnPath } from "./login_redirect.ts";
import {
  type CookieKeys,
  cookieKeys,
  cookieValue,
  MAX_SESSION_COOKIE_BYTES,
  openSession,
  seal,
  sealSession,
  type Session,
  SESSION_COOKIE,
  setCookie,
  STATE_COOKIE,
  unseal,
} from "./oidc_cookies.ts";

/** How long a login may take at the provider. */
const STATE_SECONDS = 600;
/** How long discovery and the code exchange may take. */
const FETCH_TIMEOUT_MS = 5000;
/** After a failed discovery, the next request waits this long before trying again. */
const DISCOVERY_RETRY_MS = 10_000;
/** Sessions remembered after their first decryption (WebCrypto costs ~2x a cached login). */
const SESSION_CACHE_SIZE = 10_000;
const USER_NAME = /^[^\s\p{Cc}]+$/u;
const MAX_USER_LENGTH = 256;

/** What an endpoint of the flow answers, with a line for the security log when it refused. */
export interface OidcAnswer {
  readonly response: Response;
  readonly user: string | null;
  readonly event?: string;
}

interface LoginState {
  readonly s: string;
  readonly n: string;
  readonly v: string;
  readonly r: string;
  readonly e: number;
}

type Oauth = typeof import("oauth4webapi");
let oauthLib: Promise<Oauth> | null = null;

/**
 * oauth4webapi, loaded when a login starts or ends: checking a session cookie does not need it,
 * and it costs ~3 MiB in every thread that loads it.
 */
function loadOauth(): Promise<Oauth> {
  return oauthLib ??= import("oauth4webapi");
}

/** The OIDC login flow and its session cookies, for one auth.oidc setting. */
export class OidcAuthenticator {
  readonly #config: OidcConfig;
  readonly #keys: Promise<CookieKeys>;
  readonly #client: oauth.Client;
  #server: Promise<oauth.AuthorizationServer> | null = null;
  /** Cookie values already opened, to their session (bounded; the oldest go first). */
  readonly #opened = new Map<string, Session>();
  #failedAt = -Infinity;
  #failure = "";

  constructor(config: OidcConfig) {
    this.#config = config;
    this.#keys = cookieKeys(config.cookieSecret);
    this.#client = { client_id: config.clientId };
  }

  /** Whether `path` is one of promgate's own SSO endpoints (answered before routing). */
  owns(path: string): boolean {
    const c = this.#config;
    return path === c.callbackPath || path === c.logoutPath || path === c.loginPath;
  }

  /** The identity of a valid, unexpired session cookie in `cookieHeader`, or null. */
  async session(cookieHeader: string | null): Promise<Session | null> {
    const text = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!text) return null;
    const known = this.#opened.get(text);
    if (known) {
      if (known.expires > Date.now() / 1000) return known;
      this.#opened.delete(text);
      return null;
    }
    const session = await openSession((await this.#keys).session, text);
    if (session) {
      if (this.#opened.size >= SESSION_CACHE_SIZE) {
        this.#opened.delete(this.#opened.keys().next().value!);
      }
      this.#opened.set(text, session);
    }
    return session;
  }

  /** A session cookie value for `user` and `groups`, or null when it would be too large. */
  async sessionCookie(user: string, groups: readonly string[]): Promise<string | null> {
    return await sealSession((await this.#keys).session, user, groups, this.#config.sessionHours);
  }

  /**
   * The 302 to the provider's login, remembering `returnPath` (see {@link safeReturnPath}).
   * `requestOrigin` is how the client reached promgate, unless auth.oidc.externalUrl says.
   */
  async login(requestOrigin: string, returnPath: string): Promise<OidcAnswer> {
    const origin = this.#config.externalOrigin ?? requestOrigin;
    let server: oauth.AuthorizationServer;
    try {
      server = await this.#discovered();
    } catch (error) {
      return unavailable(`single sign-on: ${message(error)}`);
    }
    const lib = await loadOauth();
    const verifier = lib.generateRandomCodeVerifier();
    const state: LoginState = {
      s: lib.generateRandomState(),
      n: lib.generateRandomNonce(),
      v: verifier,
      r: safeReturnPath(returnPath),
      e: Math.floor(Date.now() / 1000) + STATE_SECONDS,
    };
    const target = new URL(server.authorization_endpoint!);
    const c = this.#config;
    target.searchParams.set("client_id", c.clientId);
    target.searchParams.set("redirect_uri", origin + c.callbackPath);
    target.searchParams.set("response_type", "code");
    target.searchParams.set("scope", c.scopes.join(" "));
    target.searchParams.set("state", state.s);
    target.searchParams.set("nonce", state.n);
    target.searchParams.set("code_challenge", await lib.calculatePKCECodeChallenge(verifier));
    target.searchParams.set("code_challenge_method", "S256");
    const sealed = await seal((await this.#keys).state, state);
    const headers = new Headers({ location: target.href, "cache-control": "no-store" });
    headers.append(
      "set-cookie",
      setCookie(STATE_COOKIE, sealed, origin, c.callbackPath, STATE_SECONDS),
    );
    return { response: new Response("302 Found\n", { status: 302, headers }), user: null };
  }

  /** Answers one of promgate's SSO endpoints ({@link owns}). */
  async endpoint(req: Request, url: URL, requestOrigin: string): Promise<OidcAnswer> {
    const c = this.#config;
    const origin = c.externalOrigin ?? requestOrigin;
    if (url.pathname === c.loginPath) return await this.login(origin, url.searchParams.get("rd")!);
    if (url.pathname === c.logoutPath) return await this.#logout(origin);
    return await this.#callback(req, url, origin);
  }

  async #callback(req: Request, url: URL, origin: string): Promise<OidcAnswer> {
    const c = this.#config;
    const text = cookieValue(req.headers.get("cookie"), STATE_COOKIE);
    const state = text ? await unseal((await this.#keys).state, text) as LoginState | null : null;
    if (!state || typeof state.s !== "string" || state.e <= Date.now() / 1000) {
      return refused(400, "the login state cookie is missing, expired or not promgate's");
    }
    let claims: oauth.IDToken;
    try {
      const server = await this.#discovered();
      const lib = await loadOauth();
      const params = lib.validateAuthResponse(server, this.#client, url, state.s);
      const options = { [lib.allowInsecureRequests]: isLoopbackHttp(c.issuer) };
      const response = await lib.authorizationCodeGrantRequest(
        server,
        this.#client,
        lib.ClientSecretBasic(c.clientSecret),
        params,
        origin + c.callbackPath,
        state.v,
        { ...options, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) },
      );
      const result = await lib.processAuthorizationCodeResponse(
        server,
        this.#client,
        response,
        { expectedNonce: state.n, requireIdToken: true },
      );
      claims = lib.getValidatedIdTokenClaims(result)!;
    } catch (error) {
      return refused(400, `the login did not complete: ${message(error)}`);
    }
    const user = claims[c.userClaim];
    if (typeof user !== "string" || user.length > MAX_USER_LENGTH || !USER_NAME.test(user)) {
      return refused(403, `the ID token's claim "${c.userClaim}" is missing or not a user name`);
    }
    const groups = c.groupsClaim ? groupsIn(claims[c.groupsClaim]) : [];
    const cookie = await this.sessionCookie(user, groups);
    if (cookie === null) {
      const why = `the session of ${user} (${groups.length} groups) would exceed the cookie ` +
        `limit of ${MAX_SESSION_COOKIE_BYTES} bytes; give promgate's client fewer groups at the ` +
        "provider, or unset auth.oidc.groupsClaim";
      return { ...refused(500, why), user };
    }
    const headers = new Headers({ location: state.r, "cache-control": "no-store" });
    headers.append(
      "set-cookie",
      setCookie(SESSION_COOKIE, cookie, origin, "/", c.sessionHours * 3600),
    );
    headers.append("set-cookie", setCookie(STATE_COOKIE, "", origin, c.callbackPath, 0));
    return { response: new Response("302 Found\n", { status: 302, headers }), user };
  }

  /** Clears the session; then the provider's end_session_endpoint, if it has one, else `/`. */
  async #logout(origin: string): Promise<OidcAnswer> {
    let location = "/";
    try {
      const end = (await this.#discovered()).end_session_endpoint;
      if (end) {
        const target = new URL(end);
        target.searchParams.set("client_id", this.#config.clientId);
        location = target.href;
      }
    } catch {
      // The session ends here whether or not the provider can be told.
    }
    const headers = new Headers({ location, "cache-control": "no-store" });
    headers.append("set-cookie", setCookie(SESSION_COOKIE, "", origin, "/", 0));
    return { response: new Response("302 Found\n", { status: 302, headers }), user: null };
  }

  /** The provider's metadata by discovery; shared while in flight, retried after a pause. */
  #discovered(): Promise<oauth.AuthorizationServer> {
    if (this.#server) return this.#server;
    if (performance.now() - this.#failedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(new Error(this.#failure));
    }
    const issuer = new URL(this.#config.issuer);
    this.#server = loadOauth().then((lib) =>
      lib.discoveryRequest(issuer, {
        algorithm: "oidc",
        [lib.allowInsecureRequests]: isLoopbackHttp(this.#config.issuer),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      }).then((response) => lib.processDiscoveryResponse(issuer, response))
    ).catch((error) => {
      this.#server = null;
      this.#failedAt = performance.now();
      this.#failure = `discovery at ${issuer.href} failed: ${message(error)}`;
      throw new Error(this.#failure);
    });
    return this.#server;
  }
}

function refused(status: number, why: string): OidcAnswer {
  const text = `${status} ${
    status === 400 ? "Bad Request" : status === 403 ? "Forbidden" : (
      "Internal Server Error"
    )
  }: single sign-on failed. Open the page again to log in again.\n`;
  const headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  return {
    response: new Response(text, { status, headers }),
    user: null,
    event: `single sign-on refused with ${status}: ${why}`,
  };
}

function unavailable(why: string): OidcAnswer {
  const headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  const text = "503 Service Unavailable: the identity provider cannot be reached.\n";
  return { response: new Response(text, { status: 503, headers }), user: null, event: why };
}

/** Group names from a groups claim: a list of strings, or one string. */
function groupsIn(claim: unknown): string[] {
  const list = typeof claim === "string" ? [claim] : Array.isArray(claim) ? claim : [];
  return list.filter((g): g is string => typeof g === "string" && g !== "");
}

/** Plain http to this machine, which lib/config/rules.ts allows for a provider (tests, sidecars). */
function isLoopbackHttp(u: string): boolean {
  const url = new URL(u);
  const host = url.hostname;
  const loopback = host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  return url.protocol === "http:" && loopback;
}

/** An error's message on one line (oauth4webapi's name the failed check, not the values). */
function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim() || "unknown error";
}
