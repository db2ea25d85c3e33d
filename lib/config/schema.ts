/**
 * The config file's zod schema: the single source of truth, also exported as JSON Schema by
 * scripts/gen_schema.ts. Every default comes from lib/defaults.ts.
 *
 * Validation is strict on purpose: an unknown key is an error, because a misspelled key (say
 * "auht": false) must never silently change who can reach Prometheus.
 */
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import {
  crossFieldIssues,
  headerNameProblem,
  hostnameProblem,
  labelNameProblem,
  providerUrlProblem,
  realmProblem,
  redisUrlProblem,
  routePathProblem,
  rule,
  tokenHeaderProblem,
  trustedProxyProblem,
  upstreamProblem,
} from "./rules.ts";

// ---------------------------------------------------------------------------------------------
// The schema. Descriptions and examples appear in editors (via config.schema.json) and the
// examples also supply the "e.g." in error messages.

/** The listen defaults (lib/defaults.ts). */
const L = DEFAULTS.listen;

const listenSchema = z.strictObject({
  hostname: z.string().min(1).superRefine(rule(hostnameProblem)).default(L.hostname).meta({
    description: 'Address to listen on: "0.0.0.0" (all IPv4 addresses, the default), "::" ' +
      '(all IPv6, and IPv4 on most systems) or "127.0.0.1" (this machine only).',
    examples: ["0.0.0.0"],
  }),
  port: z.number().int().min(0).max(65535).default(L.port).meta({
    description: `TCP port, 0-65535; 0 picks a free port. Default ${L.port}.`,
    examples: [L.port],
  }),
  headerTimeoutSeconds: z.number().min(1).max(3600).default(L.headerTimeoutSeconds).meta({
    description: "Seconds a client has to send a whole request head, from connecting, or on a " +
      "keep-alive connection from its first byte; then the connection is closed (slowloris). " +
      `1-3600, default ${L.headerTimeoutSeconds}. Like nginx's client_header_timeout.`,
    examples: [L.headerTimeoutSeconds],
  }),
  idleTimeoutSeconds: z.number().min(1).max(3600).default(L.idleTimeoutSeconds).meta({
    description: "Seconds a keep-alive connection may stay open with no request in flight and " +
      `nothing sent either way. 1-3600, default ${L.idleTimeoutSeconds}. Like nginx's ` +
      "keepalive_timeout.",
    examples: [L.idleTimeoutSeconds],
  }),
  trustedProxies: z.array(z.string().min(1).superRefine(rule(trustedProxyProblem))).optional()
    .meta({
      description: "Load balancers and proxies in front of promgate (IPv4/IPv6 addresses and " +
        "CIDR blocks). A request from one of them is counted, throttled and logged under the " +
        "client address its clientAddressHeader names (the rightmost one not itself trusted), " +
        "and only such peers may send PROXY protocol headers. From any other peer those " +
        "headers change nothing. Default: none. Like nginx's set_real_ip_from.",
      examples: [["10.0.0.0/8", "127.0.0.1", "::1"]],
    }),
  clientAddressHeader: z.enum(["X-Forwarded-For", "Forwarded"]).optional().meta({
    description: 'The one header trusted proxies name the client in: "X-Forwarded-For" (the ' +
      'default) or "Forwarded" (RFC 7239). Only this one is read: a proxy that sets one passes ' +
      "the other on as the client sent it. Like nginx's real_ip_header.",
    examples: ["X-Forwarded-For"],
  }),
  proxyProtocol: z.boolean().optional().meta({
    description: "Every connection starts with a PROXY protocol v1 or v2 header (HAProxy's " +
      "send-proxy / send-proxy-v2, cloud load balancers) naming the client. Accepted from " +
      "trustedProxies only: a connection from another peer, or without a valid header within " +
      "headerTimeoutSeconds, is closed. Needs workers 1; a change needs a restart. Default false.",
    examples: [true],
  }),
}).default({ ...L }).meta({
  description: `Where promgate accepts connections. Default: all IPv4 addresses, port ${L.port}.`,
});

