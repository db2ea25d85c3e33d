/**
 * Issue 12 item 8: HTTP/1.1 pipelining, more than one request sent before the first is answered.
 *
 * Deno.serve answers them in order, as nginx does. Bun 1.4.5's server (uWebSockets) supports only
 * "sync pipelining": it answers a pipelined request when the response ahead of it was complete
 * (written out) before it parsed the next request head, which holds for the small answers promgate
 * makes without waiting on anything (401, 301). Otherwise it closes the connection as soon as it
 * parses the next head (packages/bun-uws/src/HttpContext.h: "denying async pipelining"): without a
 * byte when the response ahead waits for the upstream, or in the middle of a response still being
 * sent. A bare `Bun.serve` does the same (tests/bun_test.ts); promgate's adapter adds nothing to it
 * and cannot avoid it. What the tests hold every runtime to:
 *
 * - no hang: every connection gets all its answers, or is closed, within a second on Bun;
 * - answers in order, never one passed off as complete when it was cut (its framing shows it);
 * - after a close, the client's retry on a new connection (RFC 9112 9.3.2) is answered;
 * - Deno answers everything; so does Bun, for what promgate answers itself;
 * - the upstream exchange of a request whose connection Bun dropped does not run on.
 *
 * Run against the real process on Deno, Bun and the binary (PROMGATE_CMD; deno task test:e2e).
 */
import { concatBytes } from "../../lib/bytes.ts";
import { assert, assertEquals } from "../_assert.ts";
import { makeCert, needs, runPromgate, startUpstream, tempDir } from "../_util.ts";
import { type Gate, secretBasic, startGate, startRecorder } from "./_helpers.ts";

const encoder = new TextEncoder();

/** How long a connection may stay open with answers missing before the test calls it a hang. */
const HANG_MS = 5000;
/** How soon Bun closes a connection it refuses to pipeline on (measured: 2-20 ms; TLS ~95 ms). */
const PROMPT_CLOSE_MS = 1000;

/** One response as read off a pipelined connection. */
interface Answer {
  readonly status: number;
  readonly body: string;
}

/** What one pipelined connection got. */
interface Exchange {
  /** The complete responses, in the order they came. */
  readonly answers: Answer[];
  /** Bytes after the last complete response (a cut response shows here). */
  readonly leftover: number;
  /** Whether the server closed the connection (EOF or reset) before the test stopped reading. */
  readonly closed: boolean;
  /** Milliseconds from the write to the last answer or the close. */
  readonly ms: number;
}

