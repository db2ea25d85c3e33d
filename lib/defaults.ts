/**
 * Every default of the config file, written once. The zod schema (lib/config/schema.ts) applies them and
 * prints them in its descriptions (config.schema.json, docs/config.md); the code that needs one
 * without loading a config reads it here. This module imports nothing, so server threads may load
 * it without loading zod.
 */
export const DEFAULTS = {
  listen: {
    hostname: "0.0.0.0",
    port: 12321,
    /** Like nginx's client_header_timeout (60 s there). */
    headerTimeoutSeconds: 10,
    /** Like nginx's keepalive_timeout. */
    idleTimeoutSeconds: 75,
  },
  auth: { realm: "Prometheus" },
  /**
   * auth.jwt (lib/auth/jwt.ts). Algorithms: the asymmetric ones only, so a token can never be
   * checked with HMAC and a public key as its secret; `none` is never accepted.
   */
  jwt: {
    userClaim: "sub",
    algorithms: [
      "RS256",
      "RS384",
      "RS512",
      "PS256",
      "PS384",
      "PS512",
      "ES256",
      "ES384",
      "ES512",
      "EdDSA",
      "Ed25519",
    ],
    /** Clock skew allowed on exp, nbf and iat. */
    leewaySeconds: 30,
    /** Least time between two fetches of the keys that a token with an unknown kid may cause. */
    keysRefreshSeconds: 30,
  },
  /** auth.oidc (lib/auth/oidc.ts); its endpoints live under promgate's own `/-/promgate/`. */
  oidc: {
    scopes: ["openid", "profile"],
    sessionHours: 8,
    userClaim: "sub",
    loginPath: "/-/promgate/oidc/login",
    callbackPath: "/-/promgate/oidc/callback",
    logoutPath: "/-/promgate/oidc/logout",
  },
  /** 5 failures per pair, 10 per user, 10 names per address, then 1 s, 2 s, 4 s … up to 60 s. */
  throttle: {
    clientFailures: 5,
    userFailures: 10,
    clientUsers: 10,
    baseDelaySeconds: 1,
    maxDelaySeconds: 60,
    forgetAfterSeconds: 900,
    knownAddressDays: 30,
  },
  route: {
    auth: true,
    /** Above Prometheus' own 2m query timeout. */
    timeoutSeconds: 120,
    forwardAuthorization: false,
    readOnly: false,
    forwardUser: false,
  },
  /**
   * Routes with several upstreams (lib/http/upstreams.ts). `downSeconds`: how long an upstream
   * that failed a request (connect error, repeated 502/503) is passed over when the route has no
   * healthCheck (nginx's fail_timeout); with one, it is passed over until its checks pass again.
   */
  upstreams: {
    balance: "first-available",
    downSeconds: 10,
    healthCheck: {
      path: "/-/ready",
      intervalSeconds: 5,
      timeoutSeconds: 2,
      unhealthyAfter: 2,
      healthyAfter: 1,
    },
  },
  /** routes[].tenancy: the most bytes of a form body read to rewrite its PromQL (1 MiB). */
  tenancy: { maxBodyBytes: 1024 * 1024 },
  accessLog: { format: "combined", path: "-" },
  metrics: { path: "/metrics", auth: true },
  /**
   * limits[] and routes[].limits[] (lib/http/limits.ts): how long and how many requests over a
   * concurrency limit wait for a slot, per user and rule; a rate limit's burst defaults to one
   * second's worth (perSecond rounded up).
   */
  limits: { queueSeconds: 5, queue: 100, burstSeconds: 1 },
  /** state.redis: the longest wait for Redis per operation, and what every key starts with. */
  state: { timeoutMs: 50, keyPrefix: "promgate:" },
  shutdownGraceSeconds: 10,
  workers: "auto",
} as const;
