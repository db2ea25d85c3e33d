/**
 * Credentials: basic auth, htpasswd files, API tokens, JWT bearer tokens, single sign-on
 * sessions, the failed-login throttle, passwords.
 */
export { Authenticator, newCacheSecret } from "./basic.ts";
export { loadHtpasswd } from "./htpasswd.ts";
export { INVALID_JWT_USER, JwtAuthenticator, looksLikeJwt } from "./jwt.ts";
export type { JwtResult } from "./jwt.ts";
export { safeReturnPath, wantsLoginRedirect } from "./login_redirect.ts";
export { OidcAuthenticator } from "./oidc.ts";
export type { OidcAnswer } from "./oidc.ts";
export { SESSION_COOKIE } from "./oidc_cookies.ts";
export type { Session } from "./oidc_cookies.ts";
export type { Users } from "./htpasswd.ts";
export {
  BCRYPT_COST_RANGE,
  createVerifier,
  DEFAULT_BCRYPT_COST,
  HASH_ALGORITHMS,
  hashPassword,
} from "./password/mod.ts";
export type { HashAlgorithm, PasswordHash, PasswordVerifier } from "./password/mod.ts";
export { Throttle } from "./throttle.ts";
export {
  bearerChallenge,
  bearerCredential,
  loadTokens,
  newToken,
  TOKEN_PREFIX,
  TokenAuthenticator,
  tokenLine,
  tokenNameProblem,
  UNKNOWN_TOKEN_USER,
} from "./tokens.ts";
export type { TokenResult, Tokens } from "./tokens.ts";
