/**
 * Credentials: basic auth, htpasswd files, API tokens, JWT bearer tokens, single sign-on
 * sessions, the failed-login throttle, passwords.
 */
export { Authenticator, newCacheSecret } from "./basic.ts";
export { loadHtpasswd } from "./htpasswd.ts";
export {
  bearerChallenge,
  bearerCredential,
  INVALID_JWT_USER,
  looksLikeJwt,
  UNKNOWN_TOKEN_USER,
} from "./bearer.ts";
export type { JwtAuthenticator, JwtResult } from "./jwt.ts";
export { safeReturnPath, wantsLoginRedirect } from "./login_redirect.ts";
export type { OidcAnswer, OidcAuthenticator } from "./oidc.ts";
export { loadJwtAuthenticator, loadOidcAuthenticator } from "./providers.ts";
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
  loadTokens,
  newToken,
  TOKEN_PREFIX,
  TokenAuthenticator,
  tokenLine,
  tokenNameProblem,
} from "./tokens.ts";
export type { TokenResult, Tokens } from "./tokens.ts";
