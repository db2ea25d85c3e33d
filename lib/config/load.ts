/**
 * Loading a config file: read it, validate it against the schema (messages: messages.ts), and
 * resolve it into a typed Config (paths made absolute, files checked: files.ts).
 */
import { access, readFile, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import { InputError } from "../errors.ts";
import { parseJsonStrict } from "./json_text.ts";
import { errorCode, fileProblem, resolveTls } from "./files.ts";
import { formatIssue, inDocumentOrder } from "./messages.ts";
import { crossFieldIssues } from "./cross_field_rules.ts";
import { availableCores, configSchema, type RawConfig } from "./schema.ts";
import type {
  AccessLogConfig,
  AuthConfig,
  Config,
  JwtConfig,
  JwtKeySource,
  LimitRule,
  OidcConfig,
  RouteConfig,
  StateConfig,
  TenancyConfig,
} from "./types.ts";

// ---------------------------------------------------------------------------------------------
// Loading.

/** Reads, validates and resolves a config file. Throws InputError naming file + JSON path + fix. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new InputError(`${file}: ${fileProblem(e, resolve(file))} ${configFileFix(e, file)}`);
  }
  return await parseConfig(text, file);
}

function configFileFix(e: unknown, file: string): string {
  return errorCode(e) === "ENOENT"
    ? `To start, copy config.example.json to ${file} and edit it (see docs/config.md).`
    : "Pass the path of the JSON config file.";
}

/** Same as loadConfig, from text already read (file names messages and anchors relative paths). */
export async function parseConfig(text: string, file: string): Promise<Config> {
  const raw = parseJsonStrict(text.replace(/^\uFEFF/, ""), file);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issues: z.core.$ZodIssue[] = [...result.error.issues];
    if (!issues.some(isCrossField)) issues.push(...crossFieldIssues(raw));
    const lines = inDocumentOrder(issues.flatMap((i) => formatIssue(i, raw)), raw);
    throw new InputError(lines.map((m) => `${file}: ${m}`).join("\n"));
  }
  return await resolveConfig(result.data, resolve(file), file);
}

const isCrossField = (i: z.core.$ZodIssue) =>
  i.code === "custom" && (i.params as { crossField?: boolean } | undefined)?.crossField === true;

// ---------------------------------------------------------------------------------------------
// Resolution: defaults are already applied by zod; here paths become absolute and the files the
// config names are checked, so that a bad certificate fails at load and not at the first request.

async function resolveConfig(raw: RawConfig, file: string, shown: string): Promise<Config> {
  const base = dirname(file);
  // One list per section, joined in file order: the checks finish in any order.
  const found: [string[], string[], string[], string[]] = [[], [], [], []];
  const [tls, auth, accessLog, state] = await Promise.all([
    raw.tls ? resolveTls(raw.tls, raw.listen.hostname, base, found[0]) : null,
    raw.auth ? resolveAuth(raw.auth, base, found[1]) : null,
    raw.accessLog ? resolveAccessLog(raw.accessLog, base, found[2]) : null,
    raw.state ? resolveState(raw.state, base, found[3]) : null,
  ]);
  const problems = found.flat();
  if (problems.length > 0) {
    throw new InputError(problems.map((p) => `${shown}: ${p}`).join("\n"));
  }
  return {
    file,
    listen: resolveListen(raw.listen),
    tls,
    auth,
    routes: raw.routes.map((r, i) => resolveRoute(r, i)).sort((a, b) =>
      b.prefix.length - a.prefix.length
    ),
    accessLog,
    shutdownGraceSeconds: raw.shutdownGraceSeconds,
    workers: raw.workers === "auto" ? availableCores() : raw.workers,
    groups: new Map(Object.entries(raw.groups).map(([name, users]) => [name, new Set(users)])),
    metrics: raw.metrics === false ? null : raw.metrics,
    state,
    // Present only when written: a config without limits resolves as it did before them.
    ...(raw.limits ? { limits: resolveLimits(raw.limits, "limits") } : {}),
  };
}

