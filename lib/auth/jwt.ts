/**
 * JWT bearer tokens from an identity provider: `Authorization: Bearer <JWT>` identifies as the
 * token's user claim, with the groups of its groups claim (auth.jwt).
 *
 * Every check is jose's (npm `jose`), none hand-written: the signature against the provider's
 * published keys, `iss`, `aud`, `exp` (required), `nbf` and `iat` with a small leeway, and the
 * algorithm against an allow-list of asymmetric ones. So `alg: none` never passes, nor does a
 * token signed with HMAC using the provider's public key as the secret (algorithm confusion):
 * HMAC is not on the list, and keys are taken from the provider's JWK Set, never from the token.
 *
 * Keys come from OIDC discovery (the issuer's `/.well-known/openid-configuration` names
 * `jwks_uri`), a `jwksUrl`, or a `jwksFile`. Remote keys are jose's `createRemoteJWKSet`: cached
 * for 10 minutes, and fetched again when a token names a key id (`kid`) not in the cache, at
 * most once per `keysRefreshSeconds` — so keys the provider rotates in work without a restart,
 * and a flood of made-up key ids costs one fetch per interval. A token whose key is still
 * unknown after that is refused.
 *
 * A refused token is counted in the throttle (lib/auth/throttle.ts) like a failed password,
 * under {@link INVALID_JWT_USER} (never under the user it claims: anyone can write a claim, so
 * counting under it would let a stranger lock that user out). Nothing here logs or quotes a
 * token; the reasons given are jose's, which name the claim or check that failed, not values.
 */
import type { JWTPayload, JWTVerifyGetKey } from "jose";
import type { JwtConfig } from "../config/mod.ts";
import type { AttemptGuard } from "./basic.ts";
import { INVALID_JWT_USER, looksLikeJwt } from "./bearer.ts";

type Jose = typeof import("jose");
let jose: Promise<Jose> | null = null;

/** jose, loaded on first use: ~5 MiB in every thread that loads it, and few configs use JWTs. */
function loadJose(): Promise<Jose> {
  return jose ??= import("jose");
}

/** A user name for the access log, headers and rules: no white space or control character. */
const USER_NAME = /^[^\s\p{Cc}]+$/u;
const MAX_USER_LENGTH = 256;
/** Most group names read from one token; the rest are ignored. */
const MAX_GROUPS = 1000;
/** How long a key or discovery fetch may take. */
const FETCH_TIMEOUT_MS = 5000;
/** Remote keys are fetched again this often even when every kid is known (jose's default). */
const KEYS_MAX_AGE_MS = 10 * 60 * 1000;

/** The outcome of checking a JWT. */
export type JwtResult =
  | {
    readonly ok: true;
    readonly user: string;
    /** Group names from the token's groups claim (empty without one). */
    readonly groups: readonly string[];
    readonly cached?: undefined;
  }
  | {
    readonly ok: false;
    readonly reason: "malformed" | "invalid_jwt" | "throttled";
    /** Never the token, nor the user it claims. */
    readonly user: null;
    /** Why the token was refused, for the log (names a check or claim, never a value). */
    readonly detail: string;
    readonly retryAfter?: number;
  };

/** Checks JWT bearer tokens against one provider's keys and the auth.jwt settings. */
export class JwtAuthenticator {
  readonly #config: JwtConfig;
  /** The key lookup, once the keys' address is known (discovery runs on first use). */
  #keys: JWTVerifyGetKey | null = null;
  /** A discovery in flight, shared by the requests that wait for it. */
  #discovering: Promise<JWTVerifyGetKey> | null = null;
  /** When discovery last failed (ms); it is not tried again before keysRefreshSeconds. */
  #failedAt = -Infinity;
  #failure = "";

  constructor(config: JwtConfig) {
    this.#config = config;
  }

  /** The issuer tokens must come from (for log lines). */
  get issuer(): string {
    return this.#config.issuer;
  }

  /**
   * Checks a Bearer credential. `guard` is asked only when the token is refused (a valid token
   * is never throttled, as a verified password is not).
   */
  async check(token: string, guard?: AttemptGuard): Promise<JwtResult> {
    if (!looksLikeJwt(token)) {
      return { ok: false, reason: "malformed", user: null, detail: "not a JWT" };
    }
    const verified = await this.#verify(token);
    if (verified.ok) return verified;
    const wait = (await guard?.(INVALID_JWT_USER)) ?? 0;
    if (wait > 0) return { ...verified, reason: "throttled", retryAfter: wait };
    return verified;
  }

