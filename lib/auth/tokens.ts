/**
 * API tokens: `Authorization: Bearer <token>` (or a configured header) identifies as a name.
 *
 * The tokens file (auth.tokensFile) holds one `name:sha256:<64 hex>` per line, the SHA-256 of the
 * token, never the token; `#` comments and blank lines as in htpasswd. A name is a user name like
 * an htpasswd one, and may be one: groups, `allow`, `admins`, `forwardUser` and tenancy apply to
 * it alike. One name may have several tokens (to roll one over); one token has one name.
 *
 * Lookup: the presented token's SHA-256 is looked up in a Map keyed by its hex digest. What a
 * lookup costs depends only on the presented token's own digest, which the client already knows,
 * and on nothing an attacker can steer towards a stored digest without inverting SHA-256: no
 * prefix of a stored hash can be approached byte by byte, as a direct comparison of the tokens
 * would allow. The entry found is then compared with `timingSafeEqual` over the whole digest, so
 * that a match is decided in constant time even were the Map's string comparison short-circuit.
 * Tokens are 256-bit random values, so no throttle is needed against guessing them; failed
 * tokens still count in the throttle (lib/auth/throttle.ts) like failed passwords, under the
 * name {@link UNKNOWN_TOKEN_USER}, so that noise from one address is bounded all the same. A token
 * that matches is never throttled, as a password already verified is not.
 *
 * Nothing here logs or quotes a token, a digest or a line of the file.
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { errorText } from "../log.ts";
import type { AttemptGuard } from "./basic.ts";
import { bearerCredential, UNKNOWN_TOKEN_USER } from "./bearer.ts";

/** A line of the tokens file: the name a token identifies as, and the token's SHA-256. */
export interface TokenEntry {
  readonly name: string;
  readonly digest: Buffer;
}

/** Hex SHA-256 digest of a token → its entry. */
export type Tokens = ReadonlyMap<string, TokenEntry>;

/** The prefix of every token `promgate token create` makes, for secret scanners to find. */
export const TOKEN_PREFIX = "pg_";

/** Longest token considered; longer ones are malformed, not hashed. */
const MAX_TOKEN_LENGTH = 1024;
/** RFC 6750's b64token: what a Bearer credential may be. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A token name: a user name for the access log, headers and rules, so no space or control. */
const NAME = /^[^\s:\p{Cc}]+$/u;
const HASH = /^sha256:([0-9a-fA-F]{64})$/;
const MAX_REPORTED = 20;

/** A new token: the prefix and 256 random bits in base64url (46 characters in all). */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** The tokens-file line for `token` as `name`. */
export function tokenLine(name: string, token: string): string {
  return `${name}:sha256:${digestOf(token)}`;
}

/** Why `name` cannot name a token, or null when it can. */
export function tokenNameProblem(name: string): string | null {
  if (name === "") return "the name is empty.";
  if (!NAME.test(name)) {
    return "the name has a ':', white space or a control character; use a user name as in " +
      'htpasswd, e.g. "prometheus".';
  }
  return null;
}

function digestOf(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Parses the text of a tokens file; `file` is only used in messages.
 * @throws InputError listing every problem as "FILE:LINE: what is wrong. How to fix."
 */
export function parseTokens(text: string, file: string): Tokens {
  const tokens = new Map<string, TokenEntry>();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const parsed = parseLine(line);
    if (typeof parsed === "string") {
      problems.push(`${file}:${lineNo}: ${parsed}`);
      return;
    }
    const seen = firstLine.get(parsed.digest);
    if (seen !== undefined) {
      problems.push(
        `${file}:${lineNo}: the same token hash is on line ${seen}; a token identifies one ` +
          `name. Delete one of lines ${seen} and ${lineNo}.`,
      );
      return;
    }
    tokens.set(parsed.digest, { name: parsed.name, digest: Buffer.from(parsed.digest, "hex") });
    firstLine.set(parsed.digest, lineNo);
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REPORTED);
    if (problems.length > MAX_REPORTED) {
      shown.push(`… and ${problems.length - MAX_REPORTED} more problems.`);
    }
    throw new InputError(shown.join("\n"));
  }
  return tokens;
}

