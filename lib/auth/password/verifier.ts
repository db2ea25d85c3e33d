/**
 * Password hashes as Apache's `htpasswd` writes them: recognising a hash's scheme
 * ({@link parseHash}) and checking a password against it ({@link createVerifier}).
 *
 * Supported: bcrypt (`htpasswd -B`, recommended), SHA-crypt (`-2`, `-5`), APR1 (`-m`, the
 * default), `$1$` MD5-crypt (`openssl passwd -1`) and `{SHA}` (`-s`). Not supported, because
 * they are unsafe or need native code: DES crypt (`-d`), plain text (`-p`), Argon2, yescrypt.
 */
import { isBcrypt } from "./bcrypt.ts";
import { VerifyPool } from "./verify_pool.ts";
import { isMd5Crypt } from "./md5_crypt.ts";
import { isShaCrypt } from "./sha_crypt.ts";
import { isSha1, verifySha1 } from "./sha1.ts";
import { verifySlowHash } from "./slow_hash.ts";

/** The hash schemes promgate can verify. */
export type HashScheme =
  | "bcrypt"
  | "apr1"
  | "md5-crypt"
  | "sha256-crypt"
  | "sha512-crypt"
  | "sha1";

/** A password hash whose scheme is known and whose format was checked. */
export interface PasswordHash {
  readonly scheme: HashScheme;
  /** The hash exactly as stored (secret-ish: never log it). */
  readonly encoded: string;
}

/**
 * Thrown by {@link parseHash} for a hash promgate cannot use. `looksLike` describes the hash
 * without quoting it (e.g. "DES crypt, which is unsafe and unsupported") so callers can build
 * a message with the real file and user names.
 */
export class UnsupportedHashError extends Error {
  constructor(readonly looksLike: string) {
    super(`the password hash is ${looksLike}; recreate it with \`htpasswd -B FILE USER\``);
    this.name = "UnsupportedHashError";
  }
}

const RECOGNISERS: ReadonlyArray<readonly [HashScheme, (encoded: string) => boolean]> = [
  ["bcrypt", isBcrypt],
  ["apr1", (e) => e.startsWith("$apr1$") && isMd5Crypt(e)],
  ["md5-crypt", (e) => e.startsWith("$1$") && isMd5Crypt(e)],
  ["sha256-crypt", (e) => e.startsWith("$5$") && isShaCrypt(e)],
  ["sha512-crypt", (e) => e.startsWith("$6$") && isShaCrypt(e)],
  ["sha1", isSha1],
];

/**
 * Recognises the scheme of a stored hash and checks its format.
 * @throws UnsupportedHashError (an Error) saying what the hash looks like (never the hash
 *   itself) and to recreate it with `htpasswd -B`.
 */
export function parseHash(encoded: string): PasswordHash {
  for (const [scheme, recognise] of RECOGNISERS) {
    if (recognise(encoded)) return { scheme, encoded };
  }
  throw new UnsupportedHashError(describeUnsupported(encoded));
}

/** Known `$id$` prefixes of crypt(3) schemes promgate does not implement. */
const OTHER_CRYPT_IDS: Readonly<Record<string, string>> = {
  "2x": "bcrypt with the `$2x$` marker of a pre-2011 buggy implementation",
  "2": "bcrypt with the obsolete `$2$` marker",
  "y": "yescrypt (`$y$`)",
  "gy": "gost-yescrypt (`$gy$`)",
  "7": "scrypt (`$7$`)",
  "3": "an NT hash (`$3$`)",
  "md5": "Sun MD5 crypt (`$md5$`)",
  "sha1": "NetBSD SHA-1 crypt (`$sha1$`)",
};

