/**
 * HTTP basic authentication against htpasswd users.
 *
 * Verified credentials are cached so a slow hash (bcrypt) is paid once per credential rather than
 * per request. The cache key is a SHA-256 (not an HMAC) over a per-process random secret and the
 * length-prefixed user and password, so neither can be recovered from a memory dump of the key
 * and no two distinct credentials can collide (the CVE-2022-46146 class of cache-key confusion).
 * An entry stays valid only while the user's hash is the one it was verified against, so an
 * htpasswd change revokes it.
 *
 * Two levels: this thread's own cache, consulted first and at no extra cost; then, on a miss, the
 * shared store's set of verified credentials (lib/state/), where every server thread sharing the
 * store and the secret adds what it verified, so a login costs one hash, not one per thread. A
 * store member is an HMAC-SHA-256, keyed by the secret, of the cache key and the hash it was
 * verified against: nothing in the store reveals a password or a hash, helps to guess one, or
 * can be forged into another member without the secret.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { Users } from "./htpasswd.ts";
import type { PasswordHash, PasswordVerifier } from "./password/mod.ts";
import { LocalStore, type Store } from "../state/mod.ts";

/** Why a request was not authenticated; used in logs and metrics, never sent to the client. */
export type AuthFailure = "missing" | "malformed" | "unknown_user" | "wrong_password" | "throttled";

/** The outcome of checking an Authorization header. */
export type AuthResult =
  | { readonly ok: true; readonly user: string; readonly cached: boolean }
  | {
    readonly ok: false;
    readonly reason: AuthFailure;
    readonly user: string | null;
    /** For "throttled": seconds until the next attempt may be checked. */
    readonly retryAfter?: number;
  };

/**
 * Consulted before a password is checked (never for a credential already verified): resolves the
 * seconds the caller must wait first, or 0 (throttle.ts's `Throttle.retryAfter` for one client).
 */
export type AttemptGuard = (user: string) => Promise<number>;

/** Longest Authorization header considered; longer ones are malformed, not hashed. */
const MAX_HEADER_LENGTH = 4096;
/** Bound on cached credentials, so a flood of distinct valid logins cannot grow memory. */
const DEFAULT_CACHE_SIZE = 10_000;
/** The store's set of verified credentials. */
const VERIFIED_SET = "auth.verified";
/**
 * How long the store keeps a verified credential after it was last verified. A thread that has
 * not cached it by then verifies it again: one hash.
 */
const VERIFIED_TTL_MS = 86_400_000;

