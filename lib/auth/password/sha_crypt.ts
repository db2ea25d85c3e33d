/**
 * SHA-crypt: `$5$` (SHA-256) and `$6$` (SHA-512), as specified by Ulrich Drepper
 * ("Unix crypt using SHA-256 and SHA-512", https://www.akkadia.org/drepper/SHA-crypt.txt).
 * `htpasswd -2` / `htpasswd -5` write these, with `rounds=N$` when given `-r N`.
 */
import { createHash } from "node:crypto";
import { checksumsEqual, cryptBase64, type CryptGroup } from "./md5_crypt.ts";

const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
/** SHA-crypt rounds crypt(3) accepts (`htpasswd -5 -r`); without --cost the default, 5000. */
export const SHA_ROUNDS_RANGE = [ROUNDS_MIN, ROUNDS_MAX] as const;
const SALT_MAX = 16;

interface Variant {
  readonly algorithm: "sha256" | "sha512";
  readonly size: number;
  readonly groups: readonly CryptGroup[];
}

// The byte shuffles of the spec's final step, copied from its reference implementation.
const SHA256: Variant = {
  algorithm: "sha256",
  size: 32,
  groups: [
    [0, 10, 20, 4],
    [21, 1, 11, 4],
    [12, 22, 2, 4],
    [3, 13, 23, 4],
    [24, 4, 14, 4],
    [15, 25, 5, 4],
    [6, 16, 26, 4],
    [27, 7, 17, 4],
    [18, 28, 8, 4],
    [9, 19, 29, 4],
    [-1, 31, 30, 3],
  ],
};

const SHA512: Variant = {
  algorithm: "sha512",
  size: 64,
  groups: [
    [0, 21, 42, 4],
    [22, 43, 1, 4],
    [44, 2, 23, 4],
    [3, 24, 45, 4],
    [25, 46, 4, 4],
    [47, 5, 26, 4],
    [6, 27, 48, 4],
    [28, 49, 7, 4],
    [50, 8, 29, 4],
    [9, 30, 51, 4],
    [31, 52, 10, 4],
    [53, 11, 32, 4],
    [12, 33, 54, 4],
    [34, 55, 13, 4],
    [56, 14, 35, 4],
    [15, 36, 57, 4],
    [37, 58, 16, 4],
    [59, 17, 38, 4],
    [18, 39, 60, 4],
    [40, 61, 19, 4],
    [62, 20, 41, 4],
    [-1, -1, 63, 2],
  ],
};

const VARIANTS: Readonly<Record<string, Variant>> = { "5": SHA256, "6": SHA512 };

/**
 * A complete `$5$`/`$6$` hash: optional `rounds=N$`, a salt of at most 16 printable ASCII
 * characters (no `$` or `:`), and a 43 (SHA-256) or 86 (SHA-512) character checksum.
 */
const SHA_CRYPT_RE =
  /^\$([56])\$(?:rounds=(\d{1,10})\$)?([\x21-\x23\x25-\x39\x3b-\x7e]{0,16})\$([./0-9A-Za-z]+)$/;

/** True if `encoded` is a well-formed `$5$` or `$6$` hash. */
export function isShaCrypt(encoded: string): boolean {
  const m = SHA_CRYPT_RE.exec(encoded);
  return m !== null && m[4].length === (m[1] === "5" ? 43 : 86);
}

/** The spec clamps out-of-range rounds instead of rejecting them. */
function clampRounds(rounds: number): number {
  return Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, rounds));
}

const utf8 = new TextEncoder();

/**
 * Computes a SHA-crypt hash of `password` (UTF-8) for `setting` (`$5$[rounds=N$]salt[$…]`),
 * exactly as crypt(3) does: the salt is cut to 16 characters, rounds are clamped to
 * 1000..999999999, and `rounds=N$` appears in the result iff the setting had it.
 */
export function shaCrypt(password: string, setting: string): string {
  const m = /^\$([56])\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new Error("shaCrypt: setting must start with $5$ or $6$");
  const [, id, roundsText, rawSalt] = m;
  const rounds = roundsText === undefined ? ROUNDS_DEFAULT : clampRounds(Number(roundsText));
  const salt = rawSalt.slice(0, SALT_MAX);
  const checksum = shaCryptChecksum(VARIANTS[id], utf8.encode(password), utf8.encode(salt), rounds);
  const roundsPart = roundsText === undefined ? "" : `rounds=${rounds}$`;
  return `$${id}$${roundsPart}${salt}$${checksum}`;
}

/** True iff `password` matches the `$5$`/`$6$` hash `encoded`; false for malformed hashes. */
export function verifyShaCrypt(password: string, encoded: string): boolean {
  if (!isShaCrypt(encoded)) return false;
  const [, id, roundsText, salt, stored] = SHA_CRYPT_RE.exec(encoded)!;
  const rounds = roundsText === undefined ? ROUNDS_DEFAULT : clampRounds(Number(roundsText));
  const computed = shaCryptChecksum(VARIANTS[id], utf8.encode(password), utf8.encode(salt), rounds);
  return checksumsEqual(computed, stored);
}

/** `length` bytes of `digest` repeated (the spec's "P" and "S" byte sequences). */
function repeatTo(digest: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += digest.length) out.set(digest.subarray(0, length - i), i);
  return out;
}

/** The spec's steps 1–22; the comments name its step numbers. */
function shaCryptChecksum(v: Variant, pw: Uint8Array, salt: Uint8Array, rounds: number): string {
  const hash = () => createHash(v.algorithm);
  // Steps 4–8: digest B = H(password salt password).
  const b: Uint8Array = hash().update(pw).update(salt).update(pw).digest();
  // Steps 1–3, 9–12: digest A.
  const a = hash().update(pw).update(salt).update(repeatTo(b, pw.length));
  for (let n = pw.length; n > 0; n >>= 1) a.update(n & 1 ? b : pw);
  const digestA: Uint8Array = a.digest();
  // Steps 13–16: P = H(password repeated |password| times), stretched to |password| bytes.
  const dp = hash();
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const p = repeatTo(dp.digest(), pw.length);
  // Steps 17–20: S = H(salt repeated 16 + A[0] times), stretched to |salt| bytes.
  const ds = hash();
  for (let i = 0; i < 16 + digestA[0]; i++) ds.update(salt);
  const s = repeatTo(ds.digest(), salt.length);
  // Step 21: the rounds that make brute force slow.
  let c = digestA;
  for (let i = 0; i < rounds; i++) {
    const r = hash();
    r.update(i & 1 ? p : c);
    if (i % 3) r.update(s);
    if (i % 7) r.update(p);
    r.update(i & 1 ? c : p);
    c = r.digest();
  }
  // Step 22: the shuffled base64 encoding.
  return cryptBase64(c, v.groups);
}
