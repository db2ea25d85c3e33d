/**
 * Making new password hashes in the formats Apache's `htpasswd` writes (for
 * `promgate hash-password`): bcrypt `$2y$` (`-B`), apr1 (`-m`) and SHA-512-crypt `$6$` (`-5`).
 */
import { randomBytes } from "node:crypto";
import { hashSync } from "bcrypt-ts";
import { CRYPT_ALPHABET, md5Crypt } from "./md5_crypt.ts";
import { SHA_ROUNDS_RANGE, shaCrypt } from "./sha_crypt.ts";

/** The schemes `hash-password --algorithm` offers. */
export const HASH_ALGORITHMS = ["bcrypt", "apr1", "sha512"] as const;
export type HashAlgorithm = typeof HASH_ALGORITHMS[number];

/** bcrypt's cost when none is given: htpasswd's default is 5, too cheap for today's hardware. */
export const DEFAULT_BCRYPT_COST = 10;
/** bcrypt costs htpasswd accepts (`-C`). */
export const BCRYPT_COST_RANGE = [4, 17] as const;
export { SHA_ROUNDS_RANGE };

/** `length` random characters of crypt(3)'s salt alphabet (64 characters: no modulo bias). */
function cryptSalt(length: number): string {
  return Array.from(randomBytes(length), (b) => CRYPT_ALPHABET[b & 63]).join("");
}

/**
 * Hashes `password` (UTF-8) with `algorithm`. `cost` is bcrypt's cost or SHA-crypt's rounds; apr1
 * has none. Throws RangeError for a cost out of range (the message says the range).
 */
export function hashPassword(password: string, algorithm: HashAlgorithm, cost?: number): string {
  switch (algorithm) {
    case "bcrypt": {
      const c = cost ?? DEFAULT_BCRYPT_COST;
      checkRange("bcrypt cost", c, BCRYPT_COST_RANGE);
      // bcrypt-ts writes `$2b$`; htpasswd writes `$2y$`, which every htpasswd reader accepts.
      // The revisions differ only in bugs of old C implementations (see bcrypt.ts).
      const salt = `$2b$${String(c).padStart(2, "0")}$${cryptSalt(22)}`;
      return "$2y$" + hashSync(password, salt).slice(4);
    }
    case "apr1":
      if (cost !== undefined) throw new RangeError("apr1 has no cost; leave out --cost");
      return md5Crypt(password, `$apr1$${cryptSalt(8)}`);
    case "sha512": {
      if (cost !== undefined) checkRange("SHA-512-crypt rounds", cost, SHA_ROUNDS_RANGE);
      const rounds = cost === undefined ? "" : `rounds=${cost}$`;
      return shaCrypt(password, `$6$${rounds}${cryptSalt(16)}`);
    }
  }
}

function checkRange(what: string, value: number, [min, max]: readonly [number, number]): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