const tlsSchema = z.strictObject({
  certFile: z.string().min(1).optional().meta({
    description: "Certificate file (PEM), optionally followed by its intermediate certificates " +
      "(a full chain). Relative to the config file's directory.",
    examples: ["certs/example.com.crt"],
  }),
  keyFile: z.string().min(1).optional().meta({
    description: "Private key file (PEM; RSA or EC; not encrypted) that belongs to certFile. " +
      "Relative to the config file's directory.",
    examples: ["certs/example.com.key"],
  }),
  selfSigned: z.boolean().optional().meta({
    description: "Instead of certFile/keyFile: generate a self-signed certificate (ECDSA P-256, " +
      "one year) in memory at start-up and print its SHA-256 fingerprint. For trying promgate " +
      "out and for clients that pin the fingerprint; browsers will warn.",
    examples: [true],
  }),
  hostnames: z.array(z.string().min(1).superRefine(rule(hostnameProblem))).min(1).optional()
    .meta({
      description: "With selfSigned: the DNS names and IP addresses the certificate is for. " +
        "Default: localhost, 127.0.0.1, ::1, and listen.hostname when it is a specific address.",
      examples: [["localhost", "127.0.0.1", "prometheus.example.com"]],
    }),
}).optional().meta({
  description: "Serve HTTPS with certFile + keyFile, or with a certificate generated at " +
    'start-up ("selfSigned": true). Leave out to serve plain HTTP.',
});

const seconds = (fallback: number, description: string) =>
  z.number().positive().max(86_400).default(fallback).meta({ description });

/** The throttle defaults (lib/defaults.ts). */
const T = DEFAULTS.throttle;

const throttleSchema = z.strictObject({
  clientFailures: z.number().int().min(1).default(T.clientFailures).meta({
    description: "Failed logins from one client address (IPv6: one /64) as one user name before " +
      "that address waits to try that name again; other names from the address are not " +
      `affected. Default ${T.clientFailures}.`,
  }),
  userFailures: z.number().int().min(1).default(T.userFailures).meta({
    description: "Failed logins as one user name, from any addresses, before that name waits at " +
      "every address where it has not logged in within knownAddressDays. " +
      `Default ${T.userFailures}.`,
  }),
  clientUsers: z.number().int().min(1).max(1000).default(T.clientUsers).meta({
    description: "Distinct user names failing from one client address (password spraying) " +
      "before that address waits, for every name that has not logged in from it within " +
      `knownAddressDays. Default ${T.clientUsers}.`,
  }),
  baseDelaySeconds: seconds(
    T.baseDelaySeconds,
    `The first delay; each further failure doubles it. Default ${T.baseDelaySeconds}.`,
  ),
  maxDelaySeconds: seconds(
    T.maxDelaySeconds,
    "The longest delay, and the Retry-After of every 429 (so it does not tell when a block " +
      `ends). Default ${T.maxDelaySeconds}.`,
  ),
  forgetAfterSeconds: seconds(
    T.forgetAfterSeconds,
    `Failures are forgotten this long after the last one. Default ${T.forgetAfterSeconds}.`,
  ),
  knownAddressDays: z.number().min(0).max(366).default(T.knownAddressDays).meta({
    description: "Days an address where a user logged in stays known for that user: failures " +
      "from other addresses (userFailures, clientUsers) do not make that user wait there. " +
      `0 turns this off. Default ${T.knownAddressDays}.`,
  }),
}).refine((t) => t.maxDelaySeconds >= t.baseDelaySeconds, {
  message: "maxDelaySeconds is below baseDelaySeconds. Raise maxDelaySeconds or lower " +
    "baseDelaySeconds.",
  path: ["maxDelaySeconds"],
});

/** The auth.jwt defaults (lib/defaults.ts). */
const J = DEFAULTS.jwt;