/** Splits a Basic Authorization header into user and password, or null when malformed. */
export function parseBasicAuth(header: string): { user: string; password: string } | null {
  if (header.length > MAX_HEADER_LENGTH) return null;
  const match = /^basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!match) return null;
  let binary: string;
  try {
    binary = atob(match[1]);
  } catch {
    return null;
  }
  // Nearly every credential is ASCII, whose bytes are already its characters.
  const decoded = NON_ASCII.test(binary) ? decodeUtf8(binary) : binary;
  if (decoded === null) return null;
  const colon = decoded.indexOf(":");
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** atob gives characters 0-255; any from 128 up means the credential is not ASCII. */
const NON_ASCII = /[\x80-\xff]/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The UTF-8 text whose bytes are `binary`'s character codes, or null when it is not UTF-8. */
function decodeUtf8(binary: string): string | null {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** A random secret for the credential cache's keys. */
export function newCacheSecret(): string {
  return randomBytes(32).toString("hex");
}

/** Checks credentials against the current users, with a cache of verified ones. */
export class Authenticator {
  #users: Users;
  readonly #verifier: PasswordVerifier;
  readonly #secret: string;
  readonly #store: Store;
  /** Cache key of a verified credential -> the encoded hash it was verified against. */
  readonly #cache = new Map<string, string>();
  readonly #inflight = new Map<string, Promise<boolean>>();
  readonly #maxCache: number;
  #decoys: PasswordHash[];

  /**
   * @param maxCache most credentials cached, here and in the store's set
   * @param cacheSecret the secret of the cache keys; every user of `store` has the same one
   *   (lib/service/threads/ hands it to its threads). Default: random.
   * @param store where verified credentials are shared; default: a store of this instance's own
   */
  constructor(
    users: Users,
    verifier: PasswordVerifier,
    maxCache = DEFAULT_CACHE_SIZE,
    cacheSecret: string = newCacheSecret(),
    store: Store = new LocalStore(),
  ) {
    this.#secret = cacheSecret;
    this.#store = store;
    this.#users = users;
    this.#verifier = verifier;
    this.#maxCache = maxCache;
    this.#decoys = [...users.values()];
  }

  /** Replaces the users (after an htpasswd reload); cached logins of changed users stop working. */
  setUsers(users: Users): void {
    this.#users = users;
    this.#decoys = [...users.values()];
    const current = new Set(this.#decoys.map((h) => h.encoded));
    for (const [key, encoded] of this.#cache) {
      if (!current.has(encoded)) this.#cache.delete(key);
    }
  }

  /**
   * Checks an Authorization header value (null when absent). `guard`, when given, may refuse a
   * password check ("throttled") but is never asked about a credential already verified.
   */
  async check(header: string | null, guard?: AttemptGuard): Promise<AuthResult> {
    if (header === null) return { ok: false, reason: "missing", user: null };
    const credentials = parseBasicAuth(header);
    if (!credentials) return { ok: false, reason: "malformed", user: null };
    const { user, password } = credentials;
    const hash = this.#users.get(user);
    const key = this.#keyFor(user, password);
    if (hash && this.#cache.get(key) === hash.encoded) return { ok: true, user, cached: true };
    // An unknown user is looked up too (against its decoy, never found), so that it takes as
    // long as a real one.
    const checked = hash ?? this.#decoy(user);
    if (await this.#verifiedElsewhere(user, key, checked) && hash) {
      return { ok: true, user, cached: true };
    }
    const wait = (await guard?.(user)) ?? 0;
    if (wait > 0) return { ok: false, reason: "throttled", user, retryAfter: wait };
    if (!hash) {
      await this.#verifyOnce(key, password, checked);
      return { ok: false, reason: "unknown_user", user };
    }
    if (!(await this.#verifyOnce(key, password, hash))) {
      return { ok: false, reason: "wrong_password", user };
    }
    if (this.#users.get(user) === hash) {
      this.#remember(key, hash.encoded);
      const options = { limit: this.#maxCache };
      // Awaited, so that a next request on another thread finds it; a store that fails costs
      // that thread one more hash, never this login.
      await this.#store.add(VERIFIED_SET, this.#memberFor(key, hash), VERIFIED_TTL_MS, options)
        .catch(() => {});
    }
    return { ok: true, user, cached: false };
  }

  /**
   * The cache key: SHA-256 (not an HMAC) over a secret of fixed length, then the user (length
   * prefixed, so no two credentials share an input) and the password. The key never leaves the
   * thread, so the length extension an HMAC guards against does not apply; measured on Deno
   * 2.9.6, node:crypto's createHmac costs 14 µs per request and this 4.5 µs. What leaves the
   * thread, the store member, is an HMAC (computed on a miss only).
   */
  #keyFor(user: string, password: string): string {
    return createHash("sha256")
      .update(`${this.#secret}${user.length}:${user}:${password}`)
      .digest("base64");
  }

  /** The store's member for a credential (cache `key`) verified against `hash`. */
  #memberFor(key: string, hash: PasswordHash): string {
    return createHmac("sha256", this.#secret).update(`${key}:${hash.encoded}`).digest("base64");
  }

  /**
   * Whether another user of the store (another server thread) verified this credential against
   * `user`'s current `hash`; if so it is cached here too. A store that fails counts as a miss.
   */
  async #verifiedElsewhere(user: string, key: string, hash: PasswordHash): Promise<boolean> {
    const found = await this.#store.has(VERIFIED_SET, this.#memberFor(key, hash))
      .catch(() => false);
    if (found && this.#users.get(user) === hash) this.#remember(key, hash.encoded);
    return found;
  }

  /** Concurrent requests with the same new credential share one slow verification. */
  #verifyOnce(key: string, password: string, hash: PasswordHash): Promise<boolean> {
    const id = key + "\0" + hash.encoded;
    let pending = this.#inflight.get(id);
    if (!pending) {
      pending = this.#verifier.verify(password, hash)
        .finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, pending);
    }
    return pending;
  }

  /**
   * The hash an unknown `user` is checked against, so it costs what a wrong password costs.
   * Chosen by a keyed hash of the name among the file's hashes, in file order: one name always
   * gets the same hash (also on every server thread, which share the secret, and after a reload
   * of an unchanged file), so it answers at one speed like a real user. A random pick gave
   * unknown names a mix of fast and slow answers when the file mixes hash types.
   */
  #decoy(user: string): PasswordHash {
    const digest = createHash("sha256").update(`${this.#secret}decoy:${user}`).digest();
    return this.#decoys[digest.readUIntBE(0, 6) % this.#decoys.length];
  }

  /**
   * Caches a credential verified against the hash `encoded` (here, or by another user of the
   * store). It admits logins only while that is the user's hash.
   */
  #remember(key: string, encoded: string): void {
    if (this.#cache.size >= this.#maxCache) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(key, encoded);
  }
}
