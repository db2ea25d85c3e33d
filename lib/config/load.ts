/**
 * The promgate config file: its zod schema (the single source of truth, also exported as JSON
 * Schema by scripts/gen_schema.ts), loading, validation, and resolution into a typed Config.
 *
 * Validation is strict on purpose: an unknown key is an error, because a misspelled key (say
 * "auht": false) must never silently change who can reach Prometheus.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { access, readFile, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { InputError } from "../errors.ts";
import { DEFAULTS } from "../defaults.ts";
import { jsonPath, parseJsonStrict } from "./json_text.ts";
import { generateSelfSigned } from "./self_signed.ts";
import { errorText } from "../log.ts";

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

/** Basic auth settings; htpasswdFile is absolute (its contents are parsed by lib/auth/htpasswd.ts). */
export interface AuthConfig {
  realm: string;
  htpasswdFile: string;
  /** Failed-login throttling (lib/auth/throttle.ts); null when turned off. */
  throttle: ThrottleConfig | null;
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
}

/** promgate's own metrics endpoint (lib/http/metrics.ts). */
export interface MetricsConfig {
  /** The request path it answers on, e.g. "/metrics". */
  path: string;
  /** Whether it requires basic auth like a protected route. */
  auth: boolean;
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
  /**
   * Where to accept connections, and the client timeouts (seconds; optional so that configs
   * written out in code need not name them: absent means the defaults).
   */
  listen: {
    hostname: string;
    port: number;
    headerTimeoutSeconds?: number;
    idleTimeoutSeconds?: number;
  };
  tls: TlsConfig | null;
  auth: AuthConfig | null;
  /** Sorted longest prefix first, so the first route that matches is the right one. */
  routes: RouteConfig[];
  accessLog: AccessLogConfig | null;
  /**
   * How long SIGTERM/SIGINT wait for in-flight requests before closing them (0-3600). Always set
   * by loadConfig; optional so that configs written out in code (tests) need not name it.
   */
  shutdownGraceSeconds: number;
  /**
   * Server threads (1-64), each with its own listener on the same port (SO_REUSEPORT), so that
   * every core serves requests; "auto" in the file resolves to the cores available. Optional so
   * that configs written out in code (tests) need not name it: absent means 1.
   */
  workers?: number;
  /** Group name -> user names, for routes' `allow` and `admins` ("@group"). */
  groups: Groups;
  /** promgate's own metrics endpoint, or null when off. */
  metrics: MetricsConfig | null;
}

// ---------------------------------------------------------------------------------------------
// Field rules. Each returns a complete message (value, what is wrong, how to fix) or null.

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function hostnameProblem(h: string): string | null {
  if (h.startsWith("[")) {
    return `${show(h)}: write IPv6 addresses without brackets, e.g. "::1" or "::".`;
  }
  if (/^[^:]+:\d+$/.test(h)) return `${show(h)} includes a port; put the port in listen.port.`;
  if (!/^[A-Za-z0-9.:%_-]+$/.test(h)) {
    return `${show(h)} is not a hostname or IP address. ` +
      `Use e.g. "0.0.0.0" (all IPv4 addresses), "::" or "127.0.0.1".`;
  }
  return null;
}

function realmProblem(realm: string): string | null {
  const bad = [...realm].find((c) => c === '"' || c === "\\" || c < " " || c > "~");
  if (bad === undefined) return null;
  const name = bad === '"'
    ? 'a double quote (")'
    : bad === "\\"
    ? "a backslash (\\)"
    : bad < " "
    ? "a control character"
    : show(bad);
  return `${show(realm)} contains ${name}. The realm is sent in the WWW-Authenticate header: ` +
    `use printable ASCII without " or \\.`;
}

/** Characters a request path can hold unencoded (RFC 3986 pchar, plus "/"). */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

