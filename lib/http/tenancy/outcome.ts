/**
 * What tenancy makes of a request: the input the handler gives, the refusal or the request to
 * forward, and the helpers both upstream kinds (Prometheus: request.ts, Alertmanager:
 * alertmanager.ts) use to build them.
 */
import type { Groups, TenancyConfig } from "../../config/mod.ts";
import type { FilteredAnswer } from "./response.ts";

/**
 * Sends a GET for `upstreamPath` (no query) to the route's upstream with `headerEntries`, as the
 * proxy sends any request (upstream TLS, forwarded headers), and gives its response; a failure to
 * reach the upstream is a 502 or 504 response.
 */
export type AskUpstream = (
  upstreamPath: string,
  headerEntries: readonly [string, string][],
) => Promise<Response>;

/** What the handler knows about a request when tenancy applies. */
export interface TenancyInput {
  readonly tenancy: TenancyConfig;
  readonly groups: Groups;
  readonly user: string | null;
  readonly request: Request;
  /** The path the upstream will receive. */
  readonly upstreamPath: string;
  /** The query, "?…" or "", as received. */
  readonly search: string;
  /** The request's headers as iterating them yields. */
  readonly headerEntries: readonly [string, string][];
  /**
   * Asks the upstream before forwarding (Alertmanager: whose silence an id names). Without it,
   * requests that need to ask are refused with 502.
   */
  readonly ask?: AskUpstream;
}

/** A refusal: the status, a short text for the client, and the reason for the log. */
export interface TenancyRefusal {
  readonly ok: false;
  readonly status: 400 | 403 | 404 | 413 | 415 | 502;
  readonly text: string;
  readonly reason: string;
}

/** What to send upstream instead of the client's request, and how to treat the answer. */
export interface TenancyForward {
  readonly ok: true;
  readonly request: Request;
  readonly search: string;
  readonly headerEntries: readonly [string, string][];
  /** Filters the upstream's answer; null: pass it on as it is. */
  readonly filter: ((response: Response) => Promise<FilteredAnswer>) | null;
}

export type TenancyOutcome = TenancyRefusal | TenancyForward;

/** The refusal with `status`, client `text` and log `reason`. */
export const refuse = (
  status: TenancyRefusal["status"],
  text: string,
  reason: string,
): TenancyRefusal => ({
  ok: false,
  status,
  text,
  reason,
});

/** The entries without the ones describing a body (set again for the new body, if any). */
export function withoutBodyHeaders(entries: readonly [string, string][]): [string, string][] {
  return entries.filter(([n]) =>
    n !== "content-length" && n !== "content-type" && n !== "transfer-encoding"
  );
}

/**
 * A request like `original` with a new body (null: none) and headers, following the original's
 * abort signal. The proxy reads its method, body, signal and Accept-Encoding from it (the headers
 * it sends are `entries`), so a request without a body whose Accept-Encoding stays is used as is.
 */
export function rebuild(
  original: Request,
  body: Uint8Array<ArrayBuffer> | null,
  entries: readonly [string, string][],
): Request {
  const method = original.method.toUpperCase();
  const sameEncoding = original.headers.get("accept-encoding") ===
    (entries.find(([n]) => n === "accept-encoding")?.[1] ?? null);
  if (body === null && original.body === null && sameEncoding) return original;
  return new Request(original.url, {
    method: original.method,
    headers: entries as [string, string][],
    body: method === "GET" || method === "HEAD" ? null : body,
    signal: original.signal,
  });
}
