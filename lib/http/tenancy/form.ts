/**
 * Form parameters read the way Prometheus (Go's net/http) reads them, and rewritten in place.
 *
 * Go's `url.ParseQuery` splits on "&", skips a pair holding ";" and a pair with a bad
 * percent-escape (reporting an error that `FormValue` ignores), turns "+" into a space, and keeps
 * repeated names in order. For POST, PUT and PATCH with an `application/x-www-form-urlencoded`
 * body, `r.Form` holds the body's values first, then the URL's; `FormValue` returns the first.
 * Prometheus reads `query` through `FormValue` and `match[]` as all of `r.Form["match[]"]`.
 *
 * promgate rewrites every occurrence of a parameter, in the body and in the URL, so whichever one
 * Prometheus picks is rewritten. What Go would skip or could read differently — a pair with ";",
 * a bad escape, bytes that are not UTF-8 — is refused rather than guessed at.
 */

/** One `name=value` pair of a query string or form body. */
export interface FormPair {
  /** The pair as it arrived, re-emitted byte for byte when not rewritten. */
  readonly raw: string;
  readonly name: string;
  readonly value: string;
}

/** A query string or form body promgate will not interpret; `reason` is safe to show the client. */
export class FormError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "FormError";
  }
}

/**
 * Splits a query string (without "?") or form body into pairs, as Go does, throwing
 * {@link FormError} for a pair Go would skip or that is not UTF-8. `where` names the source
 * ("URL" or "body") in the message.
 */
export function parsePairs(text: string, where: string): FormPair[] {
  const pairs: FormPair[] = [];
  if (text === "") return pairs;
  for (const raw of text.split("&")) {
    if (raw === "") continue;
    if (raw.includes(";")) {
      throw new FormError(`the ${where} has a parameter with ";", which Prometheus ignores`);
    }
    const eq = raw.indexOf("=");
    const name = unescape(eq < 0 ? raw : raw.slice(0, eq), where);
    const value = eq < 0 ? "" : unescape(raw.slice(eq + 1), where);
    pairs.push({ raw, name, value });
  }
  return pairs;
}

/**
 * Go's QueryUnescape: "+" is a space, "%XX" a byte; the bytes must be UTF-8. decodeURIComponent
 * decodes exactly that and throws on a malformed escape or bytes that are not UTF-8.
 */
function unescape(text: string, where: string): string {
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw new FormError(`the ${where} has a malformed percent-escape or bytes that are not UTF-8`);
  }
}

/** A pair written as Go's `url.Values.Encode` would write it. */
export function encodePair(name: string, value: string): string {
  return `${encodeComponent(name)}=${encodeComponent(value)}`;
}

/** Percent-encodes all but unreserved characters; Go's parser reads the result back exactly. */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16));
}

/**
 * The pairs joined back, each pair named `name` replaced by `rewrite(value)`; the others as they
 * arrived. Returns null when no pair was named `name` (the text is then unchanged).
 */
export function rewritePairs(
  pairs: readonly FormPair[],
  name: string,
  rewrite: (value: string) => string,
): string | null {
  let found = false;
  const out = pairs.map((pair) => {
    if (pair.name !== name) return pair.raw;
    found = true;
    return encodePair(name, rewrite(pair.value));
  });
  return found ? out.join("&") : null;
}
