/**
 * The request target, decided once: the one canonical path that routing, authentication and the
 * upstream all see, or a 400 when the target could be read two ways.
 *
 * What the runtime does first (measured, Deno 2.9.6): Deno's server rejects with 400 raw NUL, raw
 * control characters, spaces, raw non-ASCII bytes, `*` and authority-form targets, a second Host
 * header; everything else reaches the handler byte for byte in `req.url`, built as
 * `scheme://` + Host header + target for origin-form and as the target itself for absolute-form.
 * It does not validate the Host header (`Host: a/healthz` makes `req.url` `http://a/healthz/x`),
 * and `new URL(req.url)` then applies the WHATWG rules: `..`, `%2e%2e` and `.%2E` are dot
 * segments, a backslash is a slash, `//` stays. Routing on that pathname and then resolving the
 * remainder against the upstream URL let `/pub//evil:80/x` and `/pub/\evil:80/x` reach another
 * host (a protocol-relative URL). So promgate parses the raw target itself:
 *
 * 1. Host (HTTP/1.1 header, or the authority of an absolute-form target, which RFC 9112 §3.2.2
 *    says replaces it) must be `host[:port]`: a DNS name, IPv4 address or `[IPv6]`, nothing else
 *    (no `/ ? # @ \`, spaces or controls). Otherwise 400, as RFC 9112 §3.2 requires. An
 *    absolute-form target must be http or https; its scheme is otherwise ignored (the forwarded
 *    proto is the connection's).
 * 2. The path must start with `/`; a `#` anywhere in the target, a `%` not followed by two hex
 *    digits, a raw or encoded backslash (`\`, `%5C`), an encoded slash (`%2F`), an encoded NUL or
 *    other control (`%00`–`%1F`, `%7F`), or percent-escapes that decode to invalid UTF-8
 *    (overlong `%C0%AE`, stray `%FF`) → 400. These are the spellings different servers read
 *    differently; nginx also rejects bad escapes and `..` above the root.
 * 3. As nginx does (`merge_slashes on`, dot-segment merging, RFC 3986 §6.2.2): empty segments
 *    are merged (`//a///b` → `/a/b`); `%XX` escapes of unreserved characters are decoded
 *    (`%70rometheus` → `prometheus`, `%2e` → `.`) and other escapes upper-cased; `.` segments are
 *    dropped and `..` removes the previous segment; `..` above the root → 400. A segment that is a
 *    dot segment followed by `;` parameters (`..;x`, which Java servers treat as `..`) → 400.
 *    Case is kept (routes are case-sensitive) and `;` is an ordinary character otherwise.
 *
 * The query string is passed on untouched. The canonical path is what routes match and what the
 * upstream receives (with the route prefix replaced), so no two components disagree about it.
 */

/** A target promgate accepts: the canonical path and the authority the client addressed. */
export interface CanonicalTarget {
  readonly ok: true;
  /** The canonical path: starts with one "/", no empty, "." or ".." segments. */
  readonly path: string;
  /** The query including its "?", or "" when there is none or it is empty; as received. */
  readonly search: string;
  /** The authority ("host[:port]") the client addressed, as sent. */
  readonly host: string;
}

/** A target promgate refuses with 400; `reason` is for logs (it quotes nothing from the client). */
export interface RejectedTarget {
  readonly ok: false;
  readonly reason: string;
}

/** Outcome of {@link canonicalTarget}. */
export type RequestTarget = CanonicalTarget | RejectedTarget;

const reject = (reason: string): RejectedTarget => ({ ok: false, reason });

// host = IP-literal / IPv4 / reg-name (RFC 3986 §3.2.2), restricted to what DNS names use.
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)(?::\d{0,5})?$/;
const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const PATH_CHARS = /^[\x21-\x7e]*$/;
/**
 * A path already in canonical form, as nearly every request's is: printable ASCII without `%`,
 * `\\`, `#` or `?`, no empty segment and no dot segment (with or without `;` parameters).
 */
const CANONICAL = /^(?=\/)(?:\/(?!\.\.?(?:[/;]|$))[!$&-.0-;=@-[\]-~]+)*\/?$/;

/** Whether `value` is a Host header value promgate accepts (`host[:port]`, nothing more). */
export function isValidAuthority(value: string): boolean {
  return value.length <= 255 && AUTHORITY.test(value);
}

/**
 * Canonicalizes the request target of `url` (a Request's `url`, as the runtime built it) given the
 * request's Host header (null when absent, as over HTTP/2).
 */
export function canonicalTarget(url: string, hostHeader: string | null): RequestTarget {
  if (hostHeader !== null && !isValidAuthority(hostHeader)) return reject("invalid Host header");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\\]*)(.*)$/s.exec(url);
  if (!m) return reject("unparseable request target");
  const [, scheme, authority, rest] = m;
  if (!/^https?$/i.test(scheme)) return reject("request target scheme is not http or https");
  if (!isValidAuthority(authority)) return reject("invalid authority in request target");
  if (rest.includes("#")) return reject("fragment in request target");
  const q = rest.indexOf("?");
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const search = q < 0 ? "" : rest.slice(q);
  const path = canonicalPath(rawPath === "" ? "/" : rawPath);
  if (typeof path !== "string") return path;
  return { ok: true, path, search: search === "?" ? "" : search, host: authority };
}

/** The canonical form of a raw (still percent-encoded) path, or why it is refused. */
export function canonicalPath(raw: string): string | RejectedTarget {
  return CANONICAL.test(raw) ? raw : normalizePath(raw);
}

/**
 * {@link canonicalPath} without its fast path for paths already canonical; exported so a test
 * can check on many random paths that the fast path changes no answer.
 */
export function normalizePath(raw: string): string | RejectedTarget {
  if (!raw.startsWith("/")) return reject("request path does not start with /");
  if (!PATH_CHARS.test(raw)) return reject("control, space or non-ASCII character in path");
  if (raw.includes("\\")) return reject("backslash in path");
  const bytes: number[] = [];
  let normalized = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== "%") {
      normalized += c;
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return reject("malformed percent-escape in path");
    const byte = parseInt(hex, 16);
    i += 2;
    if (byte < 0x20 || byte === 0x7f) return reject("encoded control character in path");
    if (byte === 0x2f) return reject("encoded slash in path");
    if (byte === 0x5c) return reject("encoded backslash in path");
    bytes.push(byte);
    const ch = String.fromCharCode(byte);
    normalized += UNRESERVED.test(ch) ? ch : "%" + hex.toUpperCase();
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return reject("percent-escapes in path are not valid UTF-8");
  }
  const segments: string[] = [];
  const parts = normalized.split("/").slice(1);
  let trailingSlash = false;
  for (let i = 0; i < parts.length; i++) {
    const segment = parts[i];
    const last = i === parts.length - 1;
    if (segment === "") {
      if (last) trailingSlash = true;
      continue;
    }
    if (segment === ".") {
      if (last) trailingSlash = true;
      continue;
    }
    if (segment === "..") {
      if (segments.length === 0) return reject("path climbs above the root");
      segments.pop();
      if (last) trailingSlash = true;
      continue;
    }
    if (/^\.\.?;/.test(segment)) return reject("dot segment with parameters in path");
    segments.push(segment);
    trailingSlash = false;
  }
  if (segments.length === 0) return "/";
  return "/" + segments.join("/") + (trailingSlash ? "/" : "");
}
