/**
 * The request pipeline in-process (auth → route → proxy → access log), against a real upstream
 * on 127.0.0.1 reached through the real Deno runtime adapter's fetch, with real bcrypt users.
 */
import { configWith, routeConfig } from "./_config.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { basic, freePort, needs, run, startUpstream, type Upstream } from "./_util.ts";
import type { AccessLog, AccessRecord } from "../lib/http/access_log.ts";
import { Authenticator } from "../lib/auth/basic.ts";
import type { RouteConfig } from "../lib/config/types.ts";
import { createHandler } from "../lib/http/handler.ts";
import { parseHtpasswd } from "../lib/auth/htpasswd.ts";
import { createVerifier } from "../lib/auth/password/verifier.ts";
import { denoRuntime } from "../lib/runtime/deno/adapter.ts";
import type { ClientInfo } from "../lib/http/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ADMIN = basic("admin", "secret");
const CONN: ClientInfo = { address: "192.0.2.7", protocol: "HTTP/1.1" };
const PUBLIC = "http://promgate.test";

/** A JSON body like Prometheus' query API returns, big enough to be worth compressing. */
const QUERY_RESULT = enc.encode(JSON.stringify({
  status: "success",
  data: {
    resultType: "vector",
    result: Array.from({ length: 200 }, (_, i) => ({
      metric: { __name__: "up", instance: `host${i}:9100`, job: "node" },
      value: [1700000000 + i, "1"],
    })),
  },
}));

async function compress(
  bytes: Uint8Array,
  format: CompressionFormat,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const bytesOf = async (r: Response) => new Uint8Array(await r.arrayBuffer());

/** A body of `n` deterministic bytes in 16 KiB chunks, streamed (no Content-Length). */
function bigStream(n: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= n) return c.close();
      const size = Math.min(16384, n - sent);
      c.enqueue(new Uint8Array(size).map((_, i) => (sent + i) % 251));
      sent += size;
    },
  });
}

/** The stand-in for Prometheus: records what reached it, answers like Prometheus where it matters. */
function startPrometheus() {
  const seen: { method: string; path: string; headers: Headers }[] = [];
  const upstream: Upstream = startUpstream(async (req) => {
    const url = new URL(req.url);
    seen.push({ method: req.method, path: url.pathname + url.search, headers: req.headers });
    switch (url.pathname) {
      case "/-/healthy":
        return new Response("Prometheus Server is Healthy.\n");
      case "/api/v1/query":
        return new Response(QUERY_RESULT, { headers: { "content-type": "application/json" } });
      case "/echo":
        return Response.json({
          path: url.pathname + url.search,
          headers: Object.fromEntries(req.headers),
          body: await req.text(),
        });
      case "/graph":
        return new Response(null, { status: 301, headers: { location: "/graph/" } });
      case "/graph/":
        return new Response(null, {
          status: 302,
          headers: { location: "/prometheus/classic/graph?g0.expr=up" },
        });
      // Like Prometheus, the gzip endpoints compress only for a request that accepts gzip.
      case "/gzip-stream": // Content-Encoding set by the upstream itself, streamed
        if (!/gzip/.test(req.headers.get("accept-encoding") ?? "")) {
          return new Response(QUERY_RESULT, { headers: { "content-type": "application/json" } });
        }
        return new Response(
          new Blob([QUERY_RESULT as BlobPart]).stream().pipeThrough(new CompressionStream("gzip")),
          { headers: { "content-type": "application/json", "content-encoding": "gzip" } },
        );
      case "/gzip-sized": // compressed up front, so it carries the compressed Content-Length
        if (!/gzip/.test(req.headers.get("accept-encoding") ?? "")) {
          return new Response(QUERY_RESULT, { headers: { "content-type": "application/json" } });
        }
        return new Response(await compress(QUERY_RESULT, "gzip"), {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      case "/gzip-always": // an upstream that compresses whatever the request asked for
        return new Response(await compress(QUERY_RESULT, "gzip"), {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      case "/deflate":
        return new Response(await compress(QUERY_RESULT, "deflate"), {
          headers: { "content-type": "application/json", "content-encoding": "deflate" },
        });
      case "/big":
        return new Response(bigStream(Number(url.searchParams.get("n"))));
      case "/broken": // a few bytes, then the upstream connection breaks
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(enc.encode('{"status":"succ'));
              setTimeout(() => c.error(new Error("upstream crashed")), 5);
            },
          }),
        );
      case "/slow":
        await new Promise((r) => setTimeout(r, 300));
        return new Response("late\n");
      default:
        return new Response(`404 page not found\n`, { status: 404 });
    }
  });
  return Object.assign(upstream, { seen });
}

