/**
 * A request on a route with tenancy, made into what the upstream may receive: unchanged for an
 * unrestricted user, refused for a user who is neither restricted nor unrestricted, and for a
 * restricted user narrowed to their values — by the tenant header, and (with a label) by the
 * PromQL matcher in every `query` and `match[]`, by filtering rules and alerts, and by refusing
 * every endpoint not known to be safe (endpoints.ts); on an Alertmanager upstream by alertmanager.ts.
 */
import { cgiName, isWebSocketUpgrade } from "../headers.ts";
import { applyAlertmanager } from "./alertmanager.ts";
import { BodyTooLarge, readLimited } from "./body.ts";
import { classify, type Endpoint } from "./endpoints.ts";
import { encodePair, FormError, type FormPair, parsePairs, rewritePairs } from "./form.ts";
import { type TenantMatcher, tenantMatcher } from "./matcher.ts";
import { injectMatcher, loadPromQL, PromQLError } from "./promql.ts";
import {
  rebuild,
  refuse,
  type TenancyInput,
  type TenancyOutcome,
  type TenancyRefusal,
  withoutBodyHeaders,
} from "./outcome.ts";
import { filterAnswer } from "./response.ts";
import { tenantOf } from "./tenant.ts";

/** Applies the route's tenancy to one request (see the module doc). */
export async function applyTenancy(input: TenancyInput): Promise<TenancyOutcome> {
  const { tenancy, request } = input;
  const tenant = tenantOf(tenancy, input.groups, input.user);
  const spoofable = tenancy.header;
  if (tenant.kind === "none") {
    return refuse(403, "403 Forbidden\n", `user ${show(input.user)} has no tenancy on this route`);
  }
  if (tenant.kind === "unrestricted") {
    if (spoofable === null || !input.headerEntries.some(([n]) => same(n, spoofable))) {
      return {
        ok: true,
        request,
        search: input.search,
        headerEntries: input.headerEntries,
        filter: null,
      };
    }
    // An unrestricted user gets no tenant header, and no client-made one either.
    const headerEntries = input.headerEntries.filter(([n]) => !same(n, spoofable));
    return { ok: true, request, search: input.search, headerEntries, filter: null };
  }
  const values = tenant.values;
  let headerEntries = spoofable === null ? [...input.headerEntries] : [
    ...input.headerEntries.filter(([n]) => !same(n, spoofable)),
    [spoofable, values.join("|")] as [
      string,
      string,
    ],
  ];
  if (tenancy.label === null) {
    return { ok: true, request, search: input.search, headerEntries, filter: null };
  }
  if (isWebSocketUpgrade(request)) {
    return refuse(403, "403 Forbidden\n", "WebSocket upgrades are not open to restricted users");
  }
  if (tenancy.api === "alertmanager") {
    return await applyAlertmanager(input, tenantMatcher(tenancy.label, values), headerEntries);
  }
  const endpoint = classify(request.method, input.upstreamPath);
  if (endpoint.kind === "deny") return refuse(403, "403 Forbidden\n", endpoint.reason);
  const matcher = tenantMatcher(tenancy.label, values);
  if (endpoint.kind === "pass") {
    return { ok: true, request, search: input.search, headerEntries, filter: null };
  }
  if (endpoint.kind === "rules" || endpoint.kind === "alerts") {
    // Asked for identity, so the answer can be read (and is bounded: response.ts).
    headerEntries = headerEntries.filter(([n]) => n !== "accept-encoding");
    const kind = endpoint.kind;
    return {
      ok: true,
      request: rebuild(request, null, headerEntries),
      search: input.search,
      headerEntries: withoutBodyHeaders(headerEntries),
      filter: (response) => filterAnswer(response, kind, matcher),
    };
  }
  try {
    return await rewriteParams(input, endpoint, matcher, headerEntries);
  } catch (error) {
    if (error instanceof BodyTooLarge) {
      return refuse(413, "413 Content Too Large\n", error.message);
    }
    if (error instanceof FormError || error instanceof PromQLError) {
      return refuse(400, `400 Bad Request: ${error.message}\n`, error.message);
    }
    throw error;
  }
}

/** Methods whose form body Go's ParseForm reads. */
const FORM_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Rewrites every `query` (or `match[]`) in the URL and the form body. */
async function rewriteParams(
  input: TenancyInput,
  endpoint: Endpoint,
  matcher: TenantMatcher,
  headerEntries: [string, string][],
): Promise<TenancyOutcome> {
  const { request } = input;
  const method = request.method.toUpperCase();
  const name = endpoint.kind === "query" ? "query" : "match[]";
  await loadPromQL();
  const rewrite = (where: string) => (value: string) => {
    try {
      return injectMatcher(value, matcher);
    } catch (error) {
      if (error instanceof PromQLError) {
        throw new PromQLError(error.position, `${name} in the ${where}: ${error.message}`);
      }
      throw error;
    }
  };
  const urlPairs = parsePairs(input.search.slice(1), "URL");
  let bodyPairs: FormPair[] = [];
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (FORM_METHODS.has(method)) {
    const form = await readForm(request, input.tenancy.maxBodyBytes);
    if (typeof form === "object" && "ok" in form) return form;
    bodyPairs = parsePairs(form, "body");
    const rewritten = rewritePairs(bodyPairs, name, rewrite("body"));
    body = new TextEncoder().encode(rewritten ?? form);
  }
  let search = rewritePairs(urlPairs, name, rewrite("URL"));
  const present = search !== null || bodyPairs.some((p) => p.name === name);
  if (endpoint.kind === "match" && !present) {
    const added = encodePair("match[]", `{${matcher.text}}`);
    search = urlPairs.length > 0 ? `${input.search.slice(1)}&${added}` : added;
  }
  const finalSearch = search === null ? input.search : `?${search}`;
  const entries = withoutBodyHeaders(headerEntries);
  if (body !== null) {
    entries.push(["content-length", String(body.byteLength)]);
    const type = headerEntries.find(([n]) => n === "content-type");
    if (type) entries.push(type);
  }
  return {
    ok: true,
    request: rebuild(request, body, entries),
    search: finalSearch,
    headerEntries: entries,
    filter: null,
  };
}

/**
 * The form body of a POST/PUT/PATCH as text, or a refusal: a body with any Content-Type but
 * `application/x-www-form-urlencoded` (multipart, which Go's FormValue also reads; JSON; a
 * malformed one) gets 415; an empty body needs none.
 */
async function readForm(request: Request, limit: number): Promise<string | TenancyRefusal> {
  const bytes = await readLimited(request.body, request.headers.get("content-length"), limit);
  const type = request.headers.get("content-type");
  if (type === null) {
    if (bytes.byteLength === 0) return "";
    return refuse(415, "415 Unsupported Media Type\n", "a body without a Content-Type");
  }
  if (!isFormType(type)) {
    return refuse(
      415,
      "415 Unsupported Media Type: send application/x-www-form-urlencoded\n",
      `a body of type ${show(type.slice(0, 60))}`,
    );
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormError("the body is not UTF-8");
  }
}

/** `application/x-www-form-urlencoded` with optional parameters, as Go's mime parser reads it. */
function isFormType(value: string): boolean {
  return /^\s*application\/x-www-form-urlencoded\s*(;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=("[^"]*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*)*;?\s*$/i
    .test(value);
}

/** Header names compared as CGI-style upstreams compare them (case, "_" and "-" alike). */
function same(name: string, header: string): boolean {
  return name === header || cgiName(name) === cgiName(header);
}

const show = (v: string | null) => JSON.stringify(v);
