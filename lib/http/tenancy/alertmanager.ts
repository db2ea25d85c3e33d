/**
 * A restricted user's request to an Alertmanager upstream (`"api": "alertmanager"`), made into
 * what the upstream may receive (endpoints: alertmanager_endpoints.ts; JSON: alertmanager_json.ts):
 *
 * - alerts and alert groups are read with the tenant matcher added as a `filter` parameter, and
 *   the answer is filtered again by promgate (the parameter only saves work); silences are
 *   filtered in the answer only (Alertmanager's silence filter compares matcher text);
 * - posted alerts and silences must name the user's value (it is added when they name none);
 * - a silence is read, updated or deleted only when the upstream's stored copy is the user's
 *   (asked first; ids never change owner, since Alertmanager gives a silence with other matchers
 *   a new id).
 */
import { BodyTooLarge, readLimited } from "./body.ts";
import { classifyAlertmanager } from "./alertmanager_endpoints.ts";
import {
  checkPostedAlerts,
  checkPostedSilence,
  filterAlertGroups,
  filterAlertList,
  filterSilences,
  isTenantsSilence,
  PostRefused,
} from "./alertmanager_json.ts";
import { encodePair, FormError, parsePairs } from "./form.ts";
import type { TenantMatcher } from "./matcher.ts";
import {
  rebuild,
  refuse,
  type TenancyInput,
  type TenancyOutcome,
  type TenancyRefusal,
  withoutBodyHeaders,
} from "./outcome.ts";
import { AnswerForbidden, filterJson } from "./response.ts";

const FORBIDDEN = "403 Forbidden\n";

/** Most bytes of a silence read back from the upstream to check whose it is. */
const SILENCE_BYTES = 1024 * 1024;

/** Applies the tenant matcher `t` to a restricted user's Alertmanager request (module doc). */
export async function applyAlertmanager(
  input: TenancyInput,
  t: TenantMatcher,
  headerEntries: [string, string][],
): Promise<TenancyOutcome> {
  const { request } = input;
  const endpoint = classifyAlertmanager(request.method, input.upstreamPath);
  try {
    switch (endpoint.kind) {
      case "deny":
        return refuse(403, FORBIDDEN, endpoint.reason);
      case "pass":
        return { ok: true, request, search: input.search, headerEntries, filter: null };
      case "alerts":
        return read(input, headerEntries, t, "alerts", filterAlertList);
      case "groups":
        return read(input, headerEntries, t, "alert groups", filterAlertGroups);
      case "silences":
        // Alertmanager's silence filter compares matcher text (a `tenant=~"a|b"` filter finds
        // only that very regex matcher), so the answer alone is filtered.
        return read(input, headerEntries, t, "silences", filterSilences, false);
      case "silence":
        return readSilence(input, headerEntries, t, endpoint.id);
      case "postAlerts": {
        const alerts = checkPostedAlerts(await readJson(input), t);
        return forwardJson(input, headerEntries, alerts);
      }
      case "postSilence":
        return await postSilence(input, headerEntries, t);
      case "deleteSilence": {
        const refusal = await checkOwner(input, headerEntries, t, input.upstreamPath);
        return refusal ?? forwardJson(input, headerEntries, null);
      }
    }
  } catch (error) {
    if (error instanceof BodyTooLarge) return refuse(413, "413 Content Too Large\n", error.message);
    if (error instanceof PostRefused && error.status === 403) {
      return refuse(403, `403 Forbidden: ${error.message}\n`, error.message);
    }
    if (error instanceof PostRefused || error instanceof FormError) {
      return refuse(400, `400 Bad Request: ${error.message}\n`, error.message);
    }
    throw error;
  }
}

/**
 * A GET whose answer is filtered by `transform`, with the tenant matcher as one more `filter`
 * parameter (unless `addFilter` is false): it spares sending what promgate would drop.
 */
