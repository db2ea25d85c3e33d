/**
 * MD5-crypt: Poul-Henning Kamp's `$1$` scheme and Apache's `$apr1$` variant, which is the
 * same algorithm with a different magic string. `htpasswd -m` (and plain `htpasswd`, whose
 * default it is) writes `$apr1$`; `openssl passwd -1` writes `$1$`.
 *
 * Also home of two helpers shared by the crypt(3) family: the crypt base64 encoding and a
 * constant-time comparison of checksums.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** The crypt(3) base64 alphabet (not RFC 4648's: it starts with `./` and digits). */
export const CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * One output group of crypt base64: up to three digest byte indexes, most significant first
 * (-1 stands for a zero byte), and how many characters to emit from them.
 */
export type CryptGroup = readonly [b2: number, b1: number, b0: number, chars: number];

/**
 * Encodes `bytes` the way crypt(3) schemes do: each group packs three bytes into 24 bits and
 * emits its characters least significant 6 bits first. Each scheme shuffles the digest bytes
 * with its own table of groups.
 */
export function cryptBase64(bytes: Uint8Array, groups: readonly CryptGroup[]): string {
  let out = "";
  for (const [b2, b1, b0, chars] of groups) {
    let w = (byteAt(bytes, b2) << 16) | (byteAt(bytes, b1) << 8) | byteAt(bytes, b0);
    for (let i = 0; i < chars; i++) {
      out += CRYPT_ALPHABET[w & 0x3f];
      w >>>= 6;
    }
  }
  return out;
}

function byteAt(bytes: Uint8Array, index: number): number {
  return index < 0 ? 0 : bytes[index];
}

const ascii = new TextEncoder();

/**
 * Compares two checksum strings in constant time (for equal lengths). Lengths are not secret:
 * every valid hash of a scheme has the same checksum length.
 */
export function checksumsEqual(computed: string, stored: string): boolean {
  const a = ascii.encode(computed);
  const b = ascii.encode(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

const MD5_GROUPS: readonly CryptGroup[] = [
  [0, 6, 12, 4],
  [1, 7, 13, 4],
  [2, 8, 14, 4],
  [3, 9, 15, 4],
  [4, 10, 5, 4],
  [-1, -1, 11, 2],
];

/** `$1$salt$checksum` or `$apr1$salt$checksum`; the salt is at most 8 characters. */
const MD5_CRYPT_RE = /^(\$1\$|\$apr1\$)([^$:\s]{0,8})\$([./0-9A-Za-z]{22})$/;

/** True if `encoded` is a well-formed `$1$` or `$apr1$` hash. */
export function isMd5Crypt(encoded: string): boolean {
  return MD5_CRYPT_RE.test(encoded);
}

const utf8 = new TextEncoder();

/**
 * Computes an MD5-crypt hash of `password` (UTF-8) for `setting`: `$1$salt` or `$apr1$salt`,
 * optionally followed by `$…` (ignored), as crypt(3) does. Returns `magic + salt + "$" + checksum`.
 */
export function md5Crypt(password: string, setting: string): string {
  const magic = setting.startsWith("$apr1$") ? "$apr1$" : setting.startsWith("$1$") ? "$1$" : "";
  if (magic === "") throw new Error("md5Crypt: setting must start with $1$ or $apr1$");
  const salt = setting.slice(magic.length).split("$", 1)[0].slice(0, 8);
  return `${magic}${salt}$${md5CryptChecksum(utf8.encode(password), magic, utf8.encode(salt))}`;
}

/** True iff `password` matches the `$1$`/`$apr1$` hash `encoded`; false for malformed hashes. */
export function verifyMd5Crypt(password: string, encoded: string): boolean {
  const m = MD5_CRYPT_RE.exec(encoded);
  if (!m) return false;
  const [, magic, salt, stored] = m;
  return checksumsEqual(md5CryptChecksum(utf8.encode(password), magic, utf8.encode(salt)), stored);
}

function md5(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The algorithm of FreeBSD's crypt-md5.c (PHK), step by step. */
function md5CryptChecksum(pw: Uint8Array, magic: string, salt: Uint8Array): string {
  const alt = md5(pw, salt, pw);
  const h = createHash("md5").update(pw).update(utf8.encode(magic)).update(salt);
  for (let left = pw.length; left > 0; left -= 16) h.update(alt.subarray(0, Math.min(16, left)));
  // A historical quirk kept for compatibility: a NUL byte for set bits, pw[0] for clear ones.
  for (let i = pw.length; i > 0; i >>= 1) h.update(i & 1 ? new Uint8Array(1) : pw.subarray(0, 1));
  let final: Uint8Array = h.digest();

  // 1000 rounds, meant to slow brute force down (it no longer does much).
  for (let i = 0; i < 1000; i++) {
    const r = createHash("md5");
    r.update(i & 1 ? pw : final);
    if (i % 3) r.update(salt);
    if (i % 7) r.update(pw);
    r.update(i & 1 ? final : pw);
    final = r.digest();
  }
  return cryptBase64(final, MD5_GROUPS);
}