let adminLine: string | undefined;
async function adminHtpasswd(): Promise<string> {
  if (adminLine === undefined) {
    const r = await run("htpasswd", ["-nbB", "-C", "5", "admin", "secret"]);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    adminLine = r.stdout.trim();
  }
  return adminLine;
}

const route = (path: string, upstream: string, overrides: Partial<RouteConfig> = {}) =>
  routeConfig(path, upstream, { timeoutMs: 30_000, ...overrides });

/** Everything one test needs; `close()` stops the upstream and the verifier's worker. */
async function setup(
  routesFor: (upstreamUrl: string) => RouteConfig[],
  options: { withAuthenticator?: boolean } = {},
) {
  const prometheus = startPrometheus();
  const verifier = createVerifier();
  const authenticator = options.withAuthenticator === false ? null : new Authenticator(
    parseHtpasswd((await adminHtpasswd()) + "\n", "test.htpasswd"),
    verifier,
  );
  const routes = routesFor(prometheus.url).sort((a, b) => b.prefix.length - a.prefix.length);
  const config = configWith(routes);
  const records: AccessRecord[] = [];
  const accessLog: AccessLog = {
    write: (r) => void records.push(r),
    close: () => Promise.resolve(),
  };
  const upstreamErrors: string[] = [];
  const handler = createHandler({
    state: () => ({ config, authenticator, accessLog }),
    client: denoRuntime,
    onUpstreamError: (line) => void upstreamErrors.push(line),
  });
  return {
    prometheus,
    records,
    upstreamErrors,
    /** Sends a request for `path` (on the public origin) through the handler. */
    request(path: string, init: RequestInit = {}): Promise<Response> {
      return Promise.resolve(handler(new Request(PUBLIC + path, init), CONN));
    },
    /** The access record of the last request, once its body has been sent. */
    async lastRecord(): Promise<AccessRecord> {
      for (let i = 0; i < 100 && records.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert(records.length > 0, "no access record was written");
      return records.at(-1)!;
    },
    async close() {
      verifier.close();
      await prometheus.close();
    },
  };
}

const PROM = (u: string) => [
  route("/prometheus/", `${u}/`),
  route("/health", `${u}/-/healthy`, { auth: false }),
];

const T = needs("htpasswd");

Deno.test({
  ...T,
  name:
    "an anonymous request to a protected route gets 401 with the realm, and never reaches the upstream",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/api/v1/query?query=up");
      assertEquals(r.status, 401);
      assertEquals(r.headers.get("www-authenticate"), 'Basic realm="Prometheus", charset="UTF-8"');
      await r.body?.cancel();
      assertEquals(s.prometheus.seen.length, 0);
      const record = await s.lastRecord();
      assertEquals(record.status, 401);
      assertEquals(record.user, null);
      assertEquals(record.route, "/prometheus/");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "an anonymous request to an unknown path gets 401 too, so routes are not revealed",
  async fn() {
    const s = await setup(PROM);
    try {
      for (const path of ["/nope", "/", "/prometheusfoo", "/prometheus%2Fapi"]) {
        const r = await s.request(path);
        assertEquals(r.status, 401, path);
        assertEquals(r.headers.has("www-authenticate"), true, path);
        await r.body?.cancel();
      }
      assertEquals((await s.lastRecord()).route, null);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a wrong password or a garbled Authorization header gets 401",
  async fn() {
    const s = await setup(PROM);
    try {
      for (const authorization of [basic("admin", "wrong"), basic("eve", "secret"), "Basic !!"]) {
        const r = await s.request("/prometheus/api/v1/query", { headers: { authorization } });
        assertEquals(r.status, 401, authorization);
        await r.body?.cancel();
      }
      assertEquals(s.prometheus.seen.length, 0);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a public route answers without credentials",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/health");
      assertEquals(r.status, 200);
      assertEquals(await r.text(), "Prometheus Server is Healthy.\n");
      assertEquals(s.prometheus.seen.map((x) => x.path), ["/-/healthy"]);
      const record = await s.lastRecord();
      assertEquals(record.user, null);
      assertEquals(record.route, "/health");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "an authenticated request for an unknown path gets 404",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/nope", { headers: { authorization: ADMIN } });
      assertEquals(r.status, 404);
      await r.body?.cancel();
      const record = await s.lastRecord();
      assertEquals(record.status, 404);
      assertEquals(record.user, "admin");
      assertEquals(record.route, null);
      assertEquals(s.prometheus.seen.length, 0);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "GET /prometheus redirects to /prometheus/, keeping the query",
  async fn() {
    const s = await setup(PROM);
    try {
      const anonymous = await s.request("/prometheus");
      assertEquals(anonymous.status, 401, "even the redirect needs credentials");
      await anonymous.body?.cancel();
      const r = await s.request("/prometheus?x=1", { headers: { authorization: ADMIN } });
      assertEquals(r.status, 301);
      assertEquals(r.headers.get("location"), "/prometheus/?x=1");
      await r.body?.cancel();
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name:
    "an authenticated request reaches the upstream with the prefix replaced and proxy headers set",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/echo?query=up%7Bjob%3D%22node%22%7D", {
        headers: {
          authorization: ADMIN,
          "x-forwarded-for": "203.0.113.9",
          connection: "x-private",
          "x-private": "1",
          "proxy-authorization": "Basic cHJveHk6cHJveHk=",
        },
      });
      assertEquals(r.status, 200);
      const echoed = await r.json();
      assertEquals(echoed.path, "/echo?query=up%7Bjob%3D%22node%22%7D");
      assertEquals(echoed.headers["x-forwarded-for"], "203.0.113.9, 192.0.2.7");
      assertEquals(echoed.headers["x-forwarded-proto"], "http");
      assertEquals(echoed.headers["x-forwarded-host"], "promgate.test");
      assertEquals(echoed.headers["host"], `127.0.0.1:${s.prometheus.port}`);
      assertEquals(echoed.headers["authorization"], undefined, "credentials stay at the proxy");
      assertEquals(echoed.headers["x-private"], undefined);
      assertEquals(echoed.headers["proxy-authorization"], undefined);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a route with forwardAuthorization passes the client's credentials on",
  async fn() {
    const s = await setup((u) => [route("/p/", `${u}/`, { forwardAuthorization: true })]);
    try {
      const r = await s.request("/p/echo", { headers: { authorization: ADMIN } });
      assertEquals((await r.json()).headers["authorization"], ADMIN);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a POST body reaches the upstream intact",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/echo", {
        method: "POST",
        headers: { authorization: ADMIN, "content-type": "application/x-www-form-urlencoded" },
        body: "query=up&time=1700000000",
      });
      assertEquals((await r.json()).body, "query=up&time=1700000000");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name:
    "maps Prometheus' root-relative /graph/ redirect under /prometheus/, and not its next one twice",
  async fn() {
    const s = await setup(PROM);
    try {
      const first = await s.request("/prometheus/graph", { headers: { authorization: ADMIN } });
      assertEquals(first.status, 301);
      assertEquals(first.headers.get("location"), "/prometheus/graph/");
      await first.body?.cancel();
      const second = await s.request("/prometheus/graph/", { headers: { authorization: ADMIN } });
      assertEquals(second.status, 302);
      assertEquals(second.headers.get("location"), "/prometheus/classic/graph?g0.expr=up");
      await second.body?.cancel();
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a HEAD request gets the headers and no body",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/api/v1/query", {
        method: "HEAD",
        headers: { authorization: ADMIN },
      });
      assertEquals(r.status, 200);
      assertEquals(r.body, null);
      assertEquals(r.headers.get("content-type"), "application/json");
      assertEquals(s.prometheus.seen.at(-1)?.method, "HEAD");
      const record = await s.lastRecord();
      assertEquals(record.method, "HEAD");
      assertEquals(record.bytes, 0);

      const big = await s.request("/prometheus/big?n=1000000", {
        method: "HEAD",
        headers: { authorization: ADMIN },
      });
      assertEquals(big.body, null, "not even a streamed upstream body");
    } finally {
      await s.close();
    }
  },
});

for (const path of ["/gzip-stream", "/gzip-sized"]) {
  Deno.test({
    ...T,
    name:
      `an upstream gzip body (${path}) reaches a client that accepts gzip gzipped, and decodes to the original`,
    async fn() {
      const s = await setup(PROM);
      try {
        const r = await s.request(`/prometheus${path}`, {
          headers: { authorization: ADMIN, "accept-encoding": "gzip" },
        });
        assertEquals(r.status, 200);
        assertEquals(r.headers.get("content-encoding"), "gzip");
        const raw = await bytesOf(r);
        const length = r.headers.get("content-length");
        if (length !== null) assertEquals(Number(length), raw.byteLength, "Content-Length");
        assertEquals(await gunzip(raw), QUERY_RESULT);
        assertEquals((await s.lastRecord()).bytes, raw.byteLength, "bytes sent on the wire");
      } finally {
        await s.close();
      }
    },
  });

  for (const acceptEncoding of [null, "br", "gzip;q=0, br", "deflate"]) {
    Deno.test({
      ...T,
      name: `an upstream gzip body (${path}) reaches a client sending Accept-Encoding ${
        acceptEncoding ?? "(none)"
      } as identity with matching headers`,
      async fn() {
        const s = await setup(PROM);
        try {
          const headers = new Headers({ authorization: ADMIN });
          if (acceptEncoding !== null) headers.set("accept-encoding", acceptEncoding);
          const r = await s.request(`/prometheus${path}`, { headers });
          assertEquals(r.status, 200);
          assertEquals(r.headers.get("content-encoding"), null);
          const body = await bytesOf(r);
          assertEquals(body, QUERY_RESULT);
          const length = r.headers.get("content-length");
          if (length !== null) assertEquals(Number(length), body.byteLength, "Content-Length");
          assertEquals((await s.lastRecord()).bytes, body.byteLength);
        } finally {
          await s.close();
        }
      },
    });
  }
}

Deno.test({
  // BUG: lib/http/proxy.ts clientResponse/recode (lines 103-104, 126-138) trusts
  // `client.decodesContentEncoding("gzip")`, but Deno's fetch does not decode when the request
  // said `Accept-Encoding: identity` (DESIGN.md fact 2; promgate forwards the client's header).
  // An upstream that gzips anyway then reaches the client as raw gzip bytes with
  // Content-Encoding removed: expected a body equal to the original JSON (or gzip bytes labelled
  // gzip), got 1 KB of gzip labelled identity.
  ignore: false,
  name:
    "a client asking for identity still gets consistent bytes from an upstream that gzips anyway",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/gzip-always", {
        headers: { authorization: ADMIN, "accept-encoding": "identity" },
      });
      const body = await bytesOf(r);
      const coding = r.headers.get("content-encoding");
      const decoded = coding === "gzip" ? await gunzip(body) : body;
      assertEquals(
        dec.decode(decoded.slice(0, 20)),
        '{"status":"success",',
        `${body.byteLength} bytes labelled Content-Encoding ${coding}`,
      );
      assertEquals(decoded.byteLength, QUERY_RESULT.byteLength);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a deflate body (curl --compressed) passes through raw with its Content-Encoding",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/deflate", {
        headers: { authorization: ADMIN, "accept-encoding": "deflate, gzip, br, zstd" },
      });
      assertEquals(r.status, 200);
      assertEquals(r.headers.get("content-encoding"), "deflate");
      const raw = await bytesOf(r);
      assertEquals(raw, await compress(QUERY_RESULT, "deflate"));
      assertEquals(Number(r.headers.get("content-length")), raw.byteLength);
      const inflated = await new Response(
        new Blob([raw as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate")),
      ).arrayBuffer();
      assertEquals(new Uint8Array(inflated), QUERY_RESULT);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "the access record tells who asked for what, how it ended, and how many bytes were sent",
  async fn() {
    const s = await setup(PROM);
    try {
      const before = Date.now();
      const r = await s.request("/prometheus/api/v1/query?query=up", {
        headers: {
          authorization: ADMIN,
          referer: "http://promgate.test/prometheus/graph",
          "user-agent": "Grafana/11.0",
        },
      });
      const body = await bytesOf(r);
      assertEquals(body, QUERY_RESULT);
      const record = await s.lastRecord();
      assertEquals(s.records.length, 1);
      assertEquals(record.remoteAddr, "192.0.2.7");
      assertEquals(record.user, "admin");
      assertEquals(record.method, "GET");
      assertEquals(record.uri, "/prometheus/api/v1/query?query=up");
      assertEquals(record.protocol, "HTTP/1.1");
      assertEquals(record.status, 200);
      assertEquals(record.bytes, QUERY_RESULT.byteLength);
      assertEquals(record.referer, "http://promgate.test/prometheus/graph");
      assertEquals(record.userAgent, "Grafana/11.0");
      assertEquals(record.route, "/prometheus/");
      assertEquals(record.error, undefined);
      assert(record.durationMs >= 0 && record.durationMs < 10_000, `${record.durationMs} ms`);
      assert(Math.abs(record.time.getTime() - before) < 10_000);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a streamed body is logged once it has been read, with every byte counted",
  async fn() {
    const s = await setup(PROM);
    try {
      const n = 1_000_000; // above the 256 KiB coalescing limit: streamed
      const r = await s.request(`/prometheus/big?n=${n}`, { headers: { authorization: ADMIN } });
      assertEquals(r.status, 200);
      assertEquals(s.records.length, 0, "not logged before the body was sent");
      const body = await bytesOf(r);
      assertEquals(body.byteLength, n);
      const record = await s.lastRecord();
      assertEquals(record.bytes, n);
      assertEquals(record.status, 200);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a client that stops reading a streamed body is logged with the bytes it was sent",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/big?n=50000000", {
        headers: { authorization: ADMIN },
      });
      const reader = r.body!.getReader();
      let read = 0;
      while (read < 500_000) {
        const { value, done } = await reader.read();
        if (done) break;
        read += value.byteLength;
      }
      await reader.cancel();
      const record = await s.lastRecord();
      assertEquals(record.bytes, read);
      assertEquals(s.records.length, 1, "logged once");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "an upstream that refuses connections gets 502, with the reason logged",
  async fn() {
    const port = freePort();
    const s = await setup(() => [route("/down/", `http://127.0.0.1:${port}/`)]);
    try {
      const r = await s.request("/down/x", { headers: { authorization: ADMIN } });
      assertEquals(r.status, 502);
      await r.body?.cancel();
      const record = await s.lastRecord();
      assertEquals(record.status, 502);
      assertStringIncludes(record.error ?? "", `127.0.0.1:${port}`);
      assertEquals(s.upstreamErrors.length, 1);
      assertStringIncludes(s.upstreamErrors[0], "GET /down/x");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "an upstream that sends no headers within the route's timeout gets 504",
  async fn() {
    const s = await setup((u) => [route("/p/", `${u}/`, { timeoutMs: 50 })]);
    try {
      const r = await s.request("/p/slow", { headers: { authorization: ADMIN } });
      assertEquals(r.status, 504);
      await r.body?.cancel();
      assertStringIncludes((await s.lastRecord()).error ?? "", "0.05 s");
      // Let the upstream finish its slow answer before it is shut down.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a client that goes away before the upstream answers is logged as 499",
  async fn() {
    const s = await setup(PROM);
    try {
      const client = new AbortController();
      const pending = s.request("/prometheus/slow", {
        headers: { authorization: ADMIN },
        signal: client.signal,
      });
      while (s.prometheus.seen.length === 0) { // wait until the upstream is working on it
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      client.abort();
      const r = await pending;
      await r.body?.cancel();
      const record = await s.lastRecord();
      assertEquals(record.status, 499);
      assertStringIncludes(record.error ?? "", "client closed the connection");
      await new Promise((resolve) => setTimeout(resolve, 300)); // let the upstream finish
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  // BUG: lib/http/proxy.ts proxy() (lines 43-45) only listens for a future "abort" event on
  // request.signal; a client that disconnected while its credentials were being verified
  // (bcrypt takes tens of ms) has an already-aborted signal, the event never fires, and the
  // query is still sent to Prometheus: expected no upstream request and status 499, got the
  // upstream asked for /slow and the request logged as 200.
  ignore: false,
  name: "a client that went away while its password was checked sends nothing upstream",
  async fn() {
    const s = await setup(PROM);
    try {
      const client = new AbortController();
      const request = s.request("/prometheus/slow", {
        headers: { authorization: ADMIN },
        signal: client.signal,
      });
      client.abort(); // synchronously after the handler started: it is verifying the password
      const r = await request;
      await r.body?.cancel().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 400));
      assertEquals((await s.lastRecord()).status, 499);
      assertEquals(s.prometheus.seen.map((x) => x.path), []);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "with only public routes no credentials are asked for, and unknown paths get 404",
  async fn() {
    const s = await setup((u) => [route("/health", `${u}/-/healthy`, { auth: false })], {
      withAuthenticator: false,
    });
    try {
      const ok = await s.request("/health");
      assertEquals(ok.status, 200);
      await ok.body?.cancel();
      const missing = await s.request("/nope");
      assertEquals(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  // Guards a latent fail-open: a state with `authenticator: null` (built when no route needs auth)
  // must never serve a route with `auth: true` anonymously, whatever builds the state
  // (lib/http/authenticate.ts needsLogin()). lib/config/load.ts also refuses such a config.
  ignore: false,
  name: "a protected route is never served anonymously, even when no authenticator was set up",
  async fn() {
    const s = await setup(PROM, { withAuthenticator: false });
    try {
      const r = await s.request("/prometheus/api/v1/query");
      await r.body?.cancel();
      assert(r.status === 401 || r.status === 500, `got ${r.status}`);
      assertEquals(s.prometheus.seen.length, 0);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  // BUG: lib/http/proxy.ts clientResponse (line 111) awaits coalesceBody() outside any try, so an
  // upstream body that fails while being gathered (connection reset after a few bytes) makes
  // proxy() and the handler reject with "TypeError: error reading a body from connection":
  // the runtime's onError answers 500 "internal error" and no access-log line is written.
  // Expected a 502 with the reason in the access record, as for any other upstream failure.
  ignore: false,
  name: "an upstream that breaks off a small body is answered 502, or its stream is cut cleanly",
  async fn() {
    const s = await setup(PROM);
    try {
      // Whether the break lands while promgate still gathers the body (then it can still answer
      // 502) or after it committed to streaming (then the client sees the stream end in an error)
      // depends on timing; either is right, a 500 or a silently truncated 200 is not.
      const r = await s.request("/prometheus/broken", { headers: { authorization: ADMIN } });
      if (r.status === 502) {
        await r.body?.cancel();
        const record = await s.lastRecord();
        assertEquals(record.status, 502);
        assert(record.error !== undefined, "the reason is logged");
      } else {
        assertEquals(r.status, 200);
        await assertRejects(() => r.arrayBuffer());
      }
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "upstream error statuses and bodies reach the client unchanged",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/missing", { headers: { authorization: ADMIN } });
      assertEquals(r.status, 404);
      assertEquals(await r.text(), "404 page not found\n");
      const record = await s.lastRecord();
      assertEquals(record.status, 404);
      assertEquals(record.error, undefined);
      assertEquals(record.bytes, "404 page not found\n".length);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name: "a small streamed (chunked) upstream body reaches the client whole, with its exact length",
  async fn() {
    const s = await setup(PROM);
    try {
      const r = await s.request("/prometheus/gzip-stream", { headers: { authorization: ADMIN } });
      const body = await bytesOf(r);
      assertEquals(body, QUERY_RESULT);
      assertEquals(r.headers.get("content-length"), String(QUERY_RESULT.byteLength));
      assertEquals(dec.decode(body.slice(0, 20)), '{"status":"success",');
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  // BUG: lib/http/proxy.ts clientResponse (lines 103-108): for HEAD the upstream body is null, so
  // recode() never runs and the upstream's `Content-Encoding: gzip` and compressed
  // `Content-Length` go out unchanged, while the same GET is re-encoded. Without
  // Accept-Encoding: HEAD says `content-encoding: gzip` (GET: none, identity body); with
  // `Accept-Encoding: gzip`: HEAD says `content-length: 1216` (the upstream's), GET sends 1229.
  ignore: false,
  name: "a HEAD response announces the same encoding and length a GET would get",
  async fn() {
    const s = await setup(PROM);
    try {
      for (const acceptEncoding of [null, "gzip"]) {
        const headers = new Headers({ authorization: ADMIN });
        if (acceptEncoding !== null) headers.set("accept-encoding", acceptEncoding);
        const get = await s.request("/prometheus/gzip-sized", { headers });
        await get.body?.cancel();
        const head = await s.request("/prometheus/gzip-sized", { method: "HEAD", headers });
        assertEquals(
          head.headers.get("content-encoding"),
          get.headers.get("content-encoding"),
          `Content-Encoding with Accept-Encoding ${acceptEncoding}`,
        );
        const headLength = head.headers.get("content-length");
        const getLength = get.headers.get("content-length");
        if (headLength !== null && getLength !== null) {
          assertEquals(
            headLength,
            getLength,
            `Content-Length with Accept-Encoding ${acceptEncoding}`,
          );
        }
      }
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  ...T,
  name:
    "a read-only route refuses writes on the path the upstream receives, whatever its prefix there",
  async fn() {
    const readOnly = { policy: { allow: null, readOnly: true, admins: [] } };
    const s = await setup((u) => [
      route("/", `${u}/`, readOnly),
      route("/promapi/", `${u}/api/`, readOnly),
    ]);
    try {
      const auth = { authorization: ADMIN };
      for (
        const path of [
          "/prometheus/api/v1/admin/tsdb/snapshot",
          "/prometheus/-/quit",
          "/prometheus/-/reload",
          "/promapi/v1/admin/tsdb/snapshot",
          "/promapi/v1/write",
        ]
      ) {
        const r = await s.request(path, { method: "POST", headers: auth });
        assertEquals(r.status, 403, path);
        await r.body?.cancel();
      }
      assertEquals(s.prometheus.seen, []);
      const query = await s.request("/promapi/v1/query", {
        method: "POST",
        headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
        body: "query=up",
      });
      assertEquals(query.status, 200);
      await query.body?.cancel();
      assertEquals(s.prometheus.seen.map((r) => `${r.method} ${r.path}`), ["POST /api/v1/query"]);
    } finally {
      await s.close();
    }
  },
});
