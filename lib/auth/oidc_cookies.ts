/**
 * Single sign-on's cookies (lib/auth/oidc.ts): their names, the keys that seal them, the sealing
 * itself, the session they carry, and reading and writing them in headers.
 *
 * promgate keeps no server-side session: both cookies are sealed with AES-256-GCM (WebCrypto)
 * under keys derived by HKDF from auth.oidc.cookieSecretFile, so any thread or replica sharing
 * that file reads them, and a changed or forged byte fails authentication. Each kind has its own
 * key, so one can never be passed off as the other. Nothing here logs a cookie.
 */

/** The session cookie. */
export const SESSION_COOKIE = "promgate_session";
/** The login-in-progress cookie (only sent to the callback path). */
export const STATE_COOKIE = "promgate_oidc_state";
/** Largest session cookie value set; browsers drop cookies over ~4 KiB (name and attributes). */
export const MAX_SESSION_COOKIE_BYTES = 3500;

/** The identity a session cookie carries. */
export interface Session {
  readonly user: string;
  readonly groups: readonly string[];
  /** Unix seconds after which the cookie is refused. */
  readonly expires: number;
}

/** Keys derived from the cookie secret, one per cookie kind. */
export interface CookieKeys {
  readonly session: CryptoKey;
  readonly state: CryptoKey;
}

/** Derives the cookie keys from the secret file's bytes (HKDF-SHA-256, one key per kind). */
export async function cookieKeys(secret: Uint8Array): Promise<CookieKeys> {
  const base = await crypto.subtle.importKey("raw", secret as BufferSource, "HKDF", false, [
    "deriveKey",
  ]);
  const derive = (info: string) =>
    crypto.subtle.deriveKey(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: new TextEncoder().encode("promgate oidc cookies"),
        info: new TextEncoder().encode(info),
      },
      base,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
  return { session: await derive(SESSION_COOKIE), state: await derive(STATE_COOKIE) };
}

/** Seals `value` (JSON) as base64url(iv || AES-GCM ciphertext and tag). */
export async function seal(key: CryptoKey, value: unknown): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(value));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain));
  const out = new Uint8Array(iv.length + sealed.length);
  out.set(iv);
  out.set(sealed, iv.length);
  return toBase64Url(out);
}

/** The value {@link seal} sealed, or null when it was changed, forged or sealed with another key. */
export async function unseal(key: CryptoKey, text: string): Promise<unknown> {
  const bytes = fromBase64Url(text);
  if (!bytes || bytes.length < 12 + 16) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(0, 12) },
      key,
      bytes.subarray(12),
    );
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
}

/**
 * A session cookie value for `user` and `groups`, valid for `hours`, sealed with `key` (the
 * session key), or null when it would exceed {@link MAX_SESSION_COOKIE_BYTES}.
 */
export async function sealSession(
  key: CryptoKey,
  user: string,
  groups: readonly string[],
  hours: number,
): Promise<string | null> {
  const e = Math.floor(Date.now() / 1000 + hours * 3600);
  const value = await seal(key, { u: user, g: groups, e });
  return value.length > MAX_SESSION_COOKIE_BYTES ? null : value;
}

/** The session sealed in a cookie value by {@link sealSession}, or null (changed, forged, expired). */
export async function openSession(key: CryptoKey, text: string): Promise<Session | null> {
  const value = await unseal(key, text) as { u?: unknown; g?: unknown; e?: unknown } | null;
  if (!value || typeof value.u !== "string" || typeof value.e !== "number") return null;
  if (value.e <= Date.now() / 1000 || !Array.isArray(value.g)) return null;
  return {
    user: value.u,
    groups: value.g.filter((g) => typeof g === "string"),
    expires: value.e,
  };
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * A Set-Cookie value: HttpOnly and SameSite=Lax always, Secure when the browser reached promgate
 * (`origin`) over https. `maxAge` 0 with an empty value clears the cookie.
 */
export function setCookie(
  name: string,
  value: string,
  origin: string,
  path: string,
  maxAge: number,
): string {
  const secure = origin.startsWith("https:") ? "; Secure" : "";
  return `${name}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
