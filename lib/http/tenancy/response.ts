/**
 * Reading and filtering the upstream's answer to `/api/v1/rules` or `/api/v1/alerts` (and
 * Alertmanager's alerts and silences: alertmanager.ts) for a restricted user: bounded in size,
 * decoded if the upstream compressed it anyway, filtered (filter.ts), and sent as identity JSON.
 * What cannot be filtered is answered 502, never passed on.
 */
import { plain } from "../responses.ts";
import { BodyTooLarge, readLimited } from "./body.ts";
import { filterAlerts, FilterError, filterRules } from "./filter.ts";
import type { TenantMatcher } from "./matcher.ts";

/** Most bytes of a rules or alerts answer read for filtering (then 502). */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** The filtered response and its size, or a 502 and why. */
export interface FilteredAnswer {
  readonly response: Response;
  readonly bytes?: number;
  /** Set when the answer could not be filtered (the response is then a 502). */
  readonly error?: string;
}

/** Filters a rules (`kind` "rules") or alerts answer down to `matcher`'s values. */
export function filterAnswer(
  response: Response,
  kind: "rules" | "alerts",
  matcher: TenantMatcher,
  limit = MAX_ANSWER_BYTES,
): Promise<FilteredAnswer> {
  const filter = kind === "rules" ? filterRules : filterAlerts;
  return filterJson(
    response,
    kind,
    (answer) => filter(answer, matcher.label, matcher.values),
    limit,
  );
}

/** The answer is not the user's to see (the response is then a 403). */
export class AnswerForbidden extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "AnswerForbidden";
  }
}

/**
 * A successful JSON answer (`what` names it in messages) made into `transform(answer)`, sent as
 * identity JSON. `transform` throws {@link FilterError} for an answer it cannot filter (502) and
 * {@link AnswerForbidden} for one the user may not see (403).
 */
export async function filterJson(
  response: Response,
  what: string,
  transform: (answer: unknown) => unknown,
  limit = MAX_ANSWER_BYTES,
): Promise<FilteredAnswer> {
  // Errors, redirects and bodiless answers (HEAD) hold no rules or alerts.
  if (response.status !== 200 || response.body === null) return { response };
  const coding = (response.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  let body: ReadableStream<Uint8Array> = response.body;
  if (coding === "gzip" || coding === "x-gzip" || coding === "deflate") {
    const format = coding === "deflate" ? "deflate" : "gzip";
    body = body.pipeThrough(
      new DecompressionStream(format) as ReadableWritablePair<Uint8Array, Uint8Array>,
    );
  } else if (coding !== "identity") {
    await response.body.cancel().catch(() => {});
    return badGateway(`the upstream answered with content-encoding ${JSON.stringify(coding)}`);
  }
  let answer: unknown;
  try {
    const bytes = await readLimited(body, null, limit);
    answer = transform(JSON.parse(new TextDecoder().decode(bytes)));
  } catch (error) {
    if (error instanceof BodyTooLarge) {
      return badGateway(`the ${what} answer is over ${limit} bytes`);
    }
    if (error instanceof AnswerForbidden) {
      return { ...plain(403, "403 Forbidden\n"), error: error.message };
    }
    if (
      error instanceof FilterError || error instanceof SyntaxError || error instanceof TypeError
    ) {
      return badGateway(`the ${what} answer could not be filtered: ${error.message}`);
    }
    throw error;
  }
  const text = new TextEncoder().encode(JSON.stringify(answer));
  const headers = new Headers(response.headers);
  headers.delete("content-encoding");
  headers.set("content-type", "application/json");
  headers.set("content-length", String(text.byteLength));
  return { response: new Response(text, { status: 200, headers }), bytes: text.byteLength };
}

function badGateway(reason: string): FilteredAnswer {
  return { ...plain(502, "502 Bad Gateway\n"), error: reason };
}
