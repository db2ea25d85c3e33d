/** File-URL helpers (std/path is not installable here: JSR is unreachable). */
import { fileURLToPath } from "node:url";

/** A file: URL as a path, keeping a trailing slash for directories. */
export function fromFileUrl(url: URL): string {
  const path = fileURLToPath(url);
  return url.pathname.endsWith("/") && !path.endsWith("/") ? path + "/" : path;
}
