/**
 * Issue 6 item 2: random and malformed Authorization headers get 401 (or 400 from the HTTP
 * layer) — never a 5xx, a crash, or a log line holding the value. 100,000 go through the
 * in-process handler (the same createHandler the server runs, with real users and the real
 * verifier), and a few thousand, plus the bytes only a raw socket can send (NUL, CR, obs-fold,
 * 64 KiB), through the real promgate process. The seed is printed so a failure can be replayed.
 */
import { configWith, routeConfig } from "../_config.ts";
import { assert, assertEquals } from "../_assert.ts";
import { basic, needs, startUpstream } from "../_util.ts";
import type { AccessLog, AccessRecord } from "../../lib/http/access_log.ts";
import { Authenticator } from "../../lib/auth/basic.ts";
import type { RouteConfig } from "../../lib/config/types.ts";
import { createHandler, MAX_HEADER_BYTES } from "../../lib/http/handler.ts";
import { parseHtpasswd } from "../../lib/auth/htpasswd.ts";
import { createVerifier } from "../../lib/auth/password/verifier.ts";
import { denoRuntime } from "../../lib/runtime/deno/adapter.ts";
import { run } from "../_util.ts";
import { rawGet, secret, startGate, startRecorder } from "./_helpers.ts";
import { prng } from "../_util.ts";

const IN_PROCESS = 100_000;
const REAL_PROCESS = 3_000;
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const SCHEMES = [
  "Basic",
  "basic",
  "BASIC",
  "bAsIc",
  "Bearer",
  "Digest",
  "Negotiate",
  "NTLM",
  "Basicx",
  "Basic,",
  "Basic:",
];

/** Random headers; `secrets` collects the values (and passwords) long enough to grep for. */
class Fuzzer {
  readonly #r: () => number;
  constructor(seed: number) {
    this.#r = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.#r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chars(n: number, from: number, to: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(from + this.int(to - from + 1));
    return s;
  }
  word(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += this.pick(B64.slice(0, 62).split(""));
    return s;
  }
  b64bytes(n: number): string {
    return btoa(this.chars(n, 0, 255));
  }
  utf8b64(text: string): string {
    return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  }
  user(): string {
    return this.pick([
      "admin",
      "viewer",
      "nobody",
      "",
      "admin ",
      " admin",
      "ADMIN",
      "é",
      "a\u0000b",
      "x".repeat(300),
      this.word(8),
    ]);
  }
  /**
   * One header value a Headers object accepts (no NUL, CR or LF, at most U+00FF), and the secret
   * (a random password of 16+ characters) it carries, if any.
   */
  header(): { value: string; password?: string } {
    const password = this.word(16 + this.int(16));
    switch (this.int(12)) {
      case 0: // random printable ASCII
        return { value: this.chars(this.int(200), 0x20, 0x7e) };
      case 1: // Latin-1 bytes: not UTF-8 on the wire
        return { value: "Basic " + this.chars(1 + this.int(100), 0x20, 0xff) };
      case 2: // valid base64 of random bytes: usually not UTF-8, often no colon
        return { value: "Basic " + this.b64bytes(this.int(120)) };
      case 3: // well-formed credentials of known, unknown and odd users
        return { value: "Basic " + this.utf8b64(`${this.user()}:${password}`), password };
      case 4: { // broken base64: bad characters, bad padding, truncated
        const good = this.utf8b64(`admin:${password}`);
        const cut = good.slice(0, Math.max(1, good.length - 1 - this.int(3)));
        const junk = this.pick(["!", "-", "_", "=", "==", "===", " ", "\t", "*", "%3D", ".", "\\"]);
        const at = this.int(cut.length);
        return { value: "Basic " + cut.slice(0, at) + junk + cut.slice(at), password };
      }
      case 5: // other schemes and separators
        return {
          value: this.pick(SCHEMES) + this.pick(["", " ", "  ", "\t", "=", ","]) +
            this.utf8b64(`admin:${password}`),
          password,
        };
      case 6: { // huge, over the 4 KiB limit (up to 16 KiB, 1 in 50 up to 64 KiB)
        let credential = `admin:${password}`;
        while (credential.length % 3) credential += "a";
        const pad = "YWFh".repeat(750 + (this.int(50) === 0 ? this.int(15_500) : this.int(3_300)));
        return { value: "Basic " + btoa(credential) + pad, password };
      }
      case 7: // many spaces around and inside
        return {
          value: "Basic" + " ".repeat(1 + this.int(300)) + this.utf8b64(`admin:${password}`) +
            " ".repeat(this.int(300)),
          password,
        };
      case 8: // no colon, empty user, empty password, controls in the decoded text
        return {
          value: "Basic " + this.utf8b64(this.pick([
            password,
            `:${password}`,
            "admin:",
            ":",
            "::",
            `admin\u0000:${password}`,
            `\u0000:\u0000`,
            `ad\nmin:${password}`,
            `admin:${password}\r\n`,
            `\u001b[31madmin:${password}`,
          ])),
          password,
        };
      case 9: // several credentials in one value
        return {
          value: `Basic ${this.utf8b64(`admin:${password}`)}, Basic ${this.b64bytes(12)}`,
          password,
        };
      case 10: // base64url alphabet, missing padding
        return {
          value: "Basic " +
            this.utf8b64(`viewer:${password}??>>`).replaceAll("+", "-").replaceAll("/", "_")
              .replace(/=+$/, ""),
          password,
        };
      default: // just the scheme, or just a token
        return {
          value: this.pick(["Basic", "Basic ", "Basic =", "Basic ====", "=", this.word(40)]),
        };
    }
  }
}

