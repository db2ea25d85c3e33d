/**
 * The JWT check (jwt.ts) and single sign-on (oidc.ts), loaded by the first config that asks for
 * them: most configs have neither, and each server thread would otherwise hold their ~70 KB of
 * code as heap (which V8 grows by a multiple under load). jose and oauth4webapi, which they use,
 * are loaded later still, by the first token or login.
 */
import type { JwtAuthenticator } from "./jwt.ts";
import type { OidcAuthenticator } from "./oidc.ts";

let jwt: Promise<typeof JwtAuthenticator> | null = null;
let oidc: Promise<typeof OidcAuthenticator> | null = null;

/** The JWT check's class, loaded on first use. */
export function loadJwtAuthenticator(): Promise<typeof JwtAuthenticator> {
  return jwt ??= import("./jwt.ts").then((m) => m.JwtAuthenticator);
}

/** Single sign-on's class, loaded on first use. */
export function loadOidcAuthenticator(): Promise<typeof OidcAuthenticator> {
  return oidc ??= import("./oidc.ts").then((m) => m.OidcAuthenticator);
}
