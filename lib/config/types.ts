/** The typed config promgate runs with: what lib/config/load.ts resolves a config file into. */

/**
 * HTTPS settings: the PEM text to serve, read from absolute file paths at load, or generated in
 * memory when the config asks for a self-signed certificate (then the file paths are null).
 */
export interface TlsConfig {
  certFile: string | null;
  keyFile: string | null;
  cert: string;
  key: string;
  /** Set for `"selfSigned": true`: the names it covers and its SHA-256 fingerprint. */
  selfSigned: { hostnames: string[]; fingerprint: string } | null;
}

/**
 * Auth settings; the files are absolute (their contents are parsed by lib/auth/htpasswd.ts and
 * lib/auth/tokens.ts).
 */
export interface AuthConfig {
  realm: string;
  htpasswdFile: string;
  /**
   * API tokens (`name:sha256:HEX` lines), or null/absent for none (optional so that configs
   * written in code need not name it).
   */
  tokensFile?: string | null;
  /** The lower-case header that may carry a token instead of Authorization, or null/absent. */
  tokenHeader?: string | null;
  /** JWT bearer tokens from an identity provider (lib/auth/jwt.ts), or null/absent for none. */
  jwt?: JwtConfig | null;
  /** Single sign-on for browsers (lib/auth/oidc.ts), or null/absent for none. */
  oidc?: OidcConfig | null;
  /** Failed-login throttling (lib/auth/throttle.ts); null when turned off. */
  throttle: ThrottleConfig | null;
}

/** Where the provider's public keys come from. */
export type JwtKeySource =
  /** OIDC discovery: the issuer's `/.well-known/openid-configuration` names `jwks_uri`. */
  | { readonly kind: "discovery" }
  | { readonly kind: "url"; readonly url: string }
  /** A JWK Set read at load (`jwks` is its parsed JSON, an object with a `keys` array). */
  | { readonly kind: "file"; readonly file: string; readonly jwks: { keys: unknown[] } };

/** auth.jwt, defaults applied. */
export interface JwtConfig {
  readonly issuer: string;
  /** Any one of these must be in the token's `aud`. */
  readonly audience: readonly string[];
  readonly userClaim: string;
  /** null: groups come from the config only. */
  readonly groupsClaim: string | null;
  readonly keys: JwtKeySource;
  readonly algorithms: readonly string[];
  readonly leewaySeconds: number;
  readonly keysRefreshSeconds: number;
}

/** auth.oidc, defaults applied; the secrets are the files' contents, read at load. */
export interface OidcConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the secrets were read from (absolute; for file-mode checks and messages). */
  readonly clientSecretFile: string;
  readonly cookieSecretFile: string;
  /** The cookie secret file's bytes (at least 32). */
  readonly cookieSecret: Uint8Array;
  readonly scopes: readonly string[];
  readonly sessionHours: number;
  readonly userClaim: string;
  /** null: groups come from the config only. */
  readonly groupsClaim: string | null;
  /** `scheme://host[:port]` browsers reach promgate at (externalUrl); null: from each request. */
  readonly externalOrigin: string | null;
  readonly loginPath: string;
  readonly callbackPath: string;
  readonly logoutPath: string;
}

/** A route's access rules, resolved from the config. */
export interface RoutePolicy {
  /** Users and "@group"s that may use the route at all; null: every authenticated user. */
  readonly allow: readonly string[] | null;
  /** Refuse changes to the upstream (lib/http/policy.ts) to everyone but `admins`. */
  readonly readOnly: boolean;
  /** Users and "@group"s exempt from `readOnly`. */
  readonly admins: readonly string[];
}

/**
 * A route's multi-tenancy (lib/http/tenancy/): who is restricted to which values of a label, and
 * how the upstream is told (a PromQL matcher on `label`, a `header`, or both).
 */
export interface TenancyConfig {
  /** The Prometheus label every selector is narrowed by; null: header mode only. */
  readonly label: string | null;
  /** The header (lower case) set to the user's values joined by "|"; null: none. */
  readonly header: string | null;
  /** User names and "@group"s, each with the label values it may see (non-empty). */
  readonly values: readonly (readonly [string, readonly string[]])[];
  /** User names and "@group"s that pass unchanged. */
  readonly unrestricted: readonly string[];
  /** Most bytes of a form body read for rewriting; larger ones get 413. */
  readonly maxBodyBytes: number;
  /**
   * Which API the label is enforced on: Prometheus' (`/api/v1/…`) or Alertmanager's
   * (`/api/v2/alerts`, silences). loadConfig always sets it; absent (configs written in code)
   * means "prometheus".
   */
  readonly api?: TenancyApi;
}

/** The upstream API a tenancy label is enforced on. */
export type TenancyApi = "prometheus" | "alertmanager";

/** Group name → members, from the config's `groups`. */
export type Groups = ReadonlyMap<string, ReadonlySet<string>>;

/** Failed-login throttling settings, defaults applied (meanings: lib/auth/throttle.ts). */
export interface ThrottleConfig {
  clientFailures: number;
  userFailures: number;
  clientUsers: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  forgetAfterSeconds: number;
  knownAddressDays: number;
}

