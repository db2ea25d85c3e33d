/**
 * Apache's `{SHA}` scheme: base64(SHA-1(password)), unsalted. `htpasswd -s` writes it. It is
 * weak (one fast unsalted hash) and only supported so existing files keep working.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** `{SHA}` followed by the standard base64 of a 20-byte digest. */
const SHA1_RE = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;

/** True if `encoded` is a well-formed `{SHA}` hash. */
export function isSha1(encoded: string): boolean {
  return SHA1_RE.test(encoded);
}

/** True iff `password` (UTF-8) matches the `{SHA}` hash `encoded`; false for malformed hashes. */
export function verifySha1(password: string, encoded: string): boolean {
  if (!isSha1(encoded)) return false;
  const stored = base64Decode(encoded.slice("{SHA}".length));
  const computed = createHash("sha1").update(new TextEncoder().encode(password)).digest();
  return stored.length === computed.length && timingSafeEqual(stored, computed);
}

function base64Decode(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}