const ROUTES = (upstream: string): RouteConfig[] => [
  routeConfig("/prometheus/", `${upstream}/`, { timeoutMs: 5000 }),
];

/** Users as Apache's htpasswd makes them: {SHA} and apr1, quick enough for 100,000 checks. */
async function fastHtpasswd(): Promise<string> {
  const lines: string[] = [];
  for (
    const [flag, user, pw] of [["-nbs", "admin", "fuzz-Admin-pw-1"], [
      "-nbm",
      "viewer",
      "fuzz-Viewer-pw-2",
    ]]
  ) {
    secret(pw);
    const r = await run("htpasswd", [flag, user, pw]);
    assertEquals(r.code, 0, r.stderr);
    lines.push(r.stdout.trim());
  }
  return lines.join("\n") + "\n";
}

Deno.test({
  ...needs("htpasswd"),
  name:
    `${IN_PROCESS} fuzzed Authorization headers through the handler get only 401, or 431 when oversized`,
  // The op sanitizer's per-op bookkeeping makes 100,000 requests several times slower; the
  // upstream and verifier are closed in `finally` regardless.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const upstream = startUpstream(() => new Response("must not be reached", { status: 500 }));
    const verifier = createVerifier();
    const authenticator = new Authenticator(
      parseHtpasswd(await fastHtpasswd(), "fuzz.htpasswd"),
      verifier,
    );
    const config = configWith(ROUTES(upstream.url), {
      file: "/fuzz/config.json",
      auth: { realm: "Prometheus", htpasswdFile: "/fuzz/.htpasswd", throttle: null },
    });
    let logged = "";
    const accessLog: AccessLog = {
      write: (r: AccessRecord) => void (logged = JSON.stringify(r)),
      close: () => Promise.resolve(),
    };
    const lines: string[] = [];
    const handler = createHandler({
      state: () => ({ config, authenticator, accessLog }),
      client: denoRuntime,
      onUpstreamError: (line) => void lines.push(line),
      onSecurityEvent: (line) => void lines.push(line),
      throttle: null, // throttling has its own tests; here every header must be checked
    });
    const fuzz = new Fuzzer(SEED);
    const statuses = new Map<number, number>();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < IN_PROCESS) {
        const i = next++;
        const { value, password } = fuzz.header();
        const req = new Request("http://promgate.test/prometheus/api/v1/query?query=up", {
          headers: { authorization: value },
        });
        const r = await handler(req, {
          address: `10.${i >> 16 & 255}.${i >> 8 & 255}.${i & 255}`,
          protocol: "HTTP/1.1",
        });
        await r.body?.cancel();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        // Headers over promgate's limit are 431 before any check (the request's own headers
        // are tiny, so the Authorization value alone decides); everything else 401 or 400.
        const oversized = value.length + "authorization".length + 4 > MAX_HEADER_BYTES;
        const allowed = oversized ? [431] : [401, 400];
        if (!allowed.includes(r.status)) {
          throw new Error(`seed ${SEED}, header #${i} (${value.length} chars): status ${r.status}`);
        }
        const trimmed = value.trim();
        if (trimmed.length >= 12 && logged.includes(trimmed)) {
          throw new Error(
            `seed ${SEED}, header #${i}: the Authorization value reached the access log`,
          );
        }
        if (password && logged.includes(password)) {
          throw new Error(`seed ${SEED}, header #${i}: a password reached the access log`);
        }
      }
    };
    try {
      await worker(); // one at a time: the handler is single-threaded, concurrency only adds overhead
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `fuzz seed ${SEED}: ${IN_PROCESS} headers in-process in ${seconds.toFixed(1)} s ` +
          `(${Math.round(IN_PROCESS / seconds)}/s); statuses ${
            JSON.stringify(Object.fromEntries(statuses))
          }`,
      );
      assertEquals(lines, [], "no upstream error or security event");
    } finally {
      verifier.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: `${REAL_PROCESS} fuzzed and raw malformed Authorization headers through the real process`,
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ admin: "fuzz-Real-Admin-pw" }, [
      { path: "/prometheus/", upstream: `${recorder.url}/` },
    ]);
    const grep: string[] = [];
    const statuses = new Map<number, number>();
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    try {
      const fuzz = new Fuzzer(SEED + 1);
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < REAL_PROCESS) {
          const i = next++;
          let { value, password } = fuzz.header();
          if (value.length > 8000) value = value.slice(0, 8000); // Deno.serve's own limit is separate
          if (password) grep.push(password);
          if (value.trim().length >= 16) grep.push(value.trim());
          let status: number;
          let retryAfter: string | null | undefined;
          try {
            const r = await fetch(`${gate.url}/prometheus/x`, {
              headers: { authorization: value },
            });
            await r.body?.cancel();
            status = r.status;
            retryAfter = r.headers.get("retry-after");
          } catch (error) {
            // fetch refuses some bytes Headers allows (DEL): send those over a raw socket.
            if (!(error instanceof TypeError)) throw error;
            const r = await rawGet(gate.port, "/prometheus/x", {
              headers: [`Authorization: ${value}`],
            });
            status = r.status;
            retryAfter = r.headers.get("retry-after");
          }
          count(status);
          // 429 is the brute-force throttle answering well-formed credentials from this client.
          if (![400, 401, 429].includes(status)) {
            throw new Error(`seed ${SEED + 1}, header #${i}: status ${status}`);
          }
          if (status === 429) assert(Number(retryAfter) >= 1, "Retry-After");
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const seconds = (performance.now() - started) / 1000;
      // Bytes only a raw socket can send: NUL, CR, LF, obs-fold, DEL, other controls, 64 KiB.
      const raw = [
        "Basic YWRtaW46\x00eA==",
        "Basic \x00",
        "Basic YWRt\raW46eA==",
        "Basic\r\n YWRtaW46eA==",
        "Basic \x7f",
        "Basic \x01\x02",
        "Basic \xff\xfe\xfd",
        "Basic " + "QUFB".repeat(16384),
        "\x00Basic",
        " ",
        "",
      ];
      for (const value of raw) {
        const r = await rawGet(gate.port, "/prometheus/x", {
          headers: [`Authorization: ${value}`],
        });
        count(r.status);
        assert(r.status === 400 || r.status === 401, `raw header: status ${r.status}`);
      }
      const twice = await rawGet(gate.port, "/prometheus/x", {
        headers: [`Authorization: ${basic("admin", "x")}`, `Authorization: ${basic("admin", "y")}`],
      });
      count(twice.status);
      assert(twice.status === 400 || twice.status === 401, `two headers: ${twice.status}`);
      assertEquals(recorder.seen.length, 0, "nothing reached the upstream");
      // The process is alive and still serves (no crash).
      const alive = await fetch(`${gate.url}/prometheus/x`, {
        headers: { authorization: basic("admin", "fuzz-Real-Admin-pw") },
      });
      await alive.body?.cancel();
      assert(alive.status === 200 || alive.status === 429, `after the fuzz: ${alive.status}`);
      const output = gate.output();
      const leaks = grep.filter((v) => output.includes(v)).length;
      assertEquals(leaks, 0, "fuzzed passwords or Authorization values in promgate's output");
      assert(!/\b5\d\d \d+ "/.test(gate.stdout()), "no 5xx in the access log");
      console.log(
        `fuzz seed ${SEED + 1}: ${REAL_PROCESS} headers via fetch in ${seconds.toFixed(1)} s ` +
          `(${Math.round(REAL_PROCESS / seconds)}/s) + ${raw.length + 1} raw; ` +
          `statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${grep.length} values grepped`,
      );
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});