/** One route, resolved. See docs/config.md for the matching rules. */
export interface RouteConfig {
  /** As written, e.g. "/prometheus/", "/healthz" or "/". */
  path: string;
  /** path without a trailing "/" ("" for "/"): the segment-boundary match prefix. */
  prefix: string;
  upstream: URL;
  /**
   * true when the upstream string has a path (even just "/"): the matched prefix is replaced by
   * the upstream path, like nginx proxy_pass with a URI. false for a bare origin: the request path
   * is passed unchanged, like proxy_pass without a URI.
   */
  stripPrefix: boolean;
  auth: boolean;
  timeoutMs: number;
  forwardAuthorization: boolean;
  /** Who may use the route and what a read-only route refuses (lib/http/policy.ts). */
  policy: RoutePolicy;
  /** The header that tells the upstream the authenticated user, or null for none. */
  forwardUser: string | null;
  /**
   * Every upstream of the route as URL text (hrefs, which cross to server threads as they are),
   * `upstream` first; all share `upstream`'s path. Absent or one entry: just `upstream`.
   */
  upstreams?: readonly string[];
  /** How a route with several upstreams picks one (lib/http/upstreams.ts). */
  balance?: BalanceMode;
  /** Active health checks of the route's upstreams, or null/absent for none. */
  healthCheck?: HealthCheckConfig | null;
  /** Multi-tenancy, or null/absent for none (optional so configs written in code need not name it). */
  tenancy?: TenancyConfig | null;
  /** Per-user limits of this route, on top of the config's (absent: none). */
  limits?: readonly LimitRule[];
}

/** One per-user limit (lib/http/limits.ts), defaults applied. */
export interface LimitRule {
  /** The rule's name in metrics and store keys: its `name`, or its place in the file. */
  readonly label: string;
  /** Users and "@group"s it applies to, each user counted on its own. */
  readonly who: readonly string[];
  /** Most requests of one user in flight; null: none. */
  readonly concurrent: number | null;
  /** How long a request over `concurrent` waits for a slot, in ms. */
  readonly queueMs: number;
  /** Most requests of one user waiting for a slot. */
  readonly queue: number;
  /** Average requests per second of one user; null: no rate limit. */
  readonly perSecond: number | null;
  /** Requests at once before perSecond applies (1 when there is no rate limit). */
  readonly burst: number;
}

/** "first-available": the first healthy upstream in config order; "least-loaded": fewest in flight. */
export type BalanceMode = "first-available" | "least-loaded";

/** routes[].healthCheck, resolved. */
export interface HealthCheckConfig {
  /** Absolute path on each upstream's origin, e.g. "/-/ready". */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failed checks that mark an upstream down. */
  unhealthyAfter: number;
  /** Consecutive passed checks that mark a down upstream up again. */
  healthyAfter: number;
}

/** promgate's own metrics endpoint (lib/http/metrics.ts). */
export interface MetricsConfig {
  /** The request path it answers on, e.g. "/metrics". */
  path: string;
  /** Whether it requires basic auth like a protected route. */
  auth: boolean;
}

/** Where state shared by replicas lives (lib/state/redis.ts); passwordFile is absolute. */
export interface StateConfig {
  /** The redis:// or rediss:// URL, without a password. */
  redis: string;
  /** The file holding the password, read when connecting; null: none. */
  passwordFile: string | null;
  /** Longest wait for Redis per operation, in ms. */
  timeoutMs: number;
  keyPrefix: string;
}

/** Access log settings; path is "-" (stdout) or absolute. */
export interface AccessLogConfig {
  format: "combined" | "json";
  path: string;
}

/** A loaded, validated config with every default applied and every path absolute. */
export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Where to accept connections, and the client timeouts (seconds). */
  listen: {
    hostname: string;
    port: number;
    headerTimeoutSeconds: number;
    idleTimeoutSeconds: number;
    /** Peers whose client address header is believed (lib/http/client_address.ts); absent: none. */
    trustedProxies?: string[];
    /** The header they name the client in (lower case); absent: "x-forwarded-for". */
    clientAddressHeader?: "x-forwarded-for" | "forwarded";
    /** Read PROXY protocol v1/v2 headers from trustedProxies (lib/runtime/proxy_protocol.ts). */
    proxyProtocol?: boolean;
  };
  tls: TlsConfig | null;
  auth: AuthConfig | null;
  /** Sorted longest prefix first, so the first route that matches is the right one. */
  routes: RouteConfig[];
  accessLog: AccessLogConfig | null;
  /** How long SIGTERM/SIGINT wait for in-flight requests before closing them (0-3600). */
  shutdownGraceSeconds: number;
  /**
   * Server threads (1-64), each with its own listener on the same port (SO_REUSEPORT), so that
   * every core serves requests; "auto" in the file resolves to the cores available.
   */
  workers: number;
  /** Group name -> user names, for routes' `allow` and `admins` ("@group"). */
  groups: Groups;
  /** promgate's own metrics endpoint, or null when off. */
  metrics: MetricsConfig | null;
  /** State shared with other replicas; null/absent: this process's memory only. */
  state?: StateConfig | null;
  /** Per-user limits on every route (absent: none). */
  limits?: readonly LimitRule[];
}