function read(
  input: TenancyInput,
  headerEntries: [string, string][],
  t: TenantMatcher,
  what: string,
  transform: (answer: unknown, t: TenantMatcher) => unknown,
  addFilter = true,
): TenancyOutcome {
  // Refuses what Go would skip or misread, so the added filter is read as written.
  const pairs = parsePairs(input.search.slice(1), "URL");
  const added = encodePair("filter", t.text);
  const search = !addFilter
    ? input.search
    : pairs.length > 0
    ? `${input.search}&${added}`
    : `?${added}`;
  // Asked for identity, so the answer can be read (and is bounded: response.ts).
  const entries = withoutBodyHeaders(headerEntries).filter(([n]) => n !== "accept-encoding");
  return {
    ok: true,
    request: rebuild(input.request, null, entries),
    search,
    headerEntries: entries,
    filter: (response) => filterJson(response, what, (answer) => transform(answer, t)),
  };
}

/** GET of one silence: answered only when it is the user's (else 403). */
function readSilence(
  input: TenancyInput,
  headerEntries: [string, string][],
  t: TenantMatcher,
  id: string,
): TenancyOutcome {
  const entries = withoutBodyHeaders(headerEntries).filter(([n]) => n !== "accept-encoding");
  return {
    ok: true,
    request: rebuild(input.request, null, entries),
    search: input.search,
    headerEntries: entries,
    filter: (response) => filterJson(response, "silence", (s) => ownSilence(s, t, id)),
  };
}

function ownSilence(silence: unknown, t: TenantMatcher, id: string): unknown {
  if (!isTenantsSilence(silence, t)) throw new AnswerForbidden(`silence ${id} is not the user's`);
  return silence;
}

/** POST of a silence: checked (alertmanager_json.ts); an update only of the user's silence. */
async function postSilence(
  input: TenancyInput,
  headerEntries: [string, string][],
  t: TenantMatcher,
): Promise<TenancyOutcome> {
  const { silence, id } = checkPostedSilence(await readJson(input), t);
  if (id !== "") {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new PostRefused(400, `${show(id)} is not a silence id`);
    const path = input.upstreamPath.replace(/\/api\/v2\/silences$/, `/api/v2/silence/${id}`);
    const refusal = await checkOwner(input, headerEntries, t, path);
    if (refusal !== null) return refusal;
  }
  return forwardJson(input, headerEntries, silence);
}

/**
 * Asks the upstream for the silence at `path` (`…/api/v2/silence/<id>`): null when it is the
 * user's, else the refusal (404 when it does not exist, 403 when it is someone else's, 502 when
 * the upstream cannot say).
 */
async function checkOwner(
  input: TenancyInput,
  headerEntries: [string, string][],
  t: TenantMatcher,
  path: string,
): Promise<TenancyRefusal | null> {
  const id = path.slice(path.lastIndexOf("/") + 1);
  if (input.ask === undefined) {
    return refuse(502, "502 Bad Gateway\n", `cannot ask the upstream whose silence ${id} is`);
  }
  const entries = withoutBodyHeaders(headerEntries).filter(([n]) => n !== "accept-encoding");
  const response = await input.ask(path, entries);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    return response.status === 404
      ? refuse(404, "404 Not Found\n", `silence ${id} does not exist upstream`)
      : refuse(502, "502 Bad Gateway\n", `the upstream answered ${response.status} for ${path}`);
  }
  const checked = await filterJson(
    response,
    "silence",
    (s) => ownSilence(s, t, id),
    SILENCE_BYTES,
  );
  if (checked.error === undefined) return null;
  return checked.response.status === 403
    ? refuse(403, FORBIDDEN, checked.error)
    : refuse(502, "502 Bad Gateway\n", checked.error);
}

/** The request body as JSON (400 when it is not; 413 over `maxBodyBytes`). */
async function readJson(input: TenancyInput): Promise<unknown> {
  const { request } = input;
  const bytes = await readLimited(
    request.body,
    request.headers.get("content-length"),
    input.tenancy.maxBodyBytes,
  );
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new PostRefused(400, "the body is not UTF-8 JSON");
  }
}

/** The request forwarded with `json` as its body (null: no body), query dropped. */
function forwardJson(
  input: TenancyInput,
  headerEntries: [string, string][],
  json: unknown,
): TenancyOutcome {
  const entries = withoutBodyHeaders(headerEntries);
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (json !== null) {
    body = new TextEncoder().encode(JSON.stringify(json));
    entries.push(["content-type", "application/json"], ["content-length", String(body.byteLength)]);
  }
  return {
    ok: true,
    request: rebuild(input.request, body, entries),
    search: "",
    headerEntries: entries,
    filter: null,
  };
}

const show = (v: string) => JSON.stringify(v);