function routePathProblem(p: string): string | null {
  const v = show(p);
  if (!p.startsWith("/")) return `${v} must start with "/", e.g. "/prometheus/".`;
  if (p.includes("?")) return `${v} contains "?": routes match the path only, never the query.`;
  if (p.includes("#")) return `${v} contains "#": fragments are never sent to the server.`;
  if (p.includes("%")) {
    return `${v} contains "%": percent-encoded routes are not supported; use plain characters.`;
  }
  if (p.includes("\\")) return `${v} contains "\\": use "/" to separate segments.`;
  if (!PATH_CHARS.test(p)) {
    const bad = [...p].find((c) => !PATH_CHARS.test(c));
    return `${v} contains ${show(bad)}, which requests only send percent-encoded; ` +
      `use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ only.`;
  }
  if (p.includes("//")) return `${v} contains "//" (an empty segment); use single slashes.`;
  if (p.split("/").some((s) => s === "." || s === "..")) {
    return `${v} has a "." or ".." segment, which clients remove before sending; ` +
      "write the path without it.";
  }
  return null;
}

const UPSTREAM_FIX = `Set it to the service's address, e.g. "http://localhost:9090/".`;

function upstreamProblem(u: string): string | null {
  // Messages go to logs: never echo a password written into the URL.
  const v = show(u.replace(/^([^/]*\/\/)[^/]*@/, "$1***@"));
  if (/[\s\\]/.test(u)) return `${v} contains whitespace or "\\". ${UPSTREAM_FIX}`;
  // Checked on the raw text: the URL parser also accepts "http:host" and lower-cases schemes.
  if (!/^https?:\/\//i.test(u)) return `${v} is not an http:// or https:// URL. ${UPSTREAM_FIX}`;
  if (!URL.canParse(u)) return `${v} is not a valid URL. ${UPSTREAM_FIX}`;
  const authority = u.slice(u.indexOf("//") + 2).split("/")[0];
  if (authority.includes("@")) {
    return `${v} contains a user name or password; remove the "user:password@" part ` +
      `(set "forwardAuthorization": true to pass the client's credentials instead).`;
  }
  if (u.includes("?") || u.includes("#")) {
    return `${v} has a query or fragment; an upstream is only scheme, host, port and path.`;
  }
  return null;
}

/** Wraps a string rule as a zod refinement; empty strings are left to .min(1)'s message. */
const rule = (check: (s: string) => string | null) => (s: string, ctx: z.RefinementCtx) => {
  const problem = s === "" ? null : check(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
};

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
      description: 'Named groups of users, used as "@name" in routes\' allow and admins.',
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

type RawConfig = z.output<typeof baseSchema>;

interface PathIssue {
  code: "custom";
  path: (string | number)[];
  message: string;
  params: { crossField: true };
}

/**
 * Rules across fields: auth must exist when a route needs it, and no two routes may share a
 * prefix. Written defensively against unvalidated input so that parseConfig can report these
 * alongside zod's own issues (zod skips refinements on objects that already failed).
 */
function crossFieldIssues(raw: unknown): PathIssue[] {
  if (!isRecord(raw) || !Array.isArray(raw.routes)) return [];
  const routes = raw.routes.map((r) => (isRecord(r) ? r : {}));
  const issues: PathIssue[] = [];
  const add = (path: (string | number)[], message: string) =>
    issues.push({ code: "custom", path, message, params: { crossField: true } });
  const needsAuth = routes.findIndex((r) => r.auth !== false);
  if (raw.auth === undefined && needsAuth >= 0) {
    add(
      ["auth"],
      `missing, but routes[${needsAuth}] (${show(routes[needsAuth].path)}) requires it ` +
        `(routes require auth unless they say "auth": false). ` +
        `Add "auth": { "htpasswdFile": ".htpasswd" }.`,
    );
  }
  if (isRecord(raw.tls)) tlsIssues(raw.tls, add);
  routes.forEach((r, i) => policyIssues(r, i, isRecord(raw.groups) ? raw.groups : {}, add));
  const seen = new Map<string, number>();
  routes.forEach((r, i) => {
    if (typeof r.path !== "string") return;
    const prefix = r.path.replace(/\/$/, "");
    const first = seen.get(prefix);
    if (first === undefined) return void seen.set(prefix, i);
    add(
      ["routes", i, "path"],
      `${show(r.path)} duplicates routes[${first}].path ${show(routes[first].path)} ` +
        `(a trailing "/" makes no difference). Remove or change one of them.`,
    );
  });
  return issues;
}

/** allow/admins name known groups, and only make sense where they can apply. */
function policyIssues(
  r: Record<string, unknown>,
  i: number,
  groups: Record<string, unknown>,
  add: (path: (string | number)[], message: string) => void,
): void {
  for (const key of ["allow", "admins"]) {
    const names = Array.isArray(r[key]) ? r[key] : [];
    names.forEach((name, j) => {
      if (typeof name === "string" && name.startsWith("@") && !(name.slice(1) in groups)) {
        add(
          ["routes", i, key, j],
          `${show(name)} names no group. Define it in "groups", e.g. ` +
            `"groups": { ${show(name.slice(1))}: ["alice"] }.`,
        );
      }
    });
  }
  if (r.auth === false) {
    for (
      const key of ["allow", "forwardUser"].filter((k) => r[k] !== undefined && r[k] !== false)
    ) {
      add(["routes", i, key], 'needs a logged-in user, but the route has "auth": false.');
    }
  }
  if (Array.isArray(r.admins) && r.admins.length > 0 && r.readOnly !== true) {
    add(["routes", i, "admins"], 'only applies with "readOnly": true. Remove it or add that.');
  }
}

/** tls takes either a certificate from files or a generated one, never a mix. */
function tlsIssues(
  tls: Record<string, unknown>,
  add: (path: (string | number)[], message: string) => void,
): void {
  if (tls.selfSigned === true) {
    for (const key of ["certFile", "keyFile"].filter((k) => k in tls)) {
      add(["tls", key], `conflicts with "selfSigned": true. Use files or a generated certificate.`);
    }
    return;
  }
  if ("hostnames" in tls) {
    add(["tls", "hostnames"], 'only applies with "selfSigned": true. Remove it or add that.');
  }
  for (const key of ["certFile", "keyFile"].filter((k) => !(k in tls))) {
    add(
      ["tls", key],
      `missing. Name the PEM ${key === "certFile" ? "certificate" : "key"} file, ` +
        'or set "selfSigned": true for a certificate generated at start-up.',
    );
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Loading.

/** Reads, validates and resolves a config file. Throws InputError naming file + JSON path + fix. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new InputError(`${file}: ${fileProblem(e, resolve(file))} ${configFileFix(e, file)}`);
  }
  return await parseConfig(text, file);
}

function configFileFix(e: unknown, file: string): string {
  return errorCode(e) === "ENOENT"
    ? `To start, copy config.example.json to ${file} and edit it (see docs/config.md).`
    : "Pass the path of the JSON config file.";
}

/** Same as loadConfig, from text already read (file names messages and anchors relative paths). */
export async function parseConfig(text: string, file: string): Promise<Config> {
  const raw = parseJsonStrict(text.replace(/^\uFEFF/, ""), file);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issues: z.core.$ZodIssue[] = [...result.error.issues];
    if (!issues.some(isCrossField)) issues.push(...crossFieldIssues(raw));
    const lines = inDocumentOrder(issues.flatMap((i) => formatIssue(i, raw)), raw);
    throw new InputError(lines.map((m) => `${file}: ${m}`).join("\n"));
  }
  return await resolveConfig(result.data, resolve(file), file);
}

const isCrossField = (i: z.core.$ZodIssue) =>
  i.code === "custom" && (i.params as { crossField?: boolean } | undefined)?.crossField === true;

// ---------------------------------------------------------------------------------------------
// Resolution: defaults are already applied by zod; here paths become absolute and the files the
// config names are checked, so that a bad certificate fails at load and not at the first request.

async function resolveConfig(raw: RawConfig, file: string, shown: string): Promise<Config> {
  const base = dirname(file);
  // One list per section, joined in file order: the checks finish in any order.
  const found: [string[], string[], string[]] = [[], [], []];
  const [tls, auth, accessLog] = await Promise.all([
    raw.tls ? resolveTls(raw.tls, raw.listen.hostname, base, found[0]) : null,
    raw.auth ? resolveAuth(raw.auth, base, found[1]) : null,
    raw.accessLog ? resolveAccessLog(raw.accessLog, base, found[2]) : null,
  ]);
  const problems = found.flat();
  if (problems.length > 0) {
    throw new InputError(problems.map((p) => `${shown}: ${p}`).join("\n"));
  }
  return {
    file,
    listen: { ...raw.listen },
    tls,
    auth,
    routes: raw.routes.map(resolveRoute).sort((a, b) => b.prefix.length - a.prefix.length),
    accessLog,
    shutdownGraceSeconds: raw.shutdownGraceSeconds,
    workers: raw.workers === "auto" ? availableCores() : raw.workers,
    groups: new Map(Object.entries(raw.groups).map(([name, users]) => [name, new Set(users)])),
    metrics: raw.metrics === false ? null : raw.metrics,
  };
}

function resolveRoute(r: RawConfig["routes"][number]): RouteConfig {
  return {
    path: r.path,
    prefix: r.path.replace(/\/$/, ""),
    upstream: new URL(r.upstream),
    // The raw text decides: new URL() gives "http://h:9090" the path "/" as well.
    stripPrefix: /^[a-z]+:\/\/[^/]*\//i.test(r.upstream),
    auth: r.auth,
    timeoutMs: Math.max(1, Math.round(r.timeoutSeconds * 1000)),
    forwardAuthorization: r.forwardAuthorization,
    policy: { allow: r.allow ?? null, readOnly: r.readOnly, admins: r.admins },
    forwardUser: r.forwardUser === true
      ? "x-forwarded-user"
      : r.forwardUser === false
      ? null
      : r.forwardUser.toLowerCase(),
  };
}

async function resolveAuth(
  raw: NonNullable<RawConfig["auth"]>,
  base: string,
  problems: string[],
): Promise<AuthConfig> {
  const htpasswdFile = resolve(base, raw.htpasswdFile);
  try {
    if (!(await stat(htpasswdFile)).isFile()) throw Object.assign(new Error(), { code: "EISDIR" });
    await access(htpasswdFile, constants.R_OK);
  } catch (e) {
    const fix = errorCode(e) === "ENOENT"
      ? `Create it with: htpasswd -cB ${htpasswdFile} admin`
      : "Point auth.htpasswdFile at a readable htpasswd file.";
    problems.push(`auth.htpasswdFile: ${fileProblem(e, htpasswdFile)} ${fix}`);
  }
  return { realm: raw.realm, htpasswdFile, throttle: raw.throttle === false ? null : raw.throttle };
}

async function resolveAccessLog(
  raw: Exclude<RawConfig["accessLog"], false>,
  base: string,
  problems: string[],
): Promise<AccessLogConfig> {
  if (raw.path === "-") return { format: raw.format, path: "-" };
  const path = resolve(base, raw.path);
  const dir = dirname(path);
  const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory();
  if (await isDir(path)) {
    problems.push(`accessLog.path: ${path} is a directory; name a file in it, e.g. "access.log".`);
  } else if (!(await isDir(dir))) {
    problems.push(
      `accessLog.path: directory ${dir} does not exist. Create it, or set "path": "-" for stdout.`,
    );
  } else {
    // The log is opened later, by lib/http/access_log.ts; a permission problem belongs here, at load.
    const target = await access(path).then(() => path, () => dir);
    await access(target, constants.W_OK).catch(() =>
      problems.push(
        `accessLog.path: ${target} is not writable by this user. Fix its permissions, or set ` +
          `"path": "-" for stdout.`,
      )
    );
  }
  return { format: raw.format, path };
}

// ---------------------------------------------------------------------------------------------
// TLS: read both files and prove they parse and belong together, as nginx -t would.

async function resolveTls(
  raw: NonNullable<RawConfig["tls"]>,
  listenHostname: string,
  base: string,
  problems: string[],
): Promise<TlsConfig | null> {
  if (raw.selfSigned === true) {
    const wildcard = ["0.0.0.0", "::"].includes(listenHostname);
    const defaults = ["localhost", "127.0.0.1", "::1", ...(wildcard ? [] : [listenHostname])];
    const hostnames = [...new Set(raw.hostnames ?? defaults)];
    const generated = await generateSelfSigned(hostnames);
    return {
      certFile: null,
      keyFile: null,
      cert: generated.cert,
      key: generated.key,
      selfSigned: { hostnames, fingerprint: generated.fingerprint },
    };
  }
  // crossFieldIssues guarantees both files are named when selfSigned is not true.
  const certFile = resolve(base, raw.certFile!);
  const keyFile = resolve(base, raw.keyFile!);
  const [cert, key] = await Promise.all([
    readPem("tls.certFile", certFile, problems),
    readPem("tls.keyFile", keyFile, problems),
  ]);
  if (cert === null || key === null) return null;
  checkPair(cert, key, certFile, keyFile, problems);
  return { certFile, keyFile, cert, key, selfSigned: null };
}

/**
 * Reads a certificate and key pair again (when the files change on disk) with the same checks as
 * at load: both parse, and the key belongs to the certificate.
 * @throws InputError with one line per problem, each naming the file and the fix.
 */
export async function readTlsFiles(certFile: string, keyFile: string): Promise<TlsConfig> {
  const problems: string[] = [];
  const [cert, key] = await Promise.all([
    readPem("tls.certFile", certFile, problems),
    readPem("tls.keyFile", keyFile, problems),
  ]);
  if (cert !== null && key !== null) checkPair(cert, key, certFile, keyFile, problems);
  if (problems.length > 0 || cert === null || key === null) {
    throw new InputError(problems.join("\n"));
  }
  return { certFile, keyFile, cert, key, selfSigned: null };
}

function checkPair(
  cert: string,
  key: string,
  certFile: string,
  keyFile: string,
  problems: string[],
): void {
  const x509 = parseCert(cert, certFile, problems);
  const keyObject = parseKey(key, keyFile, problems);
  if (x509 && keyObject && !keyMatchesCert(x509, keyObject)) {
    problems.push(
      `tls.keyFile: ${keyFile} does not belong to the certificate in ${certFile}. ` +
        `Use the key that was created with that certificate.`,
    );
  }
}

async function readPem(where: string, file: string, problems: string[]): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const fix = where === "tls.certFile"
      ? `Set ${where} to your certificate (PEM), or remove "tls" to serve plain HTTP.`
      : `Set ${where} to the certificate's private key (PEM).`;
    problems.push(`${where}: ${fileProblem(e, file)} ${fix}`);
    return null;
  }
}

function parseCert(pem: string, file: string, problems: string[]): X509Certificate | null {
  const fail = (why: string) => void problems.push(`tls.certFile: ${file} ${why}`);
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      fail("holds a private key, not a certificate: are certFile and keyFile swapped?");
    } else {
      fail(
        'is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line). ' +
          `A DER file converts with: openssl x509 -inform der -in ${file} -out cert.pem`,
      );
    }
    return null;
  }
  try {
    // Only the first certificate (the server's own) is parsed; the rest is its chain.
    return new X509Certificate(pem);
  } catch (e) {
    fail(`does not parse as a certificate (${errorText(e)}). Check that it is not truncated.`);
    return null;
  }
}

