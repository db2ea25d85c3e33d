/** Responses promgate writes itself (errors, redirects, challenges): short, plain, and sized. */

/** A response whose body is complete in memory, with its size for the access log. */
export interface PlainResponse {
  readonly response: Response;
  readonly bytes: number;
}

/** A short plain-text response; never carries internal detail such as a stack trace. */
export function plain(status: number, text: string, headers: HeadersInit = {}): PlainResponse {
  const h = new Headers(headers);
  if (!h.has("content-type")) h.set("content-type", "text/plain; charset=utf-8");
  const body = new TextEncoder().encode(text);
  return { response: new Response(body, { status, headers: h }), bytes: body.byteLength };
}

/** The 401 answer: a challenge naming the realm, with UTF-8 as the credentials' charset. */
export function challenge(realm: string): PlainResponse {
  return plain(401, "401 Unauthorized\n", {
    "www-authenticate": `Basic realm="${realm}", charset="UTF-8"`,
  });
}
