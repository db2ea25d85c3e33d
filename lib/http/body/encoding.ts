/**
 * Content-Encoding across the proxy. The upstream fetch a runtime adapter provides hands over a
 * body with the headers that describe its bytes (lib/http/types.ts, UpstreamFetch), so promgate
 * forwards the client's Accept-Encoding and passes bytes and headers through together: a
 * compressed body costs what its compressed bytes cost, and promgate never decodes nor encodes.
 */

/**
 * The client's Accept-Encoding for the upstream, without the codings it refuses. Many servers
 * look for the word "gzip" and ignore q-values (as this repository's own test upstreams do), so a
 * client saying `gzip;q=0, br` would get gzip it cannot read. When any entry has q=0, only the
 * codings the client names and allows are kept (and `*` is dropped, since to such a server it
 * would not exclude the refused ones); null when none is left.
 */
export function withoutRefused(value: string | null): string | null {
  if (!value || !/q=0/i.test(value)) return value || null;
  const parts = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  const refuses = (part: string) => /;\s*q=0(\.0{0,3})?\s*(;|$)/i.test(part);
  if (!parts.some(refuses)) return value;
  const kept = parts.filter((part) => !refuses(part) && !part.startsWith("*"));
  return kept.length > 0 ? kept.join(", ") : null;
}
