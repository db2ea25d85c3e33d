/**
 * The credentials of a running app: what a config's authentication loads (htpasswd users, API
 * tokens, the JWT check, single sign-on), and the credential files loaded again when they
 * change on disk. A file that does not load keeps the previous version serving; the message says
 * why without quoting a line, a hash or a token (htpasswd.ts and tokens.ts never do).
 */
import {
  type Authenticator,
  type JwtAuthenticator,
  loadHtpasswd,
  loadJwtAuthenticator,
  loadOidcAuthenticator,
  loadTokens,
  type OidcAuthenticator,
  TokenAuthenticator,
  type Tokens,
  type Users,
} from "../auth/mod.ts";
import type { Config, OidcConfig } from "../config/mod.ts";
import type { HandlerState } from "../http/mod.ts";
import { oneLine } from "./reload.ts";
import type { Logger } from "./types.ts";

/** What a config's authentication loads; each null when the config does not ask for it. */
export interface Credentials {
  readonly users: Users | null;
  readonly tokens: TokenAuthenticator | null;
  readonly jwt: JwtAuthenticator | null;
  readonly oidc: OidcAuthenticator | null;
}

/**
 * Loads the credentials `config` needs. `current` is the state being replaced (null at start):
 * its JWT check and single sign-on are kept when their settings are unchanged.
 */
export async function credentialsFor(
  config: Config,
  current: HandlerState | null,
): Promise<Credentials> {
  const users = await usersFor(config);
  return {
    users,
    tokens: await tokensFor(config, users),
    jwt: await jwtFor(config, users, current),
    oidc: await oidcFor(config, users, current),
  };
}

/** The users `config` needs, or null when no route requires authentication. */
async function usersFor(config: Config): Promise<Users | null> {
  const needsAuth = config.routes.some((r) => r.auth);
  return needsAuth && config.auth ? await loadHtpasswd(config.auth.htpasswdFile) : null;
}

/** The API tokens `config` names, when some route needs authentication (`users` not null). */
async function tokensFor(
  config: Config,
  users: Users | null,
): Promise<TokenAuthenticator | null> {
  const file = config.auth?.tokensFile;
  if (!users || !file) return null;
  return new TokenAuthenticator(await loadTokens(file), config.auth?.tokenHeader ?? null);
}

/**
 * The htpasswd file changed: swap in its users, or keep the old ones if it does not load.
 * Resolves whether the new users (or none needed) are served.
 */
export async function reloadUsers(
  config: Config,
  authenticator: Authenticator | null,
  notice: Logger,
): Promise<boolean> {
  if (!config.auth || !authenticator) return true;
  let users: Users;
  try {
    users = await loadHtpasswd(config.auth.htpasswdFile);
  } catch (error) {
    notice(`reload: kept the previous users: ${oneLine(error)}`);
    return false;
  }
  // Cached logins stay valid only for users whose hash is unchanged (Authenticator.setUsers).
  authenticator.setUsers(users);
  notice(`reload: htpasswd ${config.auth.htpasswdFile}: ${users.size} users`);
  return true;
}

/**
 * The tokens file changed: swap in its tokens (a removed line revokes its token for the next
 * request), or keep the old ones if it does not load. Resolves whether the file's tokens are
 * served.
 */
export async function reloadTokens(
  config: Config,
  tokens: TokenAuthenticator | null,
  notice: Logger,
): Promise<boolean> {
  if (!config.auth?.tokensFile || !tokens) return true;
  let loaded: Tokens;
  try {
    loaded = await loadTokens(config.auth.tokensFile);
  } catch (error) {
    notice(`reload: kept the previous tokens: ${oneLine(error)}`);
    return false;
  }
  tokens.setTokens(loaded);
  notice(`reload: tokens ${config.auth.tokensFile}: ${loaded.size} tokens`);
  return true;
}

/**
 * The JWT check `config` asks for, when some route needs authentication; the current one when
 * its settings are unchanged, so that a reload keeps the provider's keys it has fetched.
 */
async function jwtFor(
  config: Config,
  users: Users | null,
  current: HandlerState | null,
): Promise<JwtAuthenticator | null> {
  const settings = config.auth?.jwt;
  if (!users || !settings) return null;
  const same = current?.jwt &&
    JSON.stringify(current.config.auth?.jwt) === JSON.stringify(settings);
  return same ? current.jwt! : new (await loadJwtAuthenticator())(settings);
}

/**
 * The single sign-on `config` asks for, when some route needs authentication; the current one
 * when its settings are unchanged (it keeps the provider's discovered metadata).
 */
async function oidcFor(
  config: Config,
  users: Users | null,
  current: HandlerState | null,
): Promise<OidcAuthenticator | null> {
  const settings = config.auth?.oidc;
  if (!users || !settings) return null;
  const old = current?.config.auth?.oidc;
  const same = current?.oidc && old && sameOidc(old, settings);
  return same ? current.oidc! : new (await loadOidcAuthenticator())(settings);
}

function sameOidc(a: OidcConfig, b: OidcConfig): boolean {
  const text = (c: OidcConfig) => JSON.stringify({ ...c, cookieSecret: [...c.cookieSecret] });
  return text(a) === text(b);
}
