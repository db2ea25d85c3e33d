/**
 * Content-Encoding across the proxy. A runtime whose fetch decodes compressed bodies (Deno: gzip
 * and br, unless the request asked for identity) leaves the upstream's Content-Encoding and
 * compressed Content-Length behind; copied as they are, they corrupt every compressed response.
 * So the proxy decides what it asks the upstream for, and knows for sure when a body was decoded.
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
  if (!fetchDecodes) return { acceptEncoding: clientAccept, decoded: () => false };
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
