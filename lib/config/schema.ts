/**
 * The config file's zod schema: the single source of truth, also exported as JSON Schema by
 * scripts/gen_schema.ts. Every default comes from lib/defaults.ts.
 *
 * Validation is strict on purpose: an unknown key is an error, because a misspelled key (say
 * "auht": false) must never silently change who can reach Prometheus.
 *
 * This file holds the top level; the sections' schemas are in schema_listen.ts (listen, tls,
 * state), schema_auth.ts (auth) and schema_routes.ts (routes, limits).
 */
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import { crossFieldIssues } from "./cross_field_rules.ts";
import { authSchema } from "./schema_auth.ts";
import { listenSchema, stateSchema, tlsSchema } from "./schema_listen.ts";
import { limitsSchema, routesSchema } from "./schema_routes.ts";

// ---------------------------------------------------------------------------------------------
// The schema. Descriptions and examples appear in editors (via config.schema.json) and the
// examples also supply the "e.g." in error messages.

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
