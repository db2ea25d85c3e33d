/**
 * The `Authorization: Bearer …` credential, before any check: reading it, which check it goes
 * to (an API token, lib/auth/tokens.ts, or a JWT, lib/auth/jwt.ts), the challenge a refusal
 * carries, and the names refused credentials count under in the throttle. Every request with
 * authentication needs these; the JWT check itself is loaded only by a config that has one.
 */

/**
 * The name failed tokens are counted as in the throttle. It holds a ":", which no htpasswd user
 * name and no token name can, so it never shares a count with a real user.
 */
export const UNKNOWN_TOKEN_USER = "token:unknown";

/**
 * The name refused JWTs are counted as in the throttle; like {@link UNKNOWN_TOKEN_USER}, never
 * a real user's name.
 */
export const INVALID_JWT_USER = "jwt:invalid";

const BEARER = /^bearer[ ]+([^ ]+)[ ]*$/i;
/** Longest JWT considered (provider tokens with many groups run to a few KiB). */
const MAX_JWT_LENGTH = 16 * 1024;
/** Three base64url parts: what a signed JWT (JWS compact serialization) looks like. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * The credential of an `Authorization: Bearer …` header ("" when malformed), or null when the
 * request has no such header. Shared by API tokens and JWTs.
 */
export function bearerCredential(headers: Headers): string | null {
  const authorization = headers.get("authorization");
  if (authorization === null || !/^bearer(?: |$)/i.test(authorization)) return null;
  return BEARER.exec(authorization)?.[1] ?? "";
}

/**
 * The value of the `WWW-Authenticate` challenge for bearer tokens (RFC 6750), sent beside the
 * Basic one; `invalid` adds `error="invalid_token"` when a token was presented and refused.
 */
export function bearerChallenge(realm: string, invalid: boolean): string {
  return `Bearer realm="${realm}"${invalid ? ', error="invalid_token"' : ""}`;
}

/**
 * Whether a Bearer credential looks like a JWT (three base64url parts separated by "."), and so
 * goes to the JWT check when auth.jwt is set. API tokens (`pg_` + base64url) never have a ".".
 */
export function looksLikeJwt(credential: string): boolean {
  return credential.length <= MAX_JWT_LENGTH && JWT_SHAPE.test(credential);
}