/** A GET for `path` with optional extra header lines. */
function get(path: string, ...headers: string[]): string {
  return [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", ...headers, "", ""].join("\r\n");
}

const latin1 = new TextDecoder("latin1");

/** Where the bytes CR LF (followed by a second CR LF if `twice`) start in `bytes` from `from`. */
function crlfAt(bytes: Uint8Array, from: number, twice = false): number {
  for (let i = from; i + (twice ? 3 : 1) < bytes.length; i++) {
    if (bytes[i] !== 13 || bytes[i + 1] !== 10) continue;
    if (!twice || (bytes[i + 2] === 13 && bytes[i + 3] === 10)) return i;
  }
  return -1;
}

/**
 * The next complete response at the start of `bytes` (Content-Length or chunked framing) and its
 * length; or, when it is not all there yet, how many bytes must have come before it can be.
 */
function nextResponse(bytes: Uint8Array): { answer: Answer; used: number } | { need: number } {
  const headEnd = crlfAt(bytes, 0, true);
  if (headEnd < 0) return { need: bytes.length + 1 };
  const [statusLine, ...lines] = latin1.decode(bytes.subarray(0, headEnd)).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const header = (name: string) =>
    lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const start = headEnd + 4;
  if (header("transfer-encoding")?.toLowerCase() !== "chunked") {
    const end = start + Number(header("content-length") ?? 0);
    if (bytes.length < end) return { need: end };
    return { answer: { status, body: latin1.decode(bytes.subarray(start, end)) }, used: end };
  }
  const body: Uint8Array[] = [];
  for (let at = start;;) {
    const sizeEnd = crlfAt(bytes, at);
    if (sizeEnd < 0) return { need: bytes.length + 1 };
    const size = parseInt(latin1.decode(bytes.subarray(at, sizeEnd)), 16);
    const next = sizeEnd + 2 + size + 2;
    if (bytes.length < next) return { need: next };
    if (size === 0) {
      return { answer: { status, body: latin1.decode(concatBytes(body)) }, used: next };
    }
    body.push(bytes.subarray(sizeEnd + 2, sizeEnd + 2 + size));
    at = next;
  }
}

/** Opens a connection to the gate: plain, or TLS offering only HTTP/1.1 (pipelining is h1's). */
function connect(gate: Gate, caCert: string | null): Promise<Deno.Conn> {
  const target = { hostname: "127.0.0.1", port: gate.port };
  return caCert === null
    ? Deno.connect(target)
    : Deno.connectTls({ ...target, caCerts: [caCert], alpnProtocols: ["http/1.1"] });
}

/** Options of {@linkcode pipeline}. */
interface PipelineOptions {
  /** TLS (HTTP/1.1 by ALPN) trusting this certificate; plain HTTP when absent. */
  readonly caCert?: string | null;
  /** A request written once the first bytes of the first answer have come. */
  readonly later?: string;
}

/**
 * Sends `requests` in one write on a new connection (then `options.later`, if given) and reads
 * until all are answered, the server closes, or {@link HANG_MS} passes.
 */
async function pipeline(
  gate: Gate,
  requests: string[],
  options: PipelineOptions = {},
): Promise<Exchange> {
  const conn = await connect(gate, options.caCert ?? null);
  const expected = requests.length + (options.later ? 1 : 0);
  const answers: Answer[] = [];
  let chunks: Uint8Array[] = [];
  let size = 0;
  // Parsed again only once enough bytes have come for it to get further, so a large body is cheap.
  let parseAt = 0;
  const parse = () => {
    let pending = concatBytes(chunks);
    while (true) {
      const next = nextResponse(pending);
      if ("need" in next) {
        parseAt = next.need;
        break;
      }
      answers.push(next.answer);
      pending = pending.slice(next.used);
    }
    chunks = [pending];
    size = pending.byteLength;
  };
  let closed = false;
  const timer = setTimeout(() => conn.close(), HANG_MS);
  const started = performance.now();
  try {
    await conn.write(encoder.encode(requests.join("")));
    const buffer = new Uint8Array(64 * 1024);
    let later = options.later;
    while (answers.length < expected) {
      const n = await conn.read(buffer);
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buffer.slice(0, n));
      size += n;
      if (later) {
        await conn.write(encoder.encode(later));
        later = undefined;
      }
      if (size >= parseAt) parse();
    }
  } catch (error) {
    // A reset is a close; the timer closing the connection under the read is a hang.
    closed =
      !(error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted);
  }
  parse();
  const ms = performance.now() - started;
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed by the timer */ }
  return { answers, leftover: size, closed, ms };
}