/** Says what an unusable hash looks like without revealing any of it. */
function describeUnsupported(encoded: string): string {
  const unsupported = ", which promgate does not support";
  if (encoded === "") return "empty";
  if (/^\$2[aby]\$/.test(encoded)) return "a malformed bcrypt hash (it must be 60 characters)";
  if (/^\$(apr1|1)\$/.test(encoded)) return "a malformed MD5-crypt hash";
  if (/^\$[56]\$/.test(encoded)) return "a malformed SHA-crypt hash";
  if (encoded.startsWith("{SHA}")) return "a malformed {SHA} hash";
  if (encoded.startsWith("{SSHA}")) return `salted SHA-1 ({SSHA})${unsupported}`;
  if (/^\$argon2(id|i|d)\$/.test(encoded)) return `Argon2${unsupported}`;
  if (/^\$pbkdf2/.test(encoded)) return `PBKDF2${unsupported}`;
  const id = /^\$([a-z0-9-]+)\$/.exec(encoded)?.[1];
  if (id !== undefined) {
    return `${OTHER_CRYPT_IDS[id] ?? `an unknown crypt scheme (\`$${id}$\`)`}${unsupported}`;
  }
  if (/^[./0-9A-Za-z]{13}$/.test(encoded)) {
    return "DES crypt (as `htpasswd -d` makes), which is unsafe and unsupported";
  }
  if (/^_[./0-9A-Za-z]{19}$/.test(encoded)) {
    return "BSDi extended DES crypt, which is unsafe and unsupported";
  }
  return "plain text (as `htpasswd -p` makes) or an unknown format, which is unsafe and unsupported";
}

/** Checks passwords against hashes; hold one per process and close it on shutdown. */
export interface PasswordVerifier {
  /**
   * True iff `password` (a JS string; its UTF-8 bytes are what is hashed) matches `hash`.
   * Never throws for a wrong or odd password. Rejects only after close() or if a worker
   * thread fails.
   */
  verify(password: string, hash: PasswordHash): Promise<boolean>;
  /** Terminates worker threads (pending verifications reject); safe to call twice. */
  close(): void;
}

/** Options for {@link createVerifier}. */
export interface VerifierOptions {
  /** The most Worker threads for slow hashes (default 1). */
  readonly bcryptWorkers?: number;
  /**
   * A native bcrypt check off the main thread (the runtime's `verifyBcrypt`, under Bun); when
   * set, bcrypt hashes go to it instead of the worker pool. It must truncate passwords to 72
   * UTF-8 bytes as bcrypt does; a rejection counts as a mismatch.
   */
  readonly verifyBcrypt?: (password: string, encoded: string) => Promise<boolean>;
  /**
   * Hash in this thread, one at a time, instead of in a Worker: for a thread that serves no
   * requests (the main thread of several server threads), where a Worker would only add an
   * isolate (~15-20 MB under Deno) and the hashing blocks nothing that serves.
   */
  readonly inline?: boolean;
}

/**
 * Creates a verifier. bcrypt, SHA-crypt and MD5-crypt run in up to `bcryptWorkers` Worker
 * threads (default 1: promgate targets small machines), started at the first such
 * verification; `{SHA}` is a single fast hash and runs inline. After close() no worker
 * keeps the process alive.
 */
export function createVerifier(options: VerifierOptions = {}): PasswordVerifier {
  const pool = options.inline ? new InlineHasher() : new VerifyPool(options.bcryptWorkers ?? 1);
  const native = options.verifyBcrypt;
  return {
    verify(password, hash) {
      if (hash.scheme === "sha1") return Promise.resolve(verifySha1Safely(password, hash.encoded));
      // Bun's password.verify answers false for an empty password even against its own hash;
      // htpasswd allows one, so that (cheap, rare) case stays with bcrypt-ts.
      if (hash.scheme === "bcrypt" && native !== undefined && password !== "") {
        return verifyNatively(native, password, hash.encoded);
      }
      return pool.verify(hash.scheme, password, hash.encoded);
    },
    close() {
      pool.close();
    },
  };
}

/**
 * Slow hashes one at a time in this thread, each in a task of its own, so that the thread's
 * other messages are handled between two hashes.
 */
class InlineHasher {
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  verify(scheme: string, password: string, encoded: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error("the password verifier is closed"));
    const result = this.#queue.then(() =>
      new Promise<boolean>((resolve, reject) =>
        setTimeout(() => {
          if (this.#closed) reject(new Error("the password verifier is closed"));
          else resolve(verifySlowHash(scheme, password, encoded));
        }, 0)
      )
    );
    this.#queue = result.catch(() => {});
    return result;
  }

  close(): void {
    this.#closed = true;
  }
}

async function verifyNatively(
  native: (password: string, encoded: string) => Promise<boolean>,
  password: string,
  encoded: string,
): Promise<boolean> {
  try {
    return await native(password, encoded);
  } catch {
    return false;
  }
}

function verifySha1Safely(password: string, encoded: string): boolean {
  try {
    return verifySha1(password, encoded);
  } catch {
    return false;
  }
}