/** listen with the header name in lower case; keys left out of the file stay out. */
function resolveListen(raw: RawConfig["listen"]): Config["listen"] {
  const { clientAddressHeader, ...rest } = raw;
  return clientAddressHeader === undefined ? rest : {
    ...rest,
    clientAddressHeader: clientAddressHeader === "Forwarded" ? "forwarded" : "x-forwarded-for",
  };
}

/** Limit rules with their defaults (lib/defaults.ts) and labels; `at` is their JSON path. */
function resolveLimits(rules: NonNullable<RawConfig["limits"]>, at: string): LimitRule[] {
  const D = DEFAULTS.limits;
  return rules.map((r, i) => ({
    label: r.name ?? `${at}[${i}]`,
    who: r.who,
    concurrent: r.concurrent ?? null,
    queueMs: Math.round((r.queueSeconds ?? D.queueSeconds) * 1000),
    queue: r.queue ?? D.queue,
    perSecond: r.perSecond ?? null,
    burst: r.burst ?? (r.perSecond ? Math.max(1, Math.ceil(r.perSecond * D.burstSeconds)) : 1),
  }));
}

function resolveRoute(r: RawConfig["routes"][number], index: number): RouteConfig {
  const list = typeof r.upstream === "string" ? [r.upstream] : r.upstream;
  const health = r.healthCheck;
  return {
    path: r.path,
    prefix: r.path.replace(/\/$/, ""),
    upstream: new URL(list[0]),
    // The raw text decides: new URL() gives "http://h:9090" the path "/" as well.
    stripPrefix: /^[a-z]+:\/\/[^/]*\//i.test(list[0]),
    // Named only where the file uses them, so a one-upstream route is resolved as it always was.
    ...(typeof r.upstream === "string" && !health ? {} : severalUpstreams(r, list)),
    auth: r.auth,
    timeoutMs: Math.max(1, Math.round(r.timeoutSeconds * 1000)),
    forwardAuthorization: r.forwardAuthorization,
    policy: { allow: r.allow ?? null, readOnly: r.readOnly, admins: r.admins },
    forwardUser: r.forwardUser === true
      ? "x-forwarded-user"
      : r.forwardUser === false
      ? null
      : r.forwardUser.toLowerCase(),
    tenancy: r.tenancy ? resolveTenancy(r.tenancy) : null,
    ...(r.limits ? { limits: resolveLimits(r.limits, `routes[${index}].limits`) } : {}),
  };
}

/** upstreams, balance and healthCheck of a route with an upstream list or health checks. */
function severalUpstreams(r: RawConfig["routes"][number], list: readonly string[]) {
  const health = r.healthCheck;
  return {
    upstreams: list.map((u) => new URL(u).href),
    balance: r.balance ?? DEFAULTS.upstreams.balance,
    healthCheck: health
      ? {
        path: health.path,
        intervalMs: Math.round(health.intervalSeconds * 1000),
        timeoutMs: Math.round(health.timeoutSeconds * 1000),
        unhealthyAfter: health.unhealthyAfter,
        healthyAfter: health.healthyAfter,
      }
      : null,
  };
}

function resolveTenancy(t: NonNullable<RawConfig["routes"][number]["tenancy"]>): TenancyConfig {
  return {
    label: t.label ?? null,
    header: t.header?.toLowerCase() ?? null,
    values: Object.entries(t.values),
    unrestricted: t.unrestricted,
    maxBodyBytes: t.maxBodyBytes,
    api: t.api,
  };
}

