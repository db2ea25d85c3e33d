/**
 * Test helpers: real processes, real sockets, real TLS. Everything listens on 127.0.0.1 only.
 */
import { fromFileUrl } from "./_path.ts";

export const REPO = fromFileUrl(new URL("../", import.meta.url));
export const MAIN = REPO + "main.ts";
export const IN_CI = !!Deno.env.get("CI");

const decoder = new TextDecoder();

/** Whether `program` is on PATH. */
export function hasProgram(program: string): boolean {
  const r = new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .outputSync();
  return r.success;
}

/**
 * Test options for a test that needs `programs`: skipped where they are missing on a developer's
 * machine, but failing under CI=true (where .ci/run must have installed them).
 */
export function needs(...programs: string[]): { ignore: boolean } {
  const missing = programs.filter((p) => !hasProgram(p));
  if (missing.length > 0 && IN_CI) {
    throw new Error(`CI is set but ${missing.join(", ")} is missing: .ci/run must install it`);
  }
  return { ignore: missing.length > 0 };
}

/** Runs a command to completion and returns its exit code and text output. */
export async function run(
  program: string,
  args: string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A port that was free a moment ago (for programs that must be told their port up front). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "promgate-test-" });
}

/**
 * A self-signed certificate for localhost/127.0.0.1 made by the real openssl. "rsa:4096" is the
 * seed's own command, whose certificate openssl marks CA:TRUE (curl accepts it); the others are
 * marked CA:FALSE, which Deno's TLS client requires of a server certificate.
 */
export async function makeCert(
  dir: string,
  kind: "rsa:2048" | "rsa:4096" | "ec" = "ec",
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const keyArgs = kind === "ec"
    ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    : ["-newkey", kind];
  const r = await run("openssl", [
    "req",
    "-x509",
    ...keyArgs,
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ...(kind === "rsa:4096" ? [] : ["-addext", "basicConstraints=critical,CA:FALSE"]),
  ]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { certFile, keyFile };
}

/** Writes an htpasswd file with one line per user, made by Apache's real `htpasswd`. */
export async function makeHtpasswd(
  file: string,
  users: Record<string, string>,
  flag = "-B",
): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    const args = flag === "-B"
      ? ["-nbB", "-C", "5", user, password]
      : [`-nb${flag.slice(1)}`, user, password];
    const r = await run("htpasswd", args);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    lines.push(r.stdout.trim());
  }
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
}

/** A small HTTP server on 127.0.0.1 standing in for Prometheus. */
export interface Upstream {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts `handler` as a plain-HTTP upstream on a free 127.0.0.1 port. */
export function startUpstream(handler: Deno.ServeHandler): Upstream {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      await server.shutdown();
    },
  };
}

/** A running promgate process. */
export interface Promgate {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Everything written to stdout (the access log) so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Waits until stdout has a line matching `pattern`. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Resolves with the exit code once the process ends by itself. */
  readonly exited: Promise<number>;
}

/**
 * The flags promgate runs with (as in deno.json's start task): a 1 MiB young generation makes V8
 * collect streamed body chunks promptly, keeping RSS flat while GiBs pass through;
 * --unstable-net lets a TLS listener use SO_REUSEPORT, which certificate reloads need.
 */
export const DENO_RUN_FLAGS = [
  "-A",
  "--unstable-no-legacy-abort",
  "--unstable-net",
  "--v8-flags=--max-semi-space-size=1",
];

/**
 * The command that starts promgate in tests: `custom` (default: PROMGATE_CMD; null or empty:
 * Deno from source), as space-separated words, e.g. `./dist/promgate` or `./.tools/node_modules/.bin/bun ./main.ts` (deno task
 * test:binary / test:bun); words starting with "./" are relative to the repository, so tests may
 * run promgate in another directory.
 */
export function promgateCommand(
  custom: string | null | undefined = Deno.env.get("PROMGATE_CMD"),
): string[] {
  if (custom) {
    return custom.split(" ").filter(Boolean).map((w) => w.startsWith("./") ? REPO + w.slice(2) : w);
  }
  return [Deno.execPath(), "run", ...DENO_RUN_FLAGS, MAIN];
}

/**
 * Runs the real curl with `args`, discarding the body and printing only the status code: the
 * result's stdout is e.g. "401" ("000" when no HTTP answer came), its code curl's exit code.
 */
export function curlStatus(...args: string[]) {
  return run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", ...args]);
}

/** Runs promgate to completion with `args` (for exit-code tests), `stdin` piped in if given. */
export function runPromgate(args: string[], cwd?: string, stdin?: string) {
  const [program, ...rest] = promgateCommand();
  return run(program, [...rest, ...args], { cwd, stdin });
}

/**
 * Writes `config` (an object; relative paths resolve against `dir`) to `dir/config.json`, starts
 * promgate on it, and waits for its "listening on" line. Use port 0 to get a free port.
 * `command` as {@link promgateCommand} takes it (default: PROMGATE_CMD).
 */
export async function startPromgate(
  dir: string,
  config: unknown,
  command?: string | null,
): Promise<Promgate> {
  const configFile = `${dir}/config.json`;
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
  const [program, ...args] = promgateCommand(command);
  const child = new Deno.Command(program, {
    args: [...args, "--config", configFile],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) add(chunk);
  };
  const pumps = Promise.all([
    pump(child.stdout, (s) => out += s),
    pump(child.stderr, (s) => err += s),
  ]);
  const exited = child.status.then(async (s) => {
    await pumps;
    return s.code;
  });
  let url: string;
  try {
    url = await waitFor(() => /listening on (\S+)/.exec(err)?.[1], exited, () => err, 30_000);
  } catch (error) {
    try {
      child.kill("SIGKILL"); // a promgate that never came up must not outlive the test
    } catch { /* already gone */ }
    await exited;
    throw error;
  }
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (pattern, timeoutMs = 5000) =>
      waitFor(
        () => out.split("\n").find((line) => pattern.test(line)),
        exited,
        () => out,
        timeoutMs,
      ),
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return await exited;
    },
    exited,
  };
}

async function waitFor<T>(
  probe: () => T | undefined,
  exited: Promise<number>,
  context: () => string,
  timeoutMs: number,
): Promise<T> {
  let done = false;
  exited.then(() => done = true);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    if (done) throw new Error(`promgate exited early:\n${context()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms; output so far:\n${context()}`);
}

/** Basic credentials as an Authorization header value. */
export function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

/** Peak resident memory (VmHWM) of a process, in MiB. */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

/** A small seeded PRNG (mulberry32), so a generated or fuzz run can be repeated from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
