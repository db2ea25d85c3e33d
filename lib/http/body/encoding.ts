/**
 * Content-Encoding across the proxy. Both runtimes' upstream clients now hand over compressed
 * bodies as the upstream sent them (Deno's by node:http for a client that takes compression,
 * lib/runtime/deno/node_client.ts), so promgate forwards the client's Accept-Encoding and passes
 * bytes and headers through together: a compressed body costs what its compressed bytes cost.
 * A runtime whose fetch decodes (`fetchDecodesCompression`) leaves the upstream's
 * Content-Encoding and compressed Content-Length behind, which copied as they are corrupt the
 * response; for such a runtime the proxy asks for gzip or identity only and re-encodes.
 */

/** Codings Deno's fetch decodes when the request did not ask for identity. */
const DECODED_BY_FETCH = new Set(["gzip", "x-gzip", "br"]);

/** Whether an Accept-Encoding value allows gzip; an explicit `gzip` entry outranks `*`. */
export function acceptsGzip(value: string | null): boolean {
  if (!value) return false;
  let wildcard: boolean | null = null;
  for (const part of value.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";").map((s) => s.trim());
    const q = params.find((s) => s.startsWith("q="));
    const allowed = !q || Number(q.slice(2)) > 0;
    if (name === "gzip" || name === "x-gzip") return allowed;
    if (name === "*") wildcard = allowed;
  }
  return wildcard ?? false;
}

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

/** What to ask the upstream for, and how to read its answer. */
export interface EncodingPlan {
  /** The Accept-Encoding to send upstream; null to send none. */
  readonly acceptEncoding: string | null;
  /** Whether the runtime will have decoded a response sent with `coding`. */
  decoded(coding: string): boolean;
}

/**
 * Plans the upstream Accept-Encoding. Where fetch passes bodies through untouched, the client's
 * preference is forwarded as is. Where fetch decodes, the upstream is asked for gzip only when the
 * client takes gzip (the body is then re-encoded for the client) and for identity otherwise, so
 * that what arrives is always either decoded by the runtime or exactly what the upstream sent.
 */
export function planEncoding(fetchDecodes: boolean, clientAccept: string | null): EncodingPlan {
  if (!fetchDecodes) return { acceptEncoding: withoutRefused(clientAccept), decoded: () => false };
  const gzip = acceptsGzip(clientAccept);
  return {
    acceptEncoding: gzip ? "gzip" : "identity",
    decoded: (coding) => gzip && DECODED_BY_FETCH.has(coding.trim().toLowerCase()),
  };
}

/**
 * Makes headers match a body the runtime decoded: re-encoded as gzip for a client that accepts
 * it (large query results stay compressed on the wire), identity otherwise. Returns the body to
 * send (null stays null, e.g. for HEAD).
 */
export function reencode(
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
): ReadableStream<Uint8Array> | null {
  headers.delete("content-length");
  headers.set("content-encoding", "gzip");
  if (body === null) return null;
  const gzip = new CompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>;
  return body.pipeThrough(gzip);
}