async function resolveAuth(
  raw: NonNullable<RawConfig["auth"]>,
  base: string,
  problems: string[],
): Promise<AuthConfig> {
  const htpasswdFile = resolve(base, raw.htpasswdFile);
  const tokensFile = raw.tokensFile === undefined ? null : resolve(base, raw.tokensFile);
  await readableFile(htpasswdFile, problems, "auth.htpasswdFile", {
    create: `Create it with: htpasswd -cB ${htpasswdFile} admin`,
    other: "Point auth.htpasswdFile at a readable htpasswd file.",
  });
  if (tokensFile !== null) {
    await readableFile(tokensFile, problems, "auth.tokensFile", {
      create:
        `Create it (it may be empty), e.g. with: promgate token create NAME 2>> ${tokensFile}`,
      other: "Point auth.tokensFile at a readable tokens file.",
    });
  }
  const jwt = raw.jwt === undefined ? null : await resolveJwt(raw.jwt, base, problems);
  const oidc = raw.oidc === undefined ? null : await resolveOidc(raw.oidc, base, problems);
  return {
    realm: raw.realm,
    htpasswdFile,
    // Named only when set: a config without tokens resolves as it did before they existed.
    ...(tokensFile === null ? {} : { tokensFile }),
    ...(raw.tokenHeader === undefined ? {} : { tokenHeader: raw.tokenHeader.toLowerCase() }),
    ...(jwt === null ? {} : { jwt }),
    ...(oidc === null ? {} : { oidc }),
    throttle: raw.throttle === false ? null : raw.throttle,
  };
}

async function resolveOidc(
  raw: NonNullable<NonNullable<RawConfig["auth"]>["oidc"]>,
  base: string,
  problems: string[],
): Promise<OidcConfig> {
  const secret = async (key: "clientSecretFile" | "cookieSecretFile", how: string) => {
    const file = resolve(base, raw[key]);
    try {
      return await readFile(file);
    } catch (e) {
      problems.push(`auth.oidc.${key}: ${fileProblem(e, file)} ${how}`);
      return null;
    }
  };
  const client = await secret(
    "clientSecretFile",
    "Save the client secret the provider gave promgate's client there.",
  );
  const clientSecret = client ? new TextDecoder().decode(client).trim() : "";
  if (client && clientSecret === "") {
    problems.push(
      `auth.oidc.clientSecretFile: ${resolve(base, raw.clientSecretFile)} is ` +
        "empty. Save the client secret the provider gave promgate's client there.",
    );
  }
  const make = "Make one with: openssl rand -base64 48 > " + resolve(base, raw.cookieSecretFile);
  const cookieSecret = await secret("cookieSecretFile", make);
  if (cookieSecret && cookieSecret.length < 32) {
    problems.push(
      `auth.oidc.cookieSecretFile: ${resolve(base, raw.cookieSecretFile)} holds ` +
        `${cookieSecret.length} bytes; at least 32 are needed. ${make}`,
    );
  }
  const O = DEFAULTS.oidc;
  return {
    issuer: raw.issuer,
    clientId: raw.clientId,
    clientSecret,
    clientSecretFile: resolve(base, raw.clientSecretFile),
    cookieSecretFile: resolve(base, raw.cookieSecretFile),
    cookieSecret: new Uint8Array(cookieSecret ?? []),
    scopes: raw.scopes,
    sessionHours: raw.sessionHours,
    userClaim: raw.userClaim,
    groupsClaim: raw.groupsClaim ?? null,
    externalOrigin: raw.externalUrl === undefined ? null : new URL(raw.externalUrl).origin,
    loginPath: O.loginPath,
    callbackPath: O.callbackPath,
    logoutPath: O.logoutPath,
  };
}

async function resolveJwt(
  raw: NonNullable<NonNullable<RawConfig["auth"]>["jwt"]>,
  base: string,
  problems: string[],
): Promise<JwtConfig> {
  let keys: JwtKeySource = raw.jwksUrl === undefined
    ? { kind: "discovery" }
    : { kind: "url", url: raw.jwksUrl };
  if (raw.jwksFile !== undefined) {
    const file = resolve(base, raw.jwksFile);
    const jwks = await readJwks(file, problems);
    keys = { kind: "file", file, jwks: jwks ?? { keys: [] } };
  }
  return {
    issuer: raw.issuer,
    audience: typeof raw.audience === "string" ? [raw.audience] : raw.audience,
    userClaim: raw.userClaim,
    groupsClaim: raw.groupsClaim ?? null,
    keys,
    algorithms: raw.algorithms,
    leewaySeconds: raw.leewaySeconds,
    keysRefreshSeconds: raw.keysRefreshSeconds,
  };
}