const jwtSchema = z.strictObject({
  issuer: z.string().min(1).superRefine(rule(providerUrlProblem)).meta({
    description: "The identity provider's issuer, exactly as its tokens carry it in `iss`. " +
      "Without jwksUrl or jwksFile, its keys are found by OIDC discovery (issuer + " +
      "`/.well-known/openid-configuration`, then its `jwks_uri`). https, except for 127.0.0.1 " +
      "and localhost.",
    examples: ["https://idp.example.com/realms/main"],
  }),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).meta({
    description: "The audience (`aud`) a token must be issued for: one value or a list (any " +
      "one of them matches). Give promgate its own audience at the provider, so that tokens " +
      "meant for other services are refused here.",
    examples: ["promgate"],
  }),
  userClaim: z.string().min(1).default(J.userClaim).meta({
    description: "The claim that names the user, for allow, admins, tenancy, forwardUser and " +
      "the access log; a token without it (or with white space or a control character in it) " +
      `is refused. Default "${J.userClaim}"; e.g. "preferred_username" or "email".`,
    examples: ["preferred_username"],
  }),
  groupsClaim: z.string().min(1).optional().meta({
    description: "A claim with a list of group names (or one name): each makes the user a " +
      'member of "@name" for every rule, in addition to the groups that name the user. ' +
      "Default: none (groups only from the config).",
    examples: ["groups"],
  }),
  jwksUrl: z.string().min(1).superRefine(rule(providerUrlProblem)).optional().meta({
    description: "Where the provider publishes its keys (a JWK Set), instead of discovery. " +
      "https, except for 127.0.0.1 and localhost.",
    examples: ["https://idp.example.com/realms/main/protocol/openid-connect/certs"],
  }),
  jwksFile: z.string().min(1).optional().meta({
    description: "A JWK Set file with the provider's public keys, for hosts that cannot reach " +
      "the provider. Read at start and on reload (SIGHUP). Relative to the config file's " +
      "directory.",
    examples: ["jwks.json"],
  }),
  algorithms: z.array(z.enum(J.algorithms)).min(1).default([...J.algorithms]).meta({
    description: "Signature algorithms accepted. Only asymmetric ones can be listed: HMAC " +
      "(HS256…) would let a token signed with the provider's public key pass, and `none` is " +
      "never accepted. Default all of " + J.algorithms.join(", ") + ".",
    examples: [["RS256"]],
  }),
  leewaySeconds: z.number().min(0).max(300).default(J.leewaySeconds).meta({
    description: "Clock difference allowed when checking exp (expiry), nbf (not before) and " +
      `iat. 0-300, default ${J.leewaySeconds}.`,
    examples: [J.leewaySeconds],
  }),
  keysRefreshSeconds: z.number().min(1).max(3600).default(J.keysRefreshSeconds).meta({
    description: "A token with an unknown key id (`kid`) makes promgate fetch the provider's " +
      "keys again, at most once per this many seconds; a token still unknown then is refused. " +
      "So keys the provider rotates in work without a restart. Keys are also re-fetched every " +
      `10 minutes. 1-3600, default ${J.keysRefreshSeconds}.`,
    examples: [J.keysRefreshSeconds],
  }),
}).refine((j) => j.jwksUrl === undefined || j.jwksFile === undefined, {
  message: "jwksUrl and jwksFile are both set; keep the one that holds the provider's keys.",
  path: ["jwksFile"],
}).optional().meta({
  description: "JWT bearer tokens from an identity provider (`Authorization: Bearer " +
    "<JWT>`): checked for signature, issuer, audience and time, then identified by userClaim " +
    "with the groups of groupsClaim. Default: none.",
});

/** The auth.oidc defaults (lib/defaults.ts). */
const O = DEFAULTS.oidc;

