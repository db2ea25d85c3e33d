/**
 * The request pipeline, as one web-standard handler: route -> auth -> proxy -> access log.
 * Authentication runs for every path that is not on a public route, so unknown paths also answer
 * 401 to anonymous clients and reveal nothing about which routes exist.
 */
import { type AccessLog, type AccessRecord } from "./access_log.ts";
import { type Authenticator, challenge } from "./auth.ts";
import type { Config } from "./config.ts";
import { proxy, type UpstreamClient } from "./proxy.ts";
import { plain } from "./responses.ts";
import { matchRoute } from "./routes.ts";
import type { ConnInfo } from "./runtime/types.ts";

/** The state a handler serves from; replaced as a whole on reload. */
export interface HandlerState {
  readonly config: Config;
  /** null when no route needs authentication. */
  readonly authenticator: Authenticator | null;
  readonly accessLog: AccessLog;
}

/** Dependencies of the handler that outlive a reload. */
export interface HandlerDeps {
  /** Returns the current state (read once per request, so a reload never splits a request). */
  readonly state: () => HandlerState;
  readonly client: UpstreamClient;
  /** Called with the one-line reason when promgate answers 5xx itself (upstream down, timeout). */
  readonly onUpstreamError?: (line: string) => void;
}

interface Outcome {
  response: Response;
  /** Body bytes, when the body is complete in memory (or absent). */
  bytes?: number;
  user: string | null;
  route: string | null;
  error?: string;
  logStatus?: number;
}

/** Builds the handler that the runtime's server calls for every request. */
export function createHandler(deps: HandlerDeps) {
  return async (req: Request, info: ConnInfo): Promise<Response> => {
    const started = performance.now();
    const time = new Date();
    const state = deps.state();
    const outcome = withoutBodyForHead(req, await handle(req, info, state, deps));
    if (outcome.error) deps.onUpstreamError?.(`${req.method} ${pathOf(req)}: ${outcome.error}`);
    const record = (bytes: number): AccessRecord => ({
      remoteAddr: info.remoteAddr,
      user: outcome.user,
      time,
      method: req.method,
      uri: pathOf(req),
      protocol: info.protocol,
      status: outcome.logStatus ?? outcome.response.status,
      bytes,
      referer: req.headers.get("referer"),
      userAgent: req.headers.get("user-agent"),
      durationMs: performance.now() - started,
      route: outcome.route,
      error: outcome.error,
    });
    return logWhenSent(outcome, (bytes) => state.accessLog.write(record(bytes)));
  };
}

async function handle(
  req: Request,
  info: ConnInfo,
  state: HandlerState,
  deps: HandlerDeps,
): Promise<Outcome> {
  const url = new URL(req.url);
  const match = matchRoute(state.config.routes, url.pathname);
  const route = match.kind === "none" ? null : match.route;
  let user: string | null = null;
  if (!route || route.auth) {
    const realm = state.config.auth?.realm ?? "Prometheus";
    // Fail closed: a protected route with no users configured admits nobody.
    if (!state.authenticator && route) {
      return { ...challenge(realm), user: null, route: route.path };
    }
    if (state.authenticator) {
      const result = await state.authenticator.check(req.headers.get("authorization"));
      if (!result.ok) return { ...challenge(realm), user: result.user, route: route?.path ?? null };
      user = result.user;
    }
  }
  if (match.kind === "none") {
    return { ...plain(404, "404 Not Found\n"), user, route: null };
  }
  if (match.kind === "redirect") {
    const headers = { location: match.location + url.search };
    return { ...plain(301, "301 Moved Permanently\n", headers), user, route: route!.path };
  }
  const result = await proxy({
    request: req,
    route: match.route,
    upstreamPath: match.upstreamPath,
    forwarded: {
      clientAddr: info.remoteAddr,
      proto: url.protocol.slice(0, -1),
      host: url.host,
    },
    client: deps.client,
  });
  return { ...result, user, route: match.route.path };
}

/** A response to HEAD carries no body (over HTTP/2 Deno.serve resets the stream otherwise). */
function withoutBodyForHead(req: Request, outcome: Outcome): Outcome {
  const { response } = outcome;
  if (req.method !== "HEAD" || response.body === null) return outcome;
  response.body.cancel().catch(() => {});
  const bodiless = new Response(null, { status: response.status, headers: response.headers });
  return { ...outcome, response: bodiless, bytes: 0 };
}

function pathOf(req: Request): string {
  const url = new URL(req.url);
  return url.pathname + url.search;
}

/**
 * Calls `done` with the body bytes once the response has been sent (or the client went away), so
 * the access log shows what was really delivered and how long it took, as nginx's does. A body of
 * known size is left untouched: wrapping it in a stream would undo the proxy's coalescing.
 */
function logWhenSent(outcome: Outcome, done: (bytes: number) => void): Response {
  const { response } = outcome;
  if (outcome.bytes !== undefined || response.body === null) {
    done(outcome.bytes ?? 0);
    return response;
  }
  const reader = response.body.getReader();
  let bytes = 0;
  let logged = false;
  const finish = () => {
    if (!logged) {
      logged = true;
      done(bytes);
    }
  };
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const result = await reader.read();
        if (result.done) {
          finish();
          controller.close();
          return;
        }
        bytes += result.value.byteLength;
        controller.enqueue(result.value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(counted, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
