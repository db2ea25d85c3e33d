/**
 * Reads htpasswd files as Apache's `htpasswd` and nginx's `auth_basic_user_file` use them:
 * one `user:hash` per line (nginx allows a third `:comment` field, ignored here too), `#`
 * comments, blank lines. Every error names FILE:LINE and says how to fix it, but never quotes
 * a hash or a line (a line without a colon may well be a password).
 */
import { readFile } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { parseHash, type PasswordHash, UnsupportedHashError } from "./password/mod.ts";
import { errorText } from "../log.ts";

/** User name → password hash. */
export type Users = ReadonlyMap<string, PasswordHash>;

/** Stop listing problems after this many; the operator fixes the file and tries again. */
const MAX_REPORTED = 20;

/**
 * Parses the text of an htpasswd file; `file` is only used in messages.
 * @throws InputError listing every problem as "FILE:LINE: what is wrong. How to fix."
 */
export function parseHtpasswd(text: string, file: string): Users {
  const users = new Map<string, PasswordHash>();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  // A BOM from a Windows editor would otherwise become part of the first user name.
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim(); // Apache also ignores surrounding whitespace
    if (line === "" || line.startsWith("#")) return;
    const problem = parseLine(line, file, lineNo, firstLine);
    if (typeof problem === "string") {
      problems.push(`${file}:${lineNo}: ${problem}`);
    } else {
      users.set(problem.user, problem.hash);
      firstLine.set(problem.user, lineNo);
    }
  });
  if (problems.length > 0) throw new InputError(summarise(problems));
  if (users.size === 0) {
    throw new InputError(
      `${file}: no users are defined, so nobody could log in. ` +
        `Add one with \`htpasswd -B ${shellQuote(file)} admin\`.`,
    );
  }
  return users;
}

/** Parses one non-blank, non-comment line into a user, or returns what is wrong with it. */
function parseLine(
  line: string,
  file: string,
  lineNo: number,
  firstLine: ReadonlyMap<string, number>,
): { user: string; hash: PasswordHash } | string {
  const colon = line.indexOf(":");
  if (colon < 0) {
    return "expected `user:hash` but the line has no colon. " +
      `Add users with \`htpasswd -B ${shellQuote(file)} USER\`, and start comments with \`#\`.`;
  }
  const user = line.slice(0, colon);
  if (user === "") {
    return "the user name before the colon is empty. Put the user name before the colon.";
  }
  const quoted = JSON.stringify(user);
  const seen = firstLine.get(user);
  if (seen !== undefined) {
    return `user ${quoted} is defined again (first at line ${seen}). ` +
      `Delete one of lines ${seen} and ${lineNo}.`;
  }
  // Hashes never contain a colon; anything after a second one is nginx's comment field.
  const encoded = line.slice(colon + 1).split(":", 1)[0];
  if (encoded === "") {
    return `user ${quoted} has no password hash. ` +
      `Set one with \`htpasswd -B ${shellQuote(file)} ${shellQuote(user)}\`.`;
  }
  try {
    return { user, hash: parseHash(encoded) };
  } catch (error) {
    if (!(error instanceof UnsupportedHashError)) throw error;
    return `the password hash of user ${quoted} is ${error.looksLike}. ` +
      `Recreate it with \`htpasswd -B ${shellQuote(file)} ${shellQuote(user)}\` ` +
      `(bcrypt, recommended; -5 for SHA-512-crypt also works).`;
  }
}

function summarise(problems: readonly string[]): string {
  if (problems.length <= MAX_REPORTED) return problems.join("\n");
  const rest = problems.length - MAX_REPORTED;
  return [...problems.slice(0, MAX_REPORTED), `… and ${rest} more problems.`].join("\n");
}

/** Quotes `word` for a POSIX shell when needed, so suggested commands can be pasted. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=,.\/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Reads and parses an htpasswd file.
 * @throws InputError if the file is missing, unreadable, not UTF-8, or invalid; the message
 *   names the file and how to fix it.
 */
export async function loadHtpasswd(file: string): Promise<Users> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new InputError(describeReadError(file, error));
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(
      `${file}: is not valid UTF-8. Save it as UTF-8 (user names are matched as UTF-8).`,
    );
  }
  return parseHtpasswd(text, file);
}

function describeReadError(file: string, error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const q = shellQuote(file);
  switch (code) {
    case "ENOENT":
      return `${file}: htpasswd file not found. Create it with \`htpasswd -cB ${q} admin\` ` +
        `or fix the path (auth.htpasswdFile, relative to the config file).`;
    case "EACCES":
    case "EPERM":
      return `${file}: permission denied reading the htpasswd file. ` +
        `Make it readable by the user promgate runs as (e.g. \`chmod 640 ${q}\` and chgrp).`;
    case "EISDIR":
      return `${file}: is a directory, not an htpasswd file. Point auth.htpasswdFile at a file.`;
    default:
      return `${file}: cannot read the htpasswd file (${
        errorText(error)
      }). Check that it exists and is readable.`;
  }
}
