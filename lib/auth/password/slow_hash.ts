/**
 * The iterated password schemes (bcrypt, SHA-crypt, MD5-crypt): milliseconds each, so they run
 * in the pool's Worker (verify_worker.ts), or inline in a thread that serves no requests.
 */
import { verifyBcrypt } from "./bcrypt.ts";
import { verifyMd5Crypt } from "./md5_crypt.ts";
import { verifyShaCrypt } from "./sha_crypt.ts";

const VERIFIERS: Readonly<Record<string, (password: string, encoded: string) => boolean>> = {
  "bcrypt": verifyBcrypt,
  "apr1": verifyMd5Crypt,
  "md5-crypt": verifyMd5Crypt,
  "sha256-crypt": verifyShaCrypt,
  "sha512-crypt": verifyShaCrypt,
};

/**
 * True iff `password` matches `encoded` under `scheme`; false for an unknown scheme or any odd
 * input (never throws, and never says why: that could reveal a hash).
 */
export function verifySlowHash(scheme: string, password: string, encoded: string): boolean {
  const verifier = Object.hasOwn(VERIFIERS, scheme) ? VERIFIERS[scheme] : undefined;
  try {
    return verifier !== undefined && verifier(password, encoded);
  } catch {
    return false;
  }
}