const oidcSchema = z.strictObject({
  issuer: z.string().min(1).superRefine(rule(providerUrlProblem)).meta({
    description: "The OpenID provider's issuer; its endpoints are found by OIDC discovery " +
      "(issuer + `/.well-known/openid-configuration`). https, except for 127.0.0.1 and localhost.",
    examples: ["https://idp.example.com/realms/main"],
  }),
  clientId: z.string().min(1).meta({
    description: "promgate's client id at the provider (a confidential client for the " +
      "authorization code flow, with redirect URI https://HOST" + O.callbackPath + ").",
    examples: ["promgate"],
  }),
  clientSecretFile: z.string().min(1).meta({
    description: "A file holding the client's secret (white space around it is ignored). " +
      "Relative to the config file's directory. Never put the secret in the config.",
    examples: ["oidc-client-secret"],
  }),
  cookieSecretFile: z.string().min(1).meta({
    description: "A file of at least 32 random bytes that the session cookies are encrypted " +
      "and authenticated with (AES-256-GCM), e.g. made by `openssl rand -base64 48 > FILE`. " +
      "Replicas share it; changing it ends every session. Relative to the config file's " +
      "directory.",
    examples: ["cookie-secret"],
  }),
  scopes: z.array(z.string().min(1).regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).min(1)
    .default([...O.scopes]).refine((s) => s.includes("openid"), {
      message: 'scopes must include "openid". Add it to the list.',
    }).meta({
      description: 'Scopes asked for; must include "openid". Add the one that puts the groups ' +
        `claim in the ID token (often "groups"). Default ${JSON.stringify(O.scopes)}.`,
      examples: [["openid", "profile", "groups"]],
    }),
  sessionHours: z.number().min(0.01).max(720).default(O.sessionHours).meta({
    description: "How long a login lasts (the session cookie's lifetime); then the browser " +
      `logs in again. Default ${O.sessionHours}.`,
    examples: [O.sessionHours],
  }),
  userClaim: z.string().min(1).default(O.userClaim).meta({
    description: "The ID token claim that names the user, as auth.jwt.userClaim. Default " +
      `"${O.userClaim}"; e.g. "preferred_username" or "email".`,
    examples: ["preferred_username"],
  }),
  groupsClaim: z.string().min(1).optional().meta({
    description: 'An ID token claim with group names: each makes the user a member of "@name" ' +
      "for every rule, as auth.jwt.groupsClaim. Default: none.",
    examples: ["groups"],
  }),
  externalUrl: z.string().min(1).refine(
    (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && new URL(u).pathname === "/",
    {
      message:
        "externalUrl is not an http(s) URL without a path. Write e.g. https://prom.example.com",
    },
  ).optional().meta({
    description: "The scheme and host browsers reach promgate at, when a TLS-terminating proxy " +
      "in front of it changes them: the redirect URI becomes externalUrl + " + O.callbackPath +
      ", and cookies are Secure when it is https. Default: from each request (its Host, and " +
      "https when promgate serves tls).",
    examples: ["https://prom.example.com"],
  }),
}).optional().meta({
  description: "Single sign-on for browsers: a browser without a session that asks for a page " +
    "is sent to the provider's login (authorization code flow with PKCE), then carries an " +
    "encrypted session cookie. API clients still get 401. Endpoints: " +
    `${O.loginPath}?rd=PATH, ${O.callbackPath}, ${O.logoutPath}. Default: none.`,
});

const authSchema = z.strictObject({
  realm: z.string().superRefine(rule(realmProblem)).default(DEFAULTS.auth.realm).meta({
    description: "Realm shown in the browser's login prompt. Printable ASCII without \" or \\. " +
      `Default "${DEFAULTS.auth.realm}".`,
    examples: [DEFAULTS.auth.realm],
  }),
  htpasswdFile: z.string().min(1).meta({
    description: "htpasswd file with the users, e.g. made by `htpasswd -cB .htpasswd admin`. " +
      "Relative to the config file's directory.",
    examples: [".htpasswd"],
  }),
  tokensFile: z.string().min(1).optional().meta({
    description: "API tokens: one `NAME:sha256:HEX` line per token (the SHA-256 of the token, " +
      "never the token), as `promgate token create NAME` prints it; `#` comments and blank lines " +
      "allowed. `Authorization: Bearer TOKEN` then identifies as NAME, which groups, allow, " +
      "admins, forwardUser and tenancy treat like an htpasswd user of that name. Re-read when it " +
      "changes: a removed line revokes its token. Relative to the config file's directory.",
    examples: ["tokens"],
  }),
  tokenHeader: z.string().min(1).superRefine(rule(tokenHeaderProblem)).optional().meta({
    description: "A request header that may carry a token instead of `Authorization: Bearer`, " +
      "for clients that cannot set Authorization. promgate removes it before forwarding. Needs " +
      "tokensFile. Default: none.",
    examples: ["X-Promgate-Token"],
  }),
  jwt: jwtSchema,
  oidc: oidcSchema,
  throttle: z.union([z.literal(false), throttleSchema]).default({ ...T }).meta({
    description: "Brute-force throttling of failed logins, on by default. Failures count per " +
      "(address, user name) pair (clientFailures), per user name (userFailures) and per " +
      "address by distinct names (clientUsers); past a limit, password checks for what it " +
      "covers are answered 429 for a delay that doubles from baseDelaySeconds to " +
      "maxDelaySeconds. The user and address limits spare addresses where the user logged in " +
      "within knownAddressDays. Logins already verified are never throttled. false turns it off.",
  }),
}).refine((a) => a.tokenHeader === undefined || a.tokensFile !== undefined, {
  message: "tokenHeader needs tokensFile: set auth.tokensFile, or remove tokenHeader.",
  path: ["tokenHeader"],
}).optional().meta({
  description:
    'HTTP basic auth (and API tokens, JWT bearer tokens, single sign-on) for every route except those with "auth": ' +
    'false. Required unless every route has "auth": false.',
});

/** The route defaults (lib/defaults.ts). */
const R = DEFAULTS.route;
/** The defaults of routes with several upstreams (lib/defaults.ts). */
const U = DEFAULTS.upstreams;
const HC = U.healthCheck;

const upstreamUrl = z.string().min(1).superRefine(rule(upstreamProblem)).meta({
  description: "http:// or https:// URL of the service, with no query, fragment or user:password@.",
  examples: ["http://localhost:9090/"],
  pattern: "^[Hh][Tt][Tt][Pp][Ss]?://", // for editors; the refinement gives the specific messages
});

const tenancySchema = z.strictObject({
  label: z.string().min(1).superRefine(rule(labelNameProblem)).optional().meta({
    description: "The Prometheus label that tells tenants apart. Every series selector in what " +
      'a restricted user queries gets a matcher on it (tenant="a", or tenant=~"a|b" for ' +
      "several values); rules and alerts are filtered by it; other endpoints answer 403.",
    examples: ["tenant"],
  }),
  values: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).meta({
    description: 'Users and "@groups" restricted to label values: { "alice": ["a"], ' +
      '"@team-b": ["b", "c"] }. A user named by several entries sees the union.',
    examples: [{ alice: ["a"], "@team-b": ["b", "c"] }],
  }),
  unrestricted: z.array(z.string().min(1)).default([]).meta({
    description: 'Users and "@groups" that pass unchanged. Everyone else (neither here nor in ' +
      "values) gets 403 on this route. Default none.",
    examples: [["@ops"]],
  }),
  header: z.string().min(1).superRefine(rule(headerNameProblem)).optional().meta({
    description: 'A header set upstream to the user\'s values joined by "|" (Mimir, Cortex, ' +
      "Thanos, Loki: X-Scope-OrgID), after removing any the client sent in any spelling.",
    examples: ["X-Scope-OrgID"],
  }),
  maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(
    DEFAULTS.tenancy.maxBodyBytes,
  ).meta({
    description: "Most bytes of a form-encoded request body (a POSTed query), or on Alertmanager " +
      "of a posted JSON body, read to check and rewrite it; " +
      `larger ones get 413. 1024 to 67108864, default ${DEFAULTS.tenancy.maxBodyBytes} (1 MiB).`,
    examples: [DEFAULTS.tenancy.maxBodyBytes],
  }),
  api: z.enum(["prometheus", "alertmanager"]).default("prometheus").meta({
    description: 'The upstream\'s API the label is enforced on: "prometheus" (PromQL queries, ' +
      'rules, alerts) or "alertmanager" (alerts and silences of /api/v2). Default "prometheus". ' +
      "Needs label.",
    examples: ["alertmanager"],
  }),
}).optional().meta({
  description: "Multi-tenancy: each user sees only the series of their label values " +
    "(see README, Multi-tenancy). Needs auth.",
});

