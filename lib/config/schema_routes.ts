/**
 * The schema of routes: each route's path and upstream(s) with balance and healthCheck, its
 * policy (auth, allow, readOnly, admins, forwardUser), tenancy and limits; and the limit rules,
 * which the top level takes too. Part of the config schema (schema.ts).
 */
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import {
  headerNameProblem,
  labelNameProblem,
  routePathProblem,
  rule,
  upstreamProblem,
} from "./rules.ts";

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
/** limits: per-user limit rules, at the top level and in each route. */
export const limitsSchema = z.array(limitSchema).optional().meta({
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
/** routes: where requests go; at least one. */
export const routesSchema = z.array(routeSchema).min(1).meta({
  description: "Where requests go. Matching is by whole path segments; the longest matching " +
    "path wins; requests no route matches get 404.",
  examples: [[{ path: "/prometheus/", upstream: "http://localhost:9090/" }]],
});