/** One non-blank, non-comment line, or what is wrong with it (never quoting the line). */
function parseLine(line: string): { name: string; digest: string } | string {
  const make = "`promgate token create NAME` prints a new token and its line.";
  const colon = line.indexOf(":");
  if (colon < 0) {
    return line.startsWith(TOKEN_PREFIX)
      ? `this looks like a token, not its hash: anyone who can read this file can use it. ` +
        `Delete the line and make a new token (${make})`
      : `expected \`NAME:sha256:HEX\` but the line has no colon. ${make} ` +
        "Start comments with `#`.";
  }
  const name = line.slice(0, colon);
  const nameProblem = tokenNameProblem(name);
  if (nameProblem) return `${nameProblem} Put the token's user name before the first colon.`;
  const match = HASH.exec(line.slice(colon + 1));
  if (!match) {
    const value = line.slice(colon + 1);
    return value.startsWith(TOKEN_PREFIX)
      ? `the entry of ${JSON.stringify(name)} looks like a token, not its hash: anyone who can ` +
        `read this file can use it. Delete the line and make a new token (${make})`
      : `the entry of ${JSON.stringify(name)} is not \`sha256:\` and 64 hex digits (the ` +
        `SHA-256 of the token). ${make}`;
  }
  return { name, digest: match[1].toLowerCase() };
}

/**
 * Reads and parses a tokens file.
 * @throws InputError naming the file and how to fix it (never quoting its content).
 */
export async function loadTokens(file: string): Promise<Tokens> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const why = code === "ENOENT"
      ? "tokens file not found. Create it (it may be empty), e.g. with " +
        "`promgate token create NAME 2>> FILE`, or fix auth.tokensFile."
      : code === "EISDIR"
      ? "is a directory, not a tokens file. Point auth.tokensFile at a file."
      : `cannot read the tokens file (${errorText(error)}). ` +
        "Make it readable by the user promgate runs as.";
    throw new InputError(`${file}: ${why}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${file}: is not valid UTF-8. Save it as UTF-8.`);
  }
  return parseTokens(text, file);
}

/** The outcome of checking a presented token. */
export type TokenResult =
  | { readonly ok: true; readonly user: string; readonly cached?: undefined }
  | {
    readonly ok: false;
    readonly reason: "malformed" | "unknown_token" | "throttled";
    /** Never the token; null, as no name was claimed. */
    readonly user: null;
    readonly retryAfter?: number;
  };

/** Checks presented tokens against the current tokens file. */
export class TokenAuthenticator {
  #tokens: Tokens;
  /** The lower-case custom header that may carry the token, or null. */
  readonly header: string | null;

  constructor(tokens: Tokens, header: string | null = null) {
    this.#tokens = tokens;
    this.header = header?.toLowerCase() ?? null;
  }

  /** The number of tokens (for log lines). */
  get size(): number {
    return this.#tokens.size;
  }

  /** Replaces the tokens (after the file changed): a removed line revokes its token at once. */
  setTokens(tokens: Tokens): void {
    this.#tokens = tokens;
  }

  /**
   * The token credential a request presents: the custom header's value when the request has
   * that header (it is there for clients whose Authorization header is not theirs to set), else
   * an Authorization header with the Bearer scheme. null: the request presents no token (basic
   * auth applies). The value may still be malformed; {@link check} says so.
   */
  presented(headers: Headers): string | null {
    if (this.header !== null) {
      const custom = headers.get(this.header);
      if (custom !== null) return custom.trim();
    }
    return bearerCredential(headers);
  }

  /**
   * Checks a credential from {@link presented}. `guard` is asked only when the token is not
   * known (a known one is never throttled, as a verified password is not).
   */
  async check(token: string, guard?: AttemptGuard): Promise<TokenResult> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(token)) {
      return { ok: false, reason: "malformed", user: null };
    }
    const digest = createHash("sha256").update(token).digest();
    const entry = this.#tokens.get(digest.toString("hex"));
    if (entry !== undefined && timingSafeEqual(entry.digest, digest)) {
      return { ok: true, user: entry.name };
    }
    const wait = (await guard?.(UNKNOWN_TOKEN_USER)) ?? 0;
    if (wait > 0) return { ok: false, reason: "throttled", user: null, retryAfter: wait };
    return { ok: false, reason: "unknown_token", user: null };
  }
}