/** The limits defaults (lib/defaults.ts). */
const LIM = DEFAULTS.limits;

const limitSchema = z.strictObject({
  name: z.string().max(64).regex(/^[A-Za-z0-9_.-]+$/).optional().meta({
    description: "The rule's name in metrics (label limit). Letters, digits, _ . - only; unique. " +
      'Default: its place in the file, "limits[0]" or "routes[1].limits[0]".',
    examples: ["grafana"],
  }),
  who: z.array(z.string().min(1)).min(1).meta({
    description: 'Users and "@groups" the rule applies to. Each of them is counted on its own: ' +
      'a rule for "@grafana" gives every member of the group these limits.',
    examples: [["@grafana", "alice"]],
  }),
  concurrent: z.number().int().min(1).max(100_000).optional().meta({
    description: "Most requests of one user in flight at once (a streaming answer counts until " +
      "its last byte). Over it a request waits in a queue, then gets 429. Default: no limit.",
    examples: [4],
  }),
  queueSeconds: z.number().min(0).max(3600).optional().meta({
    description: "How long a request over `concurrent` waits for a slot before it gets 429 " +
      `(0: at once). Needs concurrent. Default ${LIM.queueSeconds}.`,
    examples: [LIM.queueSeconds],
  }),
  queue: z.number().int().min(0).max(100_000).optional().meta({
    description: "Most requests of one user waiting for a slot; more get 429 at once. Needs " +
      `concurrent. Default ${LIM.queue}.`,
    examples: [LIM.queue],
  }),
  perSecond: z.number().positive().max(1_000_000).optional().meta({
    description: "Requests per second one user may send on average; more get 429 with " +
      "Retry-After. Default: no limit.",
    examples: [20],
  }),
  burst: z.number().int().min(1).max(1_000_000).optional().meta({
    description: "Requests one user may send at once before perSecond applies. Needs " +
      "perSecond. Default: perSecond rounded up (one second's worth).",
    examples: [40],
  }),
}).meta({
  description: "Limits for some users: at least one of concurrent and perSecond.",
});

