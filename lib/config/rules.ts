/**
 * The config's field rules: one check per field, each returning a complete message (value, what
 * is wrong, how to fix) or null; `rule` makes one a zod refinement. Also the helpers the
 * messages share (show, isRecord). The rules that involve more than one field are in
 * cross_field_rules.ts.
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Field rules. Each returns a complete message (value, what is wrong, how to fix) or null.

export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function hostnameProblem(h: string): string | null {
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

export function realmProblem(realm: string): string | null {
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

export function routePathProblem(p: string): string | null {
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

export function upstreamProblem(u: string): string | null {
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

const REDIS_FIX = 'Write it as "redis://host:6379/0" (or "rediss://" for TLS).';

/** state.redis: a redis:// or rediss:// URL with a host, an optional db number, no password. */
export function redisUrlProblem(u: string): string | null {
  // Messages go to logs: never echo a password written into the URL.
  const v = show(u.replace(/^([^/]*\/\/)[^/]*@/, "$1***@"));
  if (!/^rediss?:\/\//i.test(u) || !URL.canParse(u)) {
    return `${v} is not a redis:// or rediss:// URL. ${REDIS_FIX}`;
  }
  const url = new URL(u);
  if (url.password) {
    return `${v} contains a password; remove it and put it in a file named by ` +
      '"passwordFile" (readable by promgate only), so it is not in the config text.';
  }
  if (!url.hostname) return `${v} has no host. ${REDIS_FIX}`;
  if (!/^(\/\d{0,5})?$/.test(url.pathname)) {
    return `${v}: the path must be a database number, e.g. "/0". ${REDIS_FIX}`;
  }
  if (url.search || url.hash) return `${v} has a query or fragment. ${REDIS_FIX}`;
  return null;
}

/** Prometheus' label-name syntax; names starting "__" are reserved for Prometheus itself. */
export function labelNameProblem(name: string): string | null {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return `${show(name)} is not a Prometheus label name: use letters, digits and "_", not ` +
      'starting with a digit, e.g. "tenant".';
  }
  if (name.startsWith("__")) {
    return `${show(name)} starts with "__", which Prometheus reserves for its own labels ` +
      '(__name__ is the metric name). Use the label your series carry, e.g. "tenant".';
  }
  return null;
}

/**
 * Headers promgate writes or the HTTP exchange itself depends on: a tenancy header must not be
 * one of them (compared as CGI-style upstreams compare names: case, "_" and "-" alike).
 */
const OWNED_HEADERS = new Set([
  "host",
  "authorization",
  "cookie",
  "connection",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "accept-encoding",
  "te",
  "trailer",
  "upgrade",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-user",
]);

export function headerNameProblem(name: string): string | null {
  if (!/^[A-Za-z0-9-]+$/.test(name)) {
    return `${show(name)} is not a header name promgate sets: use letters, digits and "-", ` +
      'e.g. "X-Scope-OrgID".';
  }
  if (OWNED_HEADERS.has(name.toLowerCase())) {
    return `${show(name)} is a header HTTP or promgate itself uses; name the tenant header ` +
      'your upstream reads, e.g. "X-Scope-OrgID".';
  }
  return null;
}

/**
 * auth.tokenHeader: a header name a client can send, and none that HTTP or promgate itself uses
 * (a token there would also reach the upstream, or be read as something else).
 */
export function tokenHeaderProblem(name: string): string | null {
  if (!/^[A-Za-z0-9-]+$/.test(name)) {
    return `${show(name)} is not a header name: use letters, digits and "-", ` +
      'e.g. "X-Promgate-Token".';
  }
  if (OWNED_HEADERS.has(name.toLowerCase())) {
    return `${show(name)} is a header HTTP or promgate itself uses; name another, ` +
      'e.g. "X-Promgate-Token" (Authorization: Bearer works without tokenHeader).';
  }
  return null;
}

/** Whether `url`'s host is this machine (where plain http is accepted for an issuer or keys). */
function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * An identity provider's issuer or keys URL: https (plain http only to this machine, for tests
 * and a provider on the same host), no credentials, query or fragment. The issuer is compared
 * with each token's `iss` as written, so it is not normalized.
 */
export function providerUrlProblem(u: string): string | null {
  const v = show(u);
  const fix = 'e.g. "https://idp.example.com/realms/main".';
  if (!URL.canParse(u) || !/^https?:\/\//i.test(u)) return `${v} is not an https:// URL, ${fix}`;
  const url = new URL(u);
  if (url.protocol !== "https:" && !isLoopbackUrl(url)) {
    return `${v} is not https: keys fetched over plain http could be replaced on the way. Use ` +
      "the provider's https:// address (plain http is accepted only for 127.0.0.1 and localhost).";
  }
  if (url.username || url.password || url.search || url.hash) {
    return `${v} has a user name, password, query or fragment; write only the provider's URL, ${fix}`;
  }
  return null;
}

/**
 * listen.trustedProxies entries: an IPv4 or IPv6 address, or a CIDR block of one. As strict as
 * lib/http/client_address.ts reads them: no brackets, ports, zone ids, or leading zeros (which
 * some parsers read as octal).
 */
export function trustedProxyProblem(entry: string): string | null {
  const fix = 'Use an address or a CIDR block, e.g. "10.0.0.0/8", "127.0.0.1" or "fd00::/8".';
  const [address, prefix, extra] = entry.split("/");
  const v4 = isIPv4(address);
  const v6 = !v4 && isIPv6(address) && !address.includes("%");
  const dotted = address.slice(address.lastIndexOf(":") + 1).split(".");
  const leadingZero = dotted.length === 4 && dotted.some((part) => /^0[0-9]/.test(part));
  if (extra !== undefined || !(v4 || v6) || leadingZero) {
    if (entry.startsWith("[")) {
      return `${show(entry)}: write IPv6 addresses without brackets. ${fix}`;
    }
    if (/^[^:]+:\d+$/.test(entry)) return `${show(entry)} includes a port; give the address only.`;
    return `${show(entry)} is not an IP address or CIDR block. ${fix}`;
  }
  if (prefix === undefined) return null;
  const most = v4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix) || Number(prefix) > most) {
    return `${show(entry)}: the prefix length after "/" must be a number from 0 to ${most}. ${fix}`;
  }
  if (v6 && address.includes(".") && Number(prefix) < 96) {
    return `${show(entry)}: an IPv4-mapped block needs a prefix of at least 96; ` +
      "write it as an IPv4 block instead.";
  }
  return null;
}

/** Wraps a string rule as a zod refinement; empty strings are left to .min(1)'s message. */
export const rule = (check: (s: string) => string | null) => (s: string, ctx: z.RefinementCtx) => {
  const problem = s === "" ? null : check(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
};

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
