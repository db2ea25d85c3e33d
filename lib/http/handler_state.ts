/**
 * What the steps of the request pipeline share: the state a handler serves from (replaced as a
 * whole on reload), its dependencies (which outlive reloads), the per-handler context built from
 * them, and the outcome a step answers a request with.
 */
import type { AccessLog } from "./access_log.ts";
import type { Config } from "../config/mod.ts";
import type {
  Authenticator,
  JwtAuthenticator,
  OidcAuthenticator,
  Throttle,
  TokenAuthenticator,
} from "../auth/mod.ts";
import type { UpstreamClient } from "./proxy.ts";
import type { UpstreamPools } from "./upstreams.ts";
import type { Metrics, MetricsSnapshot } from "./metrics.ts";
import type { Limits } from "./limits.ts";

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

/** One handler's dependencies with their defaults filled in (see createHandler). */
export interface Context {
  readonly deps: HandlerDeps;
  readonly throttle: Throttle | null;
  readonly onSecurityEvent: (line: string) => void;
  readonly limits: Limits | null;
}

/** A request's hold on per-user limit slots, freed once its response has been sent. */
export interface Held {
  release?: () => void;
}

/** A request's answer, and what its access-log line and metrics need to know about it. */
export interface Outcome {
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

/** The scheme and host the client reached promgate at (for redirect URIs and cookies). */
export function originOf(state: HandlerState, host: string): string {
  return `${state.config.tls ? "https" : "http"}://${host}`;
}