const limitsSchema = z.array(limitSchema).optional().meta({
  description: "Per-user limits (see README, Limits). Every rule that names a user applies, the " +
    "global ones and the route's alike. Default: none.",
  examples: [[{ who: ["@grafana", "alice"], concurrent: 4, queueSeconds: 5, perSecond: 20 }]],
});

const routeSchema = z.strictObject({
  path: z.string().min(1).superRefine(rule(routePathProblem)).meta({
    description: 'Path prefix. "/prometheus/" (or "/prometheus") matches /prometheus and ' +
      'everything below it, never /prometheusfoo. "/" matches every path. Longest match wins.',
    examples: ["/prometheus/"],
    pattern: "^/", // for editors; the refinement above gives the specific messages
  }),
  upstream: z.union([
    upstreamUrl,
    z.array(upstreamUrl).min(1).max(16).meta({
      description: "Several upstreams serving the same thing (an HA pair of Prometheus servers): " +
        "up to 16 URLs, all with the same path. See balance and healthCheck.",
      examples: [["http://prom-a:9090/", "http://prom-b:9090/"]],
    }),
  ]).meta({
    description: 'http:// or https:// URL to forward to. With a path (even just "/") the ' +
      "matched prefix is replaced by it: /prometheus/metrics -> /metrics. A bare origin " +
      '("http://localhost:9090") gets the request path unchanged. An array of URLs with the ' +
      "same path spreads requests over several upstreams (README, Several upstreams).",
    examples: ["http://localhost:9090/"],
  }),
  balance: z.enum(["first-available", "least-loaded"]).optional().meta({
    description: 'With several upstreams: "first-available" sends every request to the first ' +
      'healthy one in the order written (an HA pair); "least-loaded" to the healthy one with ' +
      `the fewest requests in flight. Default "${U.balance}".`,
    examples: ["least-loaded"],
  }),
  healthCheck: z.strictObject({
    path: z.string().regex(/^\/[^?#\s]*$/, 'an absolute path such as "/-/ready"').default(
      HC.path,
    ).meta({
      description: "Path asked with GET on each upstream's origin (not under the route's " +
        `upstream path); any 2xx passes. Default "${HC.path}" (Prometheus' readiness).`,
      examples: [HC.path],
    }),
    intervalSeconds: z.number().min(0.1).max(3600).default(HC.intervalSeconds).meta({
      description: `Seconds between checks of each upstream. Default ${HC.intervalSeconds}.`,
      examples: [HC.intervalSeconds],
    }),
    timeoutSeconds: z.number().min(0.05).max(600).default(HC.timeoutSeconds).meta({
      description:
        `Seconds a check may take before it counts as failed. Default ${HC.timeoutSeconds}.`,
      examples: [HC.timeoutSeconds],
    }),
    unhealthyAfter: z.number().int().min(1).max(100).default(HC.unhealthyAfter).meta({
      description: "Consecutive failed checks that mark an upstream down. Default " +
        `${HC.unhealthyAfter}. A refused or reset connection marks it down at once; this many 502/503 ` +
        "answers in a row do too.",
      examples: [HC.unhealthyAfter],
    }),
    healthyAfter: z.number().int().min(1).max(100).default(HC.healthyAfter).meta({
      description: "Consecutive passed checks that bring a down upstream back. Default " +
        `${HC.healthyAfter}.`,
      examples: [HC.healthyAfter],
    }),
  }).optional().meta({
    description: "Active health checks of the route's upstreams. Without them, an upstream " +
      `that failed a request is passed over for ${U.downSeconds} s, then tried again.`,
  }),
  auth: z.boolean().default(R.auth).meta({
    description: `Require basic auth. Default ${R.auth}; set` +
      " false only for public paths such as " +
      "health checks.",
    examples: [false],
  }),
  timeoutSeconds: z.number().positive().max(86400).default(R.timeoutSeconds).meta({
    description: "Seconds to wait for the upstream's response headers, and at most between two " +
      "reads of its body (nginx's proxy_read_timeout; a body may stream for longer as long as " +
      `it keeps coming). Default ${R.timeoutSeconds}, above Prometheus' own 2m query timeout.`,
    examples: [R.timeoutSeconds],
  }),
  forwardAuthorization: z.boolean().default(R.forwardAuthorization).meta({
    description: "Pass the client's Authorization header to the upstream. " +
      `Default ${R.forwardAuthorization}, so ` +
      "the upstream never sees promgate passwords.",
    examples: [true],
  }),
  allow: z.array(z.string().min(1)).min(1).optional().meta({
    description: 'Only these users, and members of these groups ("@name", see groups), may use ' +
      "the route; other authenticated users get 403. Default: every user in the htpasswd file.",
    examples: [["alice", "@ops"]],
  }),
  readOnly: z.boolean().default(R.readOnly).meta({
    description: "Read-only for the Prometheus stack, except for admins: GET/HEAD/OPTIONS and " +
      "POST to Prometheus' query endpoints pass; other methods, and any request to the admin " +
      "API, /-/quit, /-/reload, remote write, OTLP or Pushgateway's /metrics/job (found anywhere " +
      "in the upstream path, at segment boundaries), get 403.",
    examples: [true],
  }),
  admins: z.array(z.string().min(1)).default([]).meta({
    description: 'Users and "@groups" a readOnly route lets do everything. Default none.',
    examples: [["@ops"]],
  }),
  forwardUser: z.union([z.boolean(), z.string().regex(/^[A-Za-z0-9-]+$/)]).default(R.forwardUser)
    .meta({
      description: "Tell the upstream who logged in: true sends X-Forwarded-User, a string names " +
        "the header (Grafana's auth proxy reads X-WEBAUTH-USER). promgate always removes that " +
        `header from what clients send. Default ${R.forwardUser}.`,
      examples: [true, "X-WEBAUTH-USER"],
    }),
  tenancy: tenancySchema,
  limits: limitsSchema,
}).meta({ description: "A path prefix and the upstream it is forwarded to." });

const routesSchema = z.array(routeSchema).min(1).meta({
  description: "Where requests go. Matching is by whole path segments; the longest matching " +
    "path wins; requests no route matches get 404.",
  examples: [[{ path: "/prometheus/", upstream: "http://localhost:9090/" }]],
});

const accessLogSchema = z.union([
  z.literal(false),
  z.strictObject({
    format: z.enum(["combined", "json"]).default(DEFAULTS.accessLog.format).meta({
      description: '"combined" (the Apache/nginx combined log format, the default) or "json" ' +
        "(one JSON object per line).",
      examples: ["combined"],
    }),
    path: z.string().min(1).default(DEFAULTS.accessLog.path).meta({
      description: '"-" for standard output (the default), or a file to append to, relative ' +
        "to the config file's directory.",
      examples: ["-"],
    }),
  }),
]).default({ ...DEFAULTS.accessLog }).meta({
  description: "One line per request. false turns it off. Default: combined format to stdout.",
  examples: [{ format: "combined", path: "-" }, false],
});

/** The state defaults (lib/defaults.ts). */
const S = DEFAULTS.state;

const stateSchema = z.strictObject({
  redis: z.string().min(1).superRefine(rule(redisUrlProblem)).meta({
    description: "Keep the failed-login counts in this Redis, so that several promgate " +
      'replicas count as one: "redis://host:6379/0", or "rediss://" for TLS; a user name may ' +
      "precede the host (redis://promgate@host:6379/0), a password may not (see passwordFile).",
    examples: ["redis://redis:6379/0"],
  }),
  passwordFile: z.string().min(1).optional().meta({
    description: "A file holding the Redis password (AUTH), relative to the config file's " +
      "directory; one trailing newline is ignored. Default: no password.",
    examples: ["redis.password"],
  }),
  timeoutMs: z.number().int().min(1).max(10_000).default(S.timeoutMs).meta({
    description: "The longest a request waits for Redis, per operation, in ms; past it (or " +
      "when Redis is down) promgate counts in its own memory until Redis answers again. " +
      `1-10000, default ${S.timeoutMs}.`,
    examples: [S.timeoutMs],
  }),
  keyPrefix: z.string().max(100).regex(/^[\x21-\x7e]*$/).default(S.keyPrefix).meta({
    description: "Put before every key promgate writes, so that one Redis can serve other " +
      `programs too. Printable ASCII without spaces. Default "${S.keyPrefix}".`,
    examples: [S.keyPrefix],
  }),
}).optional().meta({
  description: "State shared by several promgate replicas (see README, Replicas). Leave out " +
    "for one promgate: its server threads share their state in its own memory.",
});

/** The cores promgate may use (at least 1, at most 64): `"workers": "auto"`. */
export function availableCores(): number {
  const n = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.min(64, Math.max(1, Math.floor(n)));
}

const baseSchema = z.strictObject({
  $schema: z.string().optional().meta({
    description: "The JSON Schema of this file, so editors can check it and show help.",
    examples: ["./config.schema.json"],
  }),
  listen: listenSchema,
  tls: tlsSchema,
  auth: authSchema,
  routes: routesSchema,
  accessLog: accessLogSchema,
  groups: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.array(z.string().min(1))).default({})
    .meta({
      description: 'Named groups of users, used as "@name" in routes\' allow, admins and ' +
        "tenancy.",
      examples: [{ ops: ["alice", "bob"] }],
    }),
  metrics: z.union([
    z.literal(false),
    z.strictObject({
      path: z.string().regex(/^\/[^?#]*$/).default(DEFAULTS.metrics.path).meta({
        description: "The path promgate answers with its own metrics. " +
          `Default "${DEFAULTS.metrics.path}"; it ` +
          "takes precedence over routes.",
        examples: ["/-/promgate/metrics"],
      }),
      auth: z.boolean().default(DEFAULTS.metrics.auth).meta({
        description: `Require basic auth for it. Default ${DEFAULTS.metrics.auth}.`,
        examples: [false],
      }),
    }),
  ]).default(false).meta({
    description: "promgate's own metrics in Prometheus text format (requests by route, code " +
      "and method, durations, bytes, auth failures, upstream errors, cache hits, in-flight, " +
      "build info). Default false (off).",
    examples: [{ path: "/metrics", auth: true }, false],
  }),
  shutdownGraceSeconds: z.number().min(0).max(3600).default(DEFAULTS.shutdownGraceSeconds).meta({
    description: "On SIGTERM or SIGINT promgate stops accepting connections and lets requests " +
      "in flight finish for up to this many seconds (0-3600), then closes the rest. " +
      `Default ${DEFAULTS.shutdownGraceSeconds}.`,
    examples: [DEFAULTS.shutdownGraceSeconds],
  }),
  state: stateSchema,
  limits: limitsSchema,
  workers: z.union([z.number().int().min(1).max(64), z.literal("auto")]).default(DEFAULTS.workers)
    .meta({
      description: 'How many server threads share the listening port (1-64), or "auto": one ' +
        "per available core. Each thread serves whole connections; throttling and /metrics " +
        "cover all of them. " + `Default "${DEFAULTS.workers}".`,
      examples: ["auto", 1, 4],
    }),
}).meta({
  title: "promgate configuration",
  description: "HTTPS and HTTP basic auth in front of Prometheus. Relative file paths are " +
    "resolved against this file's directory. Reference: docs/config.md.",
});

/** The raw JSON shape of a config file, with the rules that involve more than one field. */
export const configSchema = baseSchema.superRefine((raw, ctx) => {
  for (const issue of crossFieldIssues(raw)) ctx.addIssue({ ...issue });
});

export type RawConfig = z.output<typeof baseSchema>;