  async #verify(token: string): Promise<JwtResult> {
    const refuse = (detail: string): JwtResult => ({
      ok: false,
      reason: "invalid_jwt",
      user: null,
      detail,
    });
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.#keyLookup();
    } catch (error) {
      return refuse(`cannot get the provider's keys: ${message(error)}`);
    }
    const c = this.#config;
    let payload: JWTPayload;
    try {
      ({ payload } = await (await loadJose()).jwtVerify(token, keys, {
        issuer: c.issuer,
        audience: [...c.audience],
        algorithms: [...c.algorithms],
        clockTolerance: c.leewaySeconds,
        requiredClaims: ["exp"],
      }));
    } catch (error) {
      return refuse(message(error));
    }
    const user = payload[c.userClaim];
    if (typeof user !== "string" || user.length > MAX_USER_LENGTH || !USER_NAME.test(user)) {
      return refuse(
        `claim "${c.userClaim}" (auth.jwt.userClaim) is missing, or not a user name ` +
          "(a string without white space or control characters, at most 256 characters)",
      );
    }
    return { ok: true, user, groups: c.groupsClaim ? groupsIn(payload[c.groupsClaim]) : [] };
  }

  /** The key lookup: as configured, or from discovery (retried after keysRefreshSeconds). */
  #keyLookup(): Promise<JWTVerifyGetKey> {
    if (this.#keys) return Promise.resolve(this.#keys);
    const keys = this.#config.keys;
    if (keys.kind !== "discovery") return this.#configuredKeys(keys);
    if (this.#discovering) return this.#discovering;
    if (performance.now() - this.#failedAt < this.#config.keysRefreshSeconds * 1000) {
      return Promise.reject(new Error(this.#failure));
    }
    this.#discovering = this.#discover().then((keys) => {
      this.#keys = keys;
      return keys;
    }, (error) => {
      this.#failedAt = performance.now();
      this.#failure = message(error);
      throw error;
    }).finally(() => {
      this.#discovering = null;
    });
    return this.#discovering;
  }

  /** OIDC discovery: the issuer's metadata must name this issuer and a usable `jwks_uri`. */
  async #discover(): Promise<JWTVerifyGetKey> {
    const issuer = this.#config.issuer;
    const address = issuer.replace(/\/$/, "") + "/.well-known/openid-configuration";
    const response = await fetch(address, {
      headers: { accept: "application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`discovery at ${address} answered ${response.status}`);
    }
    const metadata = await response.json() as { issuer?: unknown; jwks_uri?: unknown };
    if (metadata.issuer !== issuer) {
      throw new Error(
        `discovery at ${address} names issuer ${JSON.stringify(metadata.issuer)}, not ` +
          `${JSON.stringify(issuer)}; set auth.jwt.issuer to the provider's issuer exactly`,
      );
    }
    const jwksUri = metadata.jwks_uri;
    if (typeof jwksUri !== "string" || !isSafeKeysUrl(jwksUri)) {
      throw new Error(`discovery at ${address} names no https jwks_uri`);
    }
    return this.#remote(jwksUri);
  }

  /** The keys of a jwksFile (checked at load, lib/config/load.ts) or a jwksUrl. */
  async #configuredKeys(keys: Exclude<JwtConfig["keys"], { kind: "discovery" }>) {
    const { createLocalJWKSet } = await loadJose();
    if (keys.kind === "url") return this.#keys ??= await this.#remote(keys.url);
    // deno-lint-ignore no-explicit-any -- the JWK Set was checked at load (lib/config/load.ts)
    return this.#keys ??= createLocalJWKSet(keys.jwks as any);
  }

  async #remote(url: string): Promise<JWTVerifyGetKey> {
    const { createRemoteJWKSet } = await loadJose();
    return createRemoteJWKSet(new URL(url), {
      cooldownDuration: this.#config.keysRefreshSeconds * 1000,
      cacheMaxAge: KEYS_MAX_AGE_MS,
      timeoutDuration: FETCH_TIMEOUT_MS,
    });
  }
}

/** Group names from a groups claim: a list of strings, or one string. */
function groupsIn(claim: unknown): string[] {
  const list = typeof claim === "string" ? [claim] : Array.isArray(claim) ? claim : [];
  return list.slice(0, MAX_GROUPS).filter((g): g is string => typeof g === "string" && g !== "");
}

/** https, or plain http to this machine (as lib/config/rules.ts allows for the issuer). */
function isSafeKeysUrl(u: string): boolean {
  if (!URL.canParse(u)) return false;
  const url = new URL(u);
  const host = url.hostname;
  const loopback = host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  return url.protocol === "https:" || (url.protocol === "http:" && loopback);
}

/** An error's message on one line (jose's name the failed check, never the token). */
function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim() || "unknown error";
}
