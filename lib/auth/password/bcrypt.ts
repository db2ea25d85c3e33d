/**
 * bcrypt (`$2a$`, `$2b$`, `$2y$`; `htpasswd -B` writes `$2y$`) via the pure-JS bcrypt-ts. It is
 * slow by design, so it runs in the worker pool of verify_pool.ts.
 */
import { hashSync } from "bcrypt-ts";
import { checksumsEqual } from "./md5_crypt.ts";

/**
 * `$2a$`/`$2b$`/`$2y$`, a two-digit cost 04..31, then 22 characters of salt and 31 of checksum.
 * bcrypt-ts accepts all three revisions (and echoes the revision back in its result), so `$2y$`
 * needs no rewriting; they differ only in bugs of old C implementations that JS never had.
 */
const BCRYPT_RE = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** True if `encoded` is a well-formed bcrypt hash that bcrypt-ts can verify. */
export function isBcrypt(encoded: string): boolean {
  return BCRYPT_RE.test(encoded);
}

/**
 * True iff `password` matches the bcrypt hash `encoded`; false for malformed hashes.
 * Synchronous and slow (by design of bcrypt): call it in a worker, not on the main thread.
 * Like every bcrypt, only the first 72 UTF-8 bytes of the password count.
 */
export function verifyBcrypt(password: string, encoded: string): boolean {
  if (!isBcrypt(encoded)) return false;
  // The first 29 characters are "$2y$NN$" + salt. Compare only the checksum: bcrypt-ts
  // re-encodes the salt, whose last character carries 2 unused bits a foreign tool may set.
  const computed = hashSync(password, encoded.slice(0, 29));
  return checksumsEqual(computed.slice(29), encoded.slice(29));
}
