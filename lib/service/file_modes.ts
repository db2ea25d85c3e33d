/**
 * Warnings about who else can read or change the files promgate trusts: a config or htpasswd
 * file anyone can write lets anyone add a user; a private key others can read lets them pose as
 * this server. promgate warns and serves (refusing would turn a permissions slip into an outage
 * on the next restart); `--check`, start-up and every reload that loads a file print them.
 *
 * The rules are those of the programs operators know:
 * - no file promgate reads may be writable by every user (world-writable);
 * - the private key follows PostgreSQL's rule for its own server key (be-secure-common.c), the
 *   one sshd applies to host keys plus Debian's ssl-cert convention: no access at all for other
 *   users, and none for the group either, except read access when root owns the file (a key
 *   `root:ssl-cert 0640`, or `root:promgate 0640` with promgate's user in that group).
 * Modes are read with stat, which follows symbolic links (Kubernetes mounts secrets as links).
 */
import { stat } from "node:fs/promises";
import process from "node:process";
import type { Config } from "../config/mod.ts";

/** One file promgate reads, and what it is for. */
export interface CheckedFile {
  /** Where the config names it, e.g. "tls.keyFile"; "config" for the config file itself. */
  readonly what:
    | "config"
    | "auth.htpasswdFile"
    | "auth.tokensFile"
    | "auth.oidc.clientSecretFile"
    | "auth.oidc.cookieSecretFile"
    | "tls.certFile"
    | "tls.keyFile";
  readonly path: string;
}

/** What someone who can write each kind of file can do with it. */
const IF_WRITTEN: Record<CheckedFile["what"], string> = {
  "config": "change the routes and who may log in",
  "auth.htpasswdFile": "add a user or change a password",
  "auth.tokensFile": "add an API token for any user",
  "auth.oidc.clientSecretFile": "replace the OIDC client secret",
  "auth.oidc.cookieSecretFile": "replace the session cookie secret",
  "tls.certFile": "replace the certificate",
  "tls.keyFile": "replace the private key",
};

/** Files whose contents are secrets: nobody else may read them either. */
const SECRETS: Partial<Record<CheckedFile["what"], { noun: string; ifRead: string }>> = {
  "tls.keyFile": {
    noun: "the private key",
    ifRead: "read the private key and pose as this server",
  },
  "auth.oidc.clientSecretFile": {
    noun: "the OIDC client secret",
    ifRead: "read the OIDC client secret and pose as promgate to the provider",
  },
  "auth.oidc.cookieSecretFile": {
    noun: "the session cookie secret",
    ifRead: "read the session cookie secret and forge a login as any user",
  },
};

const OTHER_WRITE = 0o002;
const OTHER_ANY = 0o007;
const GROUP_ANY = 0o070;
const GROUP_READ = 0o040;

/**
 * The files `config` makes promgate read: the config file, the htpasswd file when some route
 * needs authentication, and the certificate and key when they come from files.
 */
export function filesOf(config: Config): CheckedFile[] {
  const files: CheckedFile[] = [{ what: "config", path: config.file }];
  if (config.auth && config.routes.some((r) => r.auth)) {
    files.push({ what: "auth.htpasswdFile", path: config.auth.htpasswdFile });
    if (config.auth.tokensFile) {
      files.push({ what: "auth.tokensFile", path: config.auth.tokensFile });
    }
    const oidc = config.auth.oidc;
    if (oidc) {
      files.push({ what: "auth.oidc.clientSecretFile", path: oidc.clientSecretFile });
      files.push({ what: "auth.oidc.cookieSecretFile", path: oidc.cookieSecretFile });
    }
  }
  if (config.tls?.certFile && config.tls.keyFile) {
    files.push({ what: "tls.certFile", path: config.tls.certFile });
    files.push({ what: "tls.keyFile", path: config.tls.keyFile });
  }
  return files;
}

/**
 * One line per file in `files` whose mode is unsafe (see the module comment), each saying what,
 * where and how to fix it; [] on Windows, where modes do not mean this. A file that cannot be
 * looked at is skipped: loading it is what reports that.
 */
export async function fileModeWarnings(files: readonly CheckedFile[]): Promise<string[]> {
  if (process.platform === "win32") return [];
  const warnings: string[] = [];
  for (const file of files) {
    let info: { mode: number; uid: number; gid: number };
    try {
      info = await stat(file.path);
    } catch {
      continue;
    }
    const problem = modeProblem(file, info.mode, info.uid, info.gid);
    if (problem) warnings.push(problem);
  }
  return warnings;
}

/** What is unsafe about `file` with `mode` owned by `uid`:`gid`, or null if nothing is. */
export function modeProblem(
  file: CheckedFile,
  mode: number,
  uid: number,
  gid: number,
): string | null {
  if (SECRETS[file.what]) return secretProblem(file, mode, uid, gid);
  if ((mode & OTHER_WRITE) === 0) return null;
  return `${file.what}: ${file.path} has mode ${octal(mode)}: every user on this machine can ` +
    `${IF_WRITTEN[file.what]}. Fix: chmod o-w ${file.path}`;
}

function secretProblem(file: CheckedFile, mode: number, uid: number, gid: number): string | null {
  const { path, what } = file;
  const secret = SECRETS[what]!;
  const groupAllowed = uid === 0 ? GROUP_READ : 0;
  let who: string;
  let access: number;
  let note = "";
  if ((mode & OTHER_ANY) !== 0) {
    who = "every user on this machine";
    access = mode & OTHER_ANY;
  } else if ((mode & GROUP_ANY & ~groupAllowed) !== 0) {
    who = `every user in group ${gid}`;
    access = (mode & GROUP_ANY) >> 3;
    if (uid !== 0 && (mode & GROUP_ANY) === GROUP_READ) {
      note =
        ` (${what === "tls.keyFile" ? "a key" : "a secret"} its group may read must be owned ` +
        "by root)";
    }
  } else {
    return null;
  }
  const can = [
    ...(access & 0o4 ? [secret.ifRead] : []),
    ...(access & 0o2 ? [IF_WRITTEN[what]] : []),
  ];
  const does = can.length > 0 ? `can ${can.join(" or ")}` : `has access to ${secret.noun}`;
  return `${what}: ${path} has mode ${octal(mode)}: ${who} ${does}${note}. ` +
    `Fix: chmod 600 ${path} (owned by promgate's user), or chown root:GROUP ${path} and ` +
    `chmod 640 ${path} with promgate's user in GROUP`;
}

/** A mode's permission bits as chmod takes them, e.g. "0644". */
function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}