/** The JWK Set in `file` (its keys are checked when a token names one), or null with a problem. */
async function readJwks(file: string, problems: string[]): Promise<{ keys: unknown[] } | null> {
  const where = "auth.jwt.jwksFile";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    problems.push(
      `${where}: ${fileProblem(e, file)} Save the provider's JWK Set there (its jwks_uri ` +
        "answer), or point jwksFile at it.",
    );
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch {
    problems.push(`${where}: ${file} is not JSON. Save the provider's JWK Set there as it is.`);
    return null;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => !isPublicJwk(k))) {
    problems.push(
      `${where}: ${file} is not a JWK Set of public keys ({ "keys": [ { "kty": … } ] }, no ` +
        'private parts such as "d"). Save the answer of the provider\'s jwks_uri there.',
    );
    return null;
  }
  return { keys };
}

/** A JWK object with a key type and no private or symmetric key material. */
function isPublicJwk(k: unknown): boolean {
  if (typeof k !== "object" || k === null) return false;
  const jwk = k as Record<string, unknown>;
  return typeof jwk.kty === "string" && jwk.kty !== "oct" && !("d" in jwk) && !("k" in jwk);
}

/** Adds to `problems` why `file` is not a readable file, and `fix` for a missing one or another. */
async function readableFile(
  file: string,
  problems: string[],
  where: string,
  fix: { create: string; other: string },
): Promise<void> {
  try {
    if (!(await stat(file)).isFile()) throw Object.assign(new Error(), { code: "EISDIR" });
    await access(file, constants.R_OK);
  } catch (e) {
    problems.push(
      `${where}: ${fileProblem(e, file)} ${errorCode(e) === "ENOENT" ? fix.create : fix.other}`,
    );
  }
}

/** state: the password file must be a readable file (it is read when connecting, not here). */
async function resolveState(
  raw: NonNullable<RawConfig["state"]>,
  base: string,
  problems: string[],
): Promise<StateConfig> {
  const passwordFile = raw.passwordFile === undefined ? null : resolve(base, raw.passwordFile);
  if (passwordFile !== null) {
    try {
      if (!(await stat(passwordFile)).isFile()) {
        throw Object.assign(new Error(), { code: "EISDIR" });
      }
      await access(passwordFile, constants.R_OK);
    } catch (e) {
      problems.push(
        `state.passwordFile: ${fileProblem(e, passwordFile)} Put the Redis password in it ` +
          '(readable by promgate only: chmod 600), or remove "passwordFile" if Redis needs none.',
      );
    }
  }
  return { redis: raw.redis, passwordFile, timeoutMs: raw.timeoutMs, keyPrefix: raw.keyPrefix };
}

async function resolveAccessLog(
  raw: Exclude<RawConfig["accessLog"], false>,
  base: string,
  problems: string[],
): Promise<AccessLogConfig> {
  if (raw.path === "-") return { format: raw.format, path: "-" };
  const path = resolve(base, raw.path);
  const dir = dirname(path);
  const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory();
  if (await isDir(path)) {
    problems.push(`accessLog.path: ${path} is a directory; name a file in it, e.g. "access.log".`);
  } else if (!(await isDir(dir))) {
    problems.push(
      `accessLog.path: directory ${dir} does not exist. Create it, or set "path": "-" for stdout.`,
    );
  } else {
    // The log is opened later, by lib/http/access_log.ts; a permission problem belongs here, at load.
    const target = await access(path).then(() => path, () => dir);
    await access(target, constants.W_OK).catch(() =>
      problems.push(
        `accessLog.path: ${target} is not writable by this user. Fix its permissions, or set ` +
          `"path": "-" for stdout.`,
      )
    );
  }
  return { format: raw.format, path };
}
