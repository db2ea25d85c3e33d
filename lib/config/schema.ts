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
  realmProblem,
  routePathProblem,
  rule,
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
  throttle: z.union([z.literal(false), throttleSchema]).default({ ...T }).meta({
    description: "Brute-force throttling of failed logins, on by default. Failures count per " +
      "(address, user name) pair (clientFailures), per user name (userFailures) and per " +
      "address by distinct names (clientUsers); past a limit, password checks for what it " +
      "covers are answered 429 for a delay that doubles from baseDelaySeconds to " +
      "maxDelaySeconds. The user and address limits spare addresses where the user logged in " +
      "within knownAddressDays. Logins already verified are never throttled. false turns it off.",
  }),
}).optional().meta({
  description: 'HTTP basic auth for every route except those with "auth": false. ' +
    'Required unless every route has "auth": false.',
});

/** The route defaults (lib/defaults.ts). */
const R = DEFAULTS.route;

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

const routeSchema = z.strictObject({
  path: z.string().min(1).superRefine(rule(routePathProblem)).meta({
    description: 'Path prefix. "/prometheus/" (or "/prometheus") matches /prometheus and ' +
      'everything below it, never /prometheusfoo. "/" matches every path. Longest match wins.',
    examples: ["/prometheus/"],
    pattern: "^/", // for editors; the refinement above gives the specific messages
  }),
  upstream: z.string().min(1).superRefine(rule(upstreamProblem)).meta({
    description: 'http:// or https:// URL to forward to. With a path (even just "/") the ' +
      "matched prefix is replaced by it: /prometheus/metrics -> /metrics. A bare origin " +
      '("http://localhost:9090") gets the request path unchanged.',
    examples: ["http://localhost:9090/"],
    pattern: "^[Hh][Tt][Tt][Pp][Ss]?://", // for editors, as above
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