function parseKey(pem: string, file: string, problems: string[]): KeyObject | null {
  const fail = (why: string) => void problems.push(`tls.keyFile: ${file} ${why}`);
  if (pem.includes("ENCRYPTED")) {
    fail(`is encrypted. Decrypt it once with: openssl pkey -in ${file} -out plain.key`);
    return null;
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    fail(
      pem.includes("-----BEGIN CERTIFICATE-----")
        ? "holds a certificate, not a private key: are certFile and keyFile swapped?"
        : 'is not a PEM private key (no "-----BEGIN ... PRIVATE KEY-----" line).',
    );
    return null;
  }
  try {
    return createPrivateKey(pem);
  } catch (e) {
    fail(`does not parse as a private key (${errorText(e)}). Use an RSA or EC key in PEM.`);
    return null;
  }
}

/**
 * x509.checkPrivateKey works under Deno 2.9.6 and Bun; where a runtime lacks it, comparing the
 * public halves (SPKI DER) gives the same answer. If neither works the check is skipped: the
 * runtime's TLS setup will still refuse a mismatched pair at start.
 */
function keyMatchesCert(x509: X509Certificate, key: KeyObject): boolean {
  try {
    if (typeof x509.checkPrivateKey === "function") return x509.checkPrivateKey(key);
    const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" }).toString("hex");
    return spki(x509.publicKey) === spki(createPublicKey(key));
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// File error wording shared by every file the config names.

const errorCode = (e: unknown): string | undefined =>
  (e as { code?: unknown })?.code as string | undefined;

function fileProblem(e: unknown, file: string): string {
  switch (errorCode(e)) {
    case "ENOENT":
      return `file ${file} not found.`;
    case "EACCES":
    case "EPERM":
      return `file ${file} cannot be read (permission denied).`;
    case "EISDIR":
      return `${file} is a directory, not a file.`;
    default:
      return `file ${file} cannot be read (${errorText(e)}).`;
  }
}

// ---------------------------------------------------------------------------------------------
// zod issues -> one message line each.

type Issue = z.core.$ZodIssue;
type Key = PropertyKey;

/** A message line and the JSON path that places it in document order. */
interface Line {
  order: readonly Key[];
  text: string;
}

/** Turns one zod issue into message lines ("routes[0].upstream: ..."), without the file name. */
function formatIssue(issue: Issue, raw: unknown): Line[] {
  const path = issue.path;
  const line = (text: string, order = path) => ({ order, text: at(path, text) });
  const value = valueAt(raw, path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => line(unknownKeyText(k, keysAt(path)), [...path, k]));
    case "invalid_union":
      return formatUnion(issue, raw);
    case "invalid_type":
      return [line(typeText(issue.expected, value) + exampleText(path))];
    case "invalid_value":
      return [line(`${show(value)} is not one of ${issue.values.map(show).join(", ")}.`)];
    case "too_small":
    case "too_big":
      return [line(sizeText(issue, value) + exampleText(path))];
    default:
      return [line(issue.message)];
  }
}

const at = (
  path: readonly Key[],
  text: string,
) => (path.length ? `${jsonPath(path)}: ${text}` : text);

/** For accessLog-like unions: an object gets the object branch's issues, anything else one line. */
function formatUnion(issue: z.core.$ZodIssueInvalidUnion, raw: unknown): Line[] {
  const branch = issue.errors.find((errs) => errs.every((e) => e.path.length > 0 || isKeyIssue(e)));
  if (branch) {
    return branch.flatMap((e) => formatIssue({ ...e, path: [...issue.path, ...e.path] }, raw));
  }
  const examples = metaAt(issue.path)?.examples as unknown[] | undefined;
  const text = `${show(valueAt(raw, issue.path))} is not valid.` +
    (examples ? ` Use ${examples.map((x) => JSON.stringify(x)).join(" or ")}.` : "");
  return [{ order: issue.path, text: at(issue.path, text) }];
}

/** Sorts lines as their keys appear in the file; keys absent from it go after their siblings. */
function inDocumentOrder(lines: Line[], raw: unknown): string[] {
  const rank = (path: readonly Key[]) => {
    let v = raw;
    return path.map((k) => {
      const keys = isRecord(v) ? Object.keys(v) : [];
      v = valueAt(v, [k]);
      if (typeof k === "number") return k;
      const i = keys.indexOf(String(k));
      return i < 0 ? keys.length : i;
    });
  };
  const ranked = lines.map((l) => ({ r: rank(l.order), text: l.text }));
  ranked.sort((a, b) => {
    for (let i = 0; i < Math.min(a.r.length, b.r.length); i++) {
      if (a.r[i] !== b.r[i]) return a.r[i] - b.r[i];
    }
    return a.r.length - b.r.length;
  });
  return ranked.map((l) => l.text);
}

const isKeyIssue = (e: Issue) => e.code === "unrecognized_keys";

function typeText(expected: string, value: unknown): string {
  if (value === undefined) return "missing.";
  if (value === null) {
    return `null is not allowed; expected ${expectedWords[expected] ?? expected}.`;
  }
  if (expected === "int" && typeof value === "number") return `${value} is not a whole number.`;
  return `${show(value)} is ${kindOf(value)}; expected ${expectedWords[expected] ?? expected}.`;
}

const expectedWords: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "an object { ... }",
  array: "an array [ ... ]",
};

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function sizeText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown) {
  const small = issue.code === "too_small";
  const limit = small ? (issue as z.core.$ZodIssueTooSmall).minimum : issue.maximum;
  if (issue.origin === "string") return "is empty.";
  if (issue.origin === "array") {
    return small ? "is empty; it needs at least one item." : "is too long.";
  }
  const bound = small
    ? (issue.inclusive ? "at least" : "greater than")
    : (issue.inclusive ? "at most" : "less than");
  return `${show(value)} is too ${small ? "small" : "big"}: it must be ${bound} ${limit}.`;
}

