/** Header rules for a reverse proxy: what must not cross it, and what it adds. */

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus ones a proxy must consume rather than pass on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Copies `source` without hop-by-hop headers, nor the ones `Connection` names, nor `drop`.
 * `entries`, when given, must be what iterating `source` yields (a snapshot the caller already
 * took: iterating Headers sorts and joins them, ~6 µs each time on Deno).
 */
export function endToEndHeaders(
  source: Headers,
  drop: readonly string[] = [],
  entries: Iterable<[string, string]> = source,
): Headers {
  const out = new Headers();
  copyEndToEnd(source, drop, entries, (name, value) => out.append(name, value));
  return out;
}

/**
 * {@link endToEndHeaders} as a list of name/value pairs, for a fetch: Deno 2.9.6 builds a
 * request from such a list in 5.7 µs, from a Headers object in 14.5 µs.
 */
export function endToEndList(
  source: Headers,
  drop: readonly string[] = [],
  entries: Iterable<[string, string]> = source,
): [string, string][] {
  const out: [string, string][] = [];
  copyEndToEnd(source, drop, entries, (name, value) => out.push([name, value]));
  return out;
}

function copyEndToEnd(
  source: Headers,
  drop: readonly string[],
  entries: Iterable<[string, string]>,
  add: (name: string, value: string) => void,
): void {
  const named = new Set(drop);
  for (const token of (source.get("connection") ?? "").split(",")) {
    const name = token.trim().toLowerCase();
    if (name) named.add(name);
  }
  for (const [name, value] of entries) {
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    if (name === "set-cookie") continue; // joined by iteration; copied one by one below
    add(name, value);
  }
  if (!named.has("set-cookie")) {
    for (const cookie of source.getSetCookie()) add("set-cookie", cookie);
  }
}

/** What the proxy tells the upstream about the original request. */
export interface ForwardedFacts {
  readonly clientAddr: string;
  /** "http" or "https": how the client reached promgate. */
  readonly proto: string;
  /** The Host (authority) the client asked for. */
  readonly host: string;
}

/**
 * Adds X-Forwarded-For (appended to any the client sent, like nginx's
 * `$proxy_add_x_forwarded_for`), X-Forwarded-Proto and X-Forwarded-Host to a list of pairs from
 * {@link endToEndList}, replacing whatever the client sent for the last two.
 */
export function addForwarded(list: [string, string][], facts: ForwardedFacts): void {
  const prior = list.find(([name]) => name === "x-forwarded-for")?.[1] ?? null;
  let kept = 0;
  for (const entry of list) {
    if (!FORWARDED.has(entry[0])) list[kept++] = entry;
  }
  list.length = kept;
  list.push(
    ["x-forwarded-for", prior ? `${prior}, ${facts.clientAddr}` : facts.clientAddr],
    ["x-forwarded-proto", facts.proto],
    ["x-forwarded-host", facts.host],
  );
}

const FORWARDED = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]);

/**
 * Headers every response promgate sends gets: `X-Content-Type-Options: nosniff` (browsers must
 * not guess a script or stylesheet out of a JSON or text body), and no `Server` or
 * `X-Powered-By` naming the upstream's software and version.
 */
export function secureResponseHeaders(headers: Headers): void {
  headers.set("x-content-type-options", "nosniff");
  headers.delete("server");
  headers.delete("x-powered-by");
}
