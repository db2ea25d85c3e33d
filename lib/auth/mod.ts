/** Credentials: basic auth, htpasswd files, the failed-login throttle, passwords. */
export { Authenticator, newCacheSecret } from "./basic.ts";
export { loadHtpasswd } from "./htpasswd.ts";
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
