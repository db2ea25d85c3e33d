/**
 * Single sign-on's redirects around the login (lib/auth/oidc.ts): which refused requests are
 * sent to the provider's login, and which return target (`rd`) a browser may be sent back to
 * afterwards, so the login can never become an open redirect.
 */

/**
 * The path to return to after login, or "/" when `raw` could lead off this host: only a
 * root-relative path is kept (not `//host`, `/\host`, a scheme, or control characters), checked
 * by resolving it as a browser would and requiring the origin to stay the same.
 */
export function safeReturnPath(raw: string | null | undefined): string {
  if (!raw || raw.length > 2048 || raw[0] !== "/" || raw[1] === "/" || raw.includes("\\")) {
    return "/";
  }
  if (/\p{Cc}/u.test(raw)) return "/";
  const base = "https://promgate.invalid";
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return "/";
  }
  if (url.origin !== base) return "/";
  return url.pathname + url.search;
}

/**
 * Whether a refused request should be sent to the provider's login rather than get 401: a
 * browser (Accept names text/html) asking with GET or HEAD, and presenting no credential.
 */
export function wantsLoginRedirect(req: Request): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (req.headers.has("authorization")) return false;
  return (req.headers.get("accept") ?? "").toLowerCase().includes("text/html");
}
