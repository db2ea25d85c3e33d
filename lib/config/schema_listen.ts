/**
 * The schema of where and how promgate listens and keeps shared state: listen (with
 * trustedProxies, clientAddressHeader and proxyProtocol), tls, and state (Redis). Part of the
 * config schema (schema.ts).
 */
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import { hostnameProblem, redisUrlProblem, rule, trustedProxyProblem } from "./rules.ts";

/** The listen defaults (lib/defaults.ts). */
const L = DEFAULTS.listen;

/** listen: the address and port, time limits, and the proxies in front of promgate. */
export const listenSchema = z.strictObject({
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
/** tls: a certificate from files, or one generated at start-up. */
export const tlsSchema = z.strictObject({
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

/** The state defaults (lib/defaults.ts). */
const S = DEFAULTS.state;

/** state: the Redis that several replicas share their failed-login counts in. */
export const stateSchema = z.strictObject({
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
