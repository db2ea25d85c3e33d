/**
 * Helpers of the security suite: a raw-socket HTTP/1.1 client (for request targets and headers
 * that fetch or curl would normalize or refuse to send), an upstream that records every raw path
 * it receives, and a registry of the secrets a test file used, which every promgate process the
 * file starts is checked against when it stops. Everything listens on and connects to 127.0.0.1.
 */
import { concatBytes } from "../../lib/bytes.ts";
import { assert } from "../_assert.ts";
import {
  basic,
  makeHtpasswd,
  type Promgate,
  startPromgate,
  startUpstream,
  tempDir,
  type Upstream,
} from "../_util.ts";

/** A response as the raw client read it. */
export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased; the last value wins. */
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** Latin-1 encoding: every char code 0–255 becomes one byte, so tests can send any byte. */
export function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/**
 * Sends `head` (request line and headers, without the final CRLF CRLF) on a new connection with
 * `Connection: close` and reads the whole answer. Status 0 when the server closed without one.
 */
export async function rawRequest(
  port: number,
  head: string,
  timeoutMs = 5000,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(bytesOf(head + "\r\nConnection: close\r\n\r\n"));
    const buf = new Uint8Array(16384);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch { /* reset or timed out: parse what arrived */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return parseResponse(new TextDecoder("latin1").decode(concatBytes(chunks)));
}

/** A `GET target HTTP/1.1` with `Host` (omitted when null) and extra header lines. */
export function rawGet(
  port: number,
  target: string,
  options: { host?: string | null; headers?: string[]; version?: string } = {},
): Promise<RawResponse> {
  const host = options.host === undefined ? `127.0.0.1:${port}` : options.host;
  const lines = [`GET ${target} ${options.version ?? "HTTP/1.1"}`];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push(...(options.headers ?? []));
  return rawRequest(port, lines.join("\r\n"));
}

function parseResponse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split("\r\n");
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  return { status, headers, body: end < 0 ? "" : text.slice(end + 4) };
}

/** One request as the recording upstream saw it. */
export interface Seen {
  /** The raw path and query exactly as they arrived (not re-parsed by a URL parser). */
  readonly target: string;
  readonly headers: Headers;
}

/** An upstream that answers 200 "ok" to everything and records every request's raw target. */
export function startRecorder(options: { server?: string } = {}): Upstream & { seen: Seen[] } {
  const seen: Seen[] = [];
  const upstream = startUpstream((req) => {
    seen.push({ target: req.url.replace(/^[a-z]+:\/\/[^/]*/i, ""), headers: req.headers });
    const headers: Record<string, string> = { "content-type": "text/plain" };
    if (options.server) headers.server = options.server;
    headers["x-powered-by"] = "TestStack/1.2.3";
    return new Response("ok\n", { headers });
  });
  return Object.assign(upstream, { seen });
}

// ---------------------------------------------------------------------------------------------
// Secrets: every password and Authorization value a test file sends is registered here, and
// every promgate process started through startGate is checked for all of them when it stops.

const secrets = new Set<string>();

/** Registers `value` as a secret that must never appear in promgate's output; returns it. */
export function secret(value: string): string {
  if (value.length >= 4) secrets.add(value);
  return value;
}

/** `basic(user, password)`, with the password and the header value registered as secrets. */
export function secretBasic(user: string, password: string): string {
  secret(password);
  const header = secret(basic(user, password));
  secret(header.slice("Basic ".length));
  return header;
}

/** The secrets registered so far in this test file. */
export function registeredSecrets(): readonly string[] {
  return [...secrets];
}

/** Which of `values` occur in `output` (each checked as a substring). */
export function leaked(output: string, values: Iterable<string>): string[] {
  const found: string[] = [];
  for (const v of values) if (output.includes(v)) found.push(v);
  return found;
}

/** A promgate process plus the directory it runs in; `stop()` also checks it leaked nothing. */
export interface Gate extends Promgate {
  readonly dir: string;
  /** Stops promgate (expecting exit 0), removes its directory, and asserts no secret leaked. */
  close(): Promise<void>;
  /** Everything promgate printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Writes an htpasswd (bcrypt cost 5, made by Apache's htpasswd) with `users`, registers their
 * passwords as secrets, and starts promgate on 127.0.0.1 with `routes` (and `extra` config).
 */
export async function startGate(
  users: Record<string, string>,
  routes: unknown[],
  extra: Record<string, unknown> = {},
): Promise<Gate> {
  const dir = await tempDir();
  for (const password of Object.values(users)) secret(password);
  await makeHtpasswd(`${dir}/.htpasswd`, users);
  const hashes = (await Deno.readTextFile(`${dir}/.htpasswd`)).split("\n")
    .map((line) => line.slice(line.indexOf(":") + 1)).filter((h) => h.length > 0);
  for (const hash of hashes) secret(hash);
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    routes,
    ...extra,
  });
  const output = () => gate.stdout() + gate.stderr();
  return Object.assign(gate, {
    dir,
    output,
    async close() {
      const code = await gate.stop();
      await Deno.remove(dir, { recursive: true });
      const found = leaked(output(), registeredSecrets());
      // Say how many, never which: the message itself must not print a secret.
      assert(found.length === 0, `${found.length} secret(s) appeared in promgate's output`);
      assert(code === 0, `promgate exited with ${code}`);
    },
  });
}

/**
 * Seconds from `since` (a performance.now() time) until the server closes `conn`, reading and
 * dropping what it sends; a reset counts as closed.
 */
export async function secondsUntilClosed(conn: Deno.Conn, since: number): Promise<number> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (await conn.read(buffer) !== null) { /* drain */ }
  } catch { /* reset: closed too */ }
  return (performance.now() - since) / 1000;
}

/** Median of `xs` (not sorted in place). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The `p`-th percentile (0–100) of `xs`, nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export { tempDir };