function exampleText(path: readonly Key[]): string {
  const examples = metaAt(path)?.examples as unknown[] | undefined;
  if (!examples?.length) return path.length ? "" : " See config.example.json.";
  const name = path.at(-1);
  const example = JSON.stringify(examples[0]);
  return typeof name === "string" ? ` e.g. "${name}": ${example}` : ` e.g. ${example}`;
}

/** Names the closest valid key (ignoring case, "_" and "-"), or lists the valid keys. */
function unknownKeyText(key: string, valid: string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = editDistance(norm(key), norm(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))) {
    return `unknown key ${show(key)}. Did you mean ${show(best)}?`;
  }
  return `unknown key ${show(key)}. Valid keys: ${valid.join(", ")}.`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

function valueAt(raw: unknown, path: readonly Key[]): unknown {
  let v = raw;
  for (const k of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<Key, unknown>)[k];
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Walking the schema by JSON path, for valid-key lists and examples.

type Schema = z.core.$ZodType;

/** The schema and its wrappers (default, optional, ...) from the outside in. */
function layers(s: Schema): Schema[] {
  const out = [s];
  for (let def = s._zod.def as { innerType?: Schema; in?: Schema }; def.innerType || def.in;) {
    const inner = (def.innerType ?? def.in)!;
    out.push(inner);
    def = inner._zod.def as typeof def;
  }
  return out;
}

function schemaAt(path: readonly Key[]): Schema | undefined {
  let s: Schema | undefined = configSchema;
  for (const k of path) s = s && childOf(s, k);
  return s;
}

function childOf(s: Schema, key: Key): Schema | undefined {
  for (const layer of layers(s)) {
    const def = layer._zod.def as {
      type: string;
      shape?: Record<string, Schema>;
      element?: Schema;
      options?: Schema[];
    };
    if (def.type === "object" && typeof key === "string") return def.shape?.[key];
    if (def.type === "array" && typeof key === "number") return def.element;
    if (def.type === "union") {
      return def.options?.map((o) => childOf(o, key)).find((c) => c !== undefined);
    }
  }
  return undefined;
}

function keysAt(path: readonly Key[]): string[] {
  const s = schemaAt(path);
  for (const layer of s ? layers(s) : []) {
    const def = layer._zod.def as { type: string; shape?: object; options?: Schema[] };
    if (def.type === "object") return Object.keys(def.shape ?? {});
    const object = def.options?.find((o) => o._zod.def.type === "object");
    if (object) return Object.keys(objectShape(object));
  }
  return [];
}

const objectShape = (s: Schema) => (s._zod.def as unknown as { shape: object }).shape;

function metaAt(path: readonly Key[]): Record<string, unknown> | undefined {
  const s = schemaAt(path);
  for (const layer of s ? layers(s) : []) {
    const meta = z.globalRegistry.get(layer);
    if (meta?.examples !== undefined) return meta;
  }
  return undefined;
}
