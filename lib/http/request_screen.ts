/**
 * The checks every request passes first, before authentication: methods never forwarded (405)
 * and oversized headers (431). Their answers are the same for every path, so they tell an
 * anonymous client nothing about the routes, and they cost no password check. Also here: the
 * one snapshot of the request's headers, without the credentials no upstream may receive.
 */
import { SESSION_COOKIE } from "../auth/mod.ts";
import { withoutCookie, withoutHeader } from "./headers.ts";
import { plain } from "./responses.ts";
import type { HandlerState, Outcome } from "./handler_state.ts";

/**
 * Most bytes of request headers accepted (names, values and ": " + CRLF per field), as nginx's
 * default `large_client_header_buffers 4 8k` allows about 32 KiB. Larger ones get 431 before any
 * password is checked. (Deno's server itself refuses ~100 KiB or over 100 fields with 400; Bun
 * refuses over 16 KiB with 431.)
 */
export const MAX_HEADER_BYTES = 32 * 1024;

/**
 * Methods never forwarded: TRACE (and IIS's TRACK) echo the request back, credentials and
 * cookies included (cross-site tracing), and CONNECT asks for a tunnel, which promgate is not.
 * nginx answers TRACE with 405; Bun's server hands CONNECT to the handler like any method.
 */
const REFUSED_METHODS = new Set(["TRACE", "TRACK", "CONNECT"]);

/** The Allow header of that 405: the methods promgate forwards. */
const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/** A request past the first checks, with the headers an upstream may receive; or the refusal. */
export type Screened =
  | { readonly ok: true; readonly headerEntries: [string, string][] }
  | { readonly ok: false; readonly outcome: Outcome };

/**
 * Refuses TRACE, TRACK and CONNECT (405) and headers over {@link MAX_HEADER_BYTES} (431), and
 * takes the one snapshot of the headers that serves the size check and the upstream request.
 */
export function screen(req: Request, state: HandlerState): Screened {
  // Before authentication, as nginx does for TRACE.
  if (REFUSED_METHODS.has(req.method.toUpperCase())) {
    const headers = { allow: ALLOWED_METHODS };
    const refused = plain(405, "405 Method Not Allowed\n", headers);
    return { ok: false, outcome: { ...refused, user: null, route: null } };
  }
  let headerEntries = [...req.headers];
  if (headerBytes(headerEntries) > MAX_HEADER_BYTES) {
    const refused = plain(431, "431 Request Header Fields Too Large\n");
    return { ok: false, outcome: { ...refused, user: null, route: null } };
  }
  // A token never reaches an upstream, under its header's name or a look-alike of it.
  const tokenHeader = state.tokens?.header;
  if (tokenHeader) headerEntries = withoutHeader(headerEntries, tokenHeader);
  // Nor does a session cookie (the other cookies pass).
  if (state.oidc) headerEntries = withoutCookie(headerEntries, SESSION_COOKIE);
  return { ok: true, headerEntries };
}

function headerBytes(entries: readonly [string, string][]): number {
  let n = 0;
  for (const [name, value] of entries) n += name.length + value.length + 4;
  return n;
}