/** The runtime under test, from `promgate --version` ("promgate 1.2.3 (bun 1.4.5, ...)"). */
async function runtimeName(): Promise<string> {
  const r = await runPromgate(["--version"]);
  const name = /\((deno|bun) /.exec(r.stdout)?.[1];
  assert(name, `promgate --version printed no runtime: ${r.stdout}${r.stderr}`);
  return name;
}

/** Asserts `got` answered the first requests of `paths` in order, with the recorder's body. */
function assertAnsweredInOrder(label: string, got: Exchange, paths: string[], status = 200): void {
  const answered = paths.slice(0, got.answers.length);
  assertEquals(
    got.answers.map((a) => a.status),
    answered.map(() => status),
    `${label}: statuses (leftover ${got.leftover} bytes, closed ${got.closed})`,
  );
  if (status === 200) {
    assertEquals(got.answers.map((a) => a.body), answered.map(() => "ok\n"), `${label}: bodies`);
  }
}

/**
 * Pipelines GETs to a route and holds the runtime to what it promises (see the file's comment):
 * all answered in order (Deno); or on Bun, the first ones answered and then the connection closed
 * at once, with the rest answered when the client retries them on a new connection.
 */
async function checkRoutePipelining(caCert: string | null, gate: Gate, seen: () => string[]) {
  const runtime = await runtimeName();
  const paths = ["/open/a", "/open/b", "/open/c"];
  const label = `${runtime}${caCert ? " over TLS" : ""}`;
  const got = await pipeline(gate, paths.map((p) => get(p)), { caCert });
  const all = got.answers.length === paths.length;
  assert(
    all || got.closed,
    `${label}: ${got.answers.length} of ${paths.length} answers and the connection still open ` +
      `after ${HANG_MS} ms (a hang)`,
  );
  assertEquals(got.leftover, 0, `${label}: a response was cut (${got.leftover} bytes left over)`);
  assertAnsweredInOrder(label, got, paths);
  if (runtime === "deno") {
    assert(all, `${label}: ${got.answers.length} of ${paths.length} answered`);
    assertEquals(seen(), paths, `${label}: what the upstream received`);
  }
  if (all) return;
  // Refused: at once, so that the client retries the rest on a new connection, which works.
  assert(got.ms < PROMPT_CLOSE_MS, `${label}: closed only after ${got.ms.toFixed(0)} ms`);
  const rest = paths.slice(got.answers.length);
  for (const path of rest) {
    const retry = await pipeline(gate, [get(path)], { caCert });
    assertAnsweredInOrder(`${label}, retrying ${path}`, retry, [path]);
    assertEquals(retry.answers.length, 1, `${label}: the retry of ${path} was answered`);
  }
}

/** A gate with a public route to a recording upstream, and `extra` config. */
async function gateWithRoute(extra: Record<string, unknown> = {}) {
  const upstream = startRecorder();
  const gate = await startGate(
    { admin: "pipelining secret" },
    [
      { path: "/open/", upstream: `${upstream.url}/open/`, auth: false },
      { path: "/", upstream: `${upstream.url}/` },
    ],
    { accessLog: false, ...extra },
  );
  const seen = () => upstream.seen.map((s) => s.target);
  return { upstream, gate, seen };
}

Deno.test({
  ...needs("htpasswd"),
  name: "pipelined requests to a route are all answered in order, or refused at once without a " +
    "byte (Bun) and then answered on a new connection; never a hang or a cut response",
  async fn() {
    const { upstream, gate, seen } = await gateWithRoute();
    try {
      await checkRoutePipelining(null, gate, seen);
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd", "openssl"),
  name: "pipelined requests over TLS (HTTP/1.1) are all answered in order, or refused at once " +
    "without a byte (Bun) and then answered on a new connection",
  async fn() {
    const certDir = await tempDir();
    const tls = await makeCert(certDir);
    const caCert = await Deno.readTextFile(tls.certFile);
    const { upstream, gate, seen } = await gateWithRoute({ tls });
    try {
      await checkRoutePipelining(caCert, gate, seen);
    } finally {
      await gate.close();
      await upstream.close();
      await Deno.remove(certDir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "pipelined requests that promgate answers itself (401 to anonymous clients, a route's " +
    "301) are all answered in order on every runtime",
  async fn() {
    const { upstream, gate, seen } = await gateWithRoute();
    try {
      const anonymous = ["/api/v1/query?query=up", "/graph", "/nowhere"];
      const got = await pipeline(gate, anonymous.map((p) => get(p)));
      assertEquals(got.answers.length, anonymous.length, "anonymous: all answered");
      assertAnsweredInOrder("anonymous", got, anonymous, 401);
      assertEquals(got.closed, false, "anonymous: the connection stays open");
      const redirect = await pipeline(gate, [get("/open"), get("/open")]);
      assertEquals(redirect.answers.map((a) => a.status), [301, 301], "the route's 301s");
      assertEquals(seen(), [], "nothing reached the upstream");
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name:
    "a request pipelined behind a logged-in request whose upstream is slow does not leave the " +
    "upstream exchange running after the connection is gone",
  async fn() {
    let aborted = 0;
    let started = 0;
    const slow = startUpstream(async (req) => {
      if (!req.url.endsWith("/slow")) return new Response("ok\n");
      started++;
      const gone = new Promise<void>((resolve) =>
        req.signal.addEventListener("abort", () => resolve(), { once: true })
      );
      const answered = await Promise.race([
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 1500)),
        gone.then(() => false),
      ]);
      if (!answered) aborted++;
      return new Response("ok\n");
    });
    const authorization = secretBasic("admin", "pipelining secret");
    const gate = await startGate(
      { admin: "pipelining secret" },
      [{ path: "/", upstream: `${slow.url}/` }],
      { accessLog: false },
    );
    try {
      const runtime = await runtimeName();
      const login = `Authorization: ${authorization}`;
      // Log in once on its own, so that the pipelined requests meet a cached login.
      assertEquals((await pipeline(gate, [get("/warm", login)])).answers[0]?.status, 200);
      const got = await pipeline(gate, [get("/slow", login), get("/next", login)]);
      assert(got.answers.length === 2 || got.closed, `${runtime}: a hang`);
      assertEquals(got.leftover, 0, `${runtime}: a cut response`);
      if (got.answers.length === 0) {
        // The upstream exchange, if it began, must be aborted, not left to run its 1.5 s.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assertEquals(aborted, started, `${runtime}: upstream exchanges aborted`);
      } else {
        assertEquals(got.answers.map((a) => a.status), [200, 200], `${runtime}: statuses`);
      }
      assert(runtime === "bun" || got.answers.length === 2, `${runtime}: answers`);
    } finally {
      await gate.close();
      await slow.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "a response still being sent when a pipelined request arrives is sent whole and followed " +
    "by the next answer, or cut short of its own length (Bun); never passed off as complete",
  async fn() {
    const BIG = 16 * 1024 * 1024;
    const body = new Uint8Array(BIG).map((_, i) => 97 + (i % 26));
    const upstream = startUpstream((req) =>
      new Response(req.url.endsWith("/big") ? body : "ok\n", {
        headers: { "content-type": "text/plain" },
      })
    );
    const gate = await startGate({}, [{ path: "/", upstream: `${upstream.url}/`, auth: false }], {
      accessLog: false,
    });
    try {
      const runtime = await runtimeName();
      const got = await pipeline(gate, [get("/big")], { later: get("/next") });
      assert(got.answers.length === 2 || got.closed, `${runtime}: a hang`);
      if (got.answers.length === 2 || runtime !== "bun") {
        assertEquals(got.answers.map((a) => a.status), [200, 200], `${runtime}: statuses`);
        assertEquals(got.answers[0].body.length, BIG, `${runtime}: the large body's length`);
        assertEquals(got.answers[1].body, "ok\n", `${runtime}: the second answer`);
      } else {
        // Bun 1.4.5: closed in the middle of the first body; its framing shows it is short.
        assertEquals(got.answers.length, 0, "bun: no answer parses as complete");
        assert(got.leftover > 0 && got.leftover < BIG, `bun: ${got.leftover} bytes of the body`);
        const retry = await pipeline(gate, [get("/big")]);
        assertEquals(retry.answers[0]?.body.length, BIG, "bun: the retry's body");
      }
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "the access log says 499 for a request whose connection was gone before its answer " +
    "(Bun drops a connection when a request is pipelined behind one still waiting)",
  async fn() {
    const upstream = startUpstream(() => new Response("ok\n"));
    const gate = await startGate({}, [{ path: "/", upstream: `${upstream.url}/`, auth: false }]);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gate.port });
      const two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
      await conn.write(new TextEncoder().encode(two));
      const buffer = new Uint8Array(4096);
      let bytes = 0;
      try {
        while (bytes < 200) {
          const n = await conn.read(buffer);
          if (n === null) break;
          bytes += n;
        }
      } catch { /* reset */ }
      conn.close();
      const line = await gate.waitForStdout(/"GET \/a /);
      const status = Number(/" (\d{3}) /.exec(line)?.[1]);
      // Answered (Deno): 200. Dropped without a byte (Bun): 499, as nginx logs a client gone.
      assertEquals(status, bytes === 0 ? 499 : 200, `the client got ${bytes} bytes; log: ${line}`);
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});
