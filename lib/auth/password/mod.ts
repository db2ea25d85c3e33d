/** Password hashes: parsing, verifying (off the main thread), making. */
export {
  BCRYPT_COST_RANGE,
  DEFAULT_BCRYPT_COST,
  HASH_ALGORITHMS,
  hashPassword,
} from "./make_hash.ts";
export type { HashAlgorithm } from "./make_hash.ts";
export { createVerifier, parseHash, UnsupportedHashError } from "./verifier.ts";
export type { PasswordHash, PasswordVerifier } from "./verifier.ts";
