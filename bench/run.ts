/**
 * promgate's benchmark against nginx and Caddy, measured in one run on one machine:
 *
 *   deno task bench [--quick] [--only 1,2,3,4] [--duration S] [--proxies nginx,caddy,promgate,promgate-bun] [--keep]
 *
 * Starts Debian prometheus and bench/upstream.ts on 127.0.0.1, then each proxy in turn with the same
 * certificate, htpasswd users and routes, drives it with wrk (HTTP/1.1), h2load (HTTP/2) and curl,
 * prints a table with promgate÷nginx and promgate÷Caddy ratios and the issue's targets, and writes
 * the results as JSON under bench/results/. Every target is 127.0.0.1; see bench/README.md.
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import {
  attackScript,
  download,
  h2load,
  killLoadTools,
  type LoadResult,
  upload,
  wrk,
} from "./load.ts";
import { BLOCK_BYTES, patternBlock } from "./pattern.ts";
import {
  CpuMeter,
  freePort,
  OtherLoad,
  otherLoad,
  ProcessGroup,
  RssMeter,
  tail,
} from "./process.ts";
import {
  PROXIES,
  type ProxyName,
  type Setup,
  startCaddy,
  startFloor,
  startNginx,
  startPrometheus,
  startPromgate,
  startUpstream,
  type Target,
  type UserKind,
} from "./proxies.ts";
import { checkTargets, renderTable, renderTargets, roundRow, type Row } from "./report.ts";

const USAGE = `Usage: deno task bench [options]
  --quick             2 s per measurement, smaller bodies in scenario 3 (256 MiB / 64 MiB)
  --duration S        seconds per measurement (default 5; --quick: 2)
  --only LIST         scenarios to run, e.g. "1" or "2,4" (1 small, 2 attack, 3 big bodies, 4 chunked)
  --proxies LIST      servers to compare (default nginx,caddy,promgate,promgate-bun)
  --wait-quiet S      before each measurement, wait up to S seconds for other work on the machine
                      to use < 10% of the CPUs (the table shows how much it used in any case)
  --keep              keep the temporary directory (configs, logs) and print its path
  -h, --help          this text`;

/** Programs the bench runs, and the Debian package of each. */
const PROGRAMS: Record<string, string> = {
  nginx: "nginx",
  caddy: "caddy",
  wrk: "wrk",
  h2load: "nghttp2-client",
  prometheus: "prometheus",
  htpasswd: "apache2-utils",
  openssl: "openssl",
  curl: "curl",
  cksum: "coreutils",
  bash: "bash",
};

/** Load shapes, the same for every server. */
const H1_CONNECTIONS = 32;
const H2_CONNECTIONS = 8;
const H2_STREAMS = 4;
const ATTACK_RATE = 200;
const ATTACK_CONNECTIONS = 64;
const ATTACK_VALID_CONNECTIONS = 8;
const CHUNKED_CONNECTIONS = 4;
/** The copies of the floor proxies: as many as promgate's `"workers": "auto"` server threads. */
const CORES = navigator.hardwareConcurrency ?? 1;

interface Options {
  durationSec: number;
  warmSec: number;
  scenarios: Set<number>;
  proxies: ProxyName[];
  downloadBytes: number;
  uploadBytes: number;
  keep: boolean;
  quick: boolean;
  waitQuietSec: number;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      duration: { type: "string" },
      only: { type: "string" },
      proxies: { type: "string" },
      keep: { type: "boolean", default: false },
      "wait-quiet": { type: "string", default: "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const quick = values.quick;
  const durationSec = values.duration !== undefined ? Number(values.duration) : quick ? 2 : 5;
  if (!(Number.isInteger(durationSec) && durationSec >= 1 && durationSec <= 60)) {
    usageError("--duration must be a whole number of seconds, 1..60 (wrk takes whole seconds)");
  }
  const names: Record<string, number> = { small: 1, attack: 2, big: 3, stream: 3, chunked: 4 };
  const scenarios = new Set<number>();
  for (const s of (values.only ?? "1,2,3,4").split(",").map((x) => x.trim()).filter(Boolean)) {
    const n = names[s] ?? Number(s);
    if (![1, 2, 3, 4].includes(n)) usageError(`--only: unknown scenario "${s}" (use 1, 2, 3, 4)`);
    scenarios.add(n);
  }
  const proxies: ProxyName[] = [];
  for (const p of (values.proxies ?? PROXIES.join(",")).split(",").map((x) => x.trim())) {
    if (!(PROXIES as readonly string[]).includes(p)) {
      usageError(`--proxies: unknown server "${p}" (use ${PROXIES.join(", ")})`);
    }
    proxies.push(p as ProxyName);
  }
  return {
    durationSec,
    warmSec: 1,
    scenarios,
    proxies,
    downloadBytes: quick ? 256 * 2 ** 20 : 2 ** 30,
    uploadBytes: quick ? 64 * 2 ** 20 : 256 * 2 ** 20,
    keep: values.keep,
    quick,
    waitQuietSec: Number(values["wait-quiet"]) || 0,
  };
}

function usageError(message: string): never {
  console.error(`bench: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

function which(program: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const d of [dir, "/usr/sbin", "/sbin"]) {
      try {
        const info = Deno.statSync(`${d}/${program}`);
        if (info.isFile && (info.mode ?? 0o111) & 0o111) return `${d}/${program}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

/** Exits 2 with the apt-get command when a program is missing. */
function checkPrograms(proxies: ProxyName[]): void {
  const needed = Object.keys(PROGRAMS).filter((p) =>
    !((p === "nginx" || p === "caddy") && !proxies.includes(p))
  );
  const missing = needed.filter((p) => which(p) === null);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((p) => PROGRAMS[p]))];
  console.error(
    `bench: missing program${missing.length > 1 ? "s" : ""}: ${
      missing.map((p) => `${p} (Debian package ${PROGRAMS[p]})`).join(", ")
    }\nInstall with:\n  apt-get update && apt-get install -y ${packages.join(" ")}`,
  );
  Deno.exit(2);
}

async function output(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
  } catch (error) {
    return `(${cmd} failed: ${error instanceof Error ? error.message : error})`;
  }
}

async function mustRun(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return text;
}

async function versions(): Promise<Record<string, string>> {
  const first = (s: string) => s.split("\n")[0];
  return {
    deno: Deno.version.deno,
    nginx: first(await output("nginx", ["-v"])).replace(/^nginx version: /, ""),
    caddy: first(await output("caddy", ["version"])),
    prometheus: first(await output("prometheus", ["--version"])).replace(/^prometheus, /, ""),
    wrk: first(await output("wrk", ["-v"])).split(" ").slice(0, 2).join(" "),
    h2load: first(await output("h2load", ["--version"])),
    curl: first(await output("curl", ["--version"])).split(" ").slice(0, 2).join(" "),
    openssl: first(await output("openssl", ["version"])),
  };
}

function machine(): Record<string, string | number> {
  let cpu = "unknown";
  let memMB = 0;
  try {
    cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
    const kb = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+)/m)?.[1];
    memMB = Math.round(Number(kb) / 1024);
  } catch { /* not Linux */ }
  return {
    host: Deno.hostname(),
    nproc: navigator.hardwareConcurrency,
    cpu,
    memMB,
    kernel: Deno.osRelease(),
  };
}

function basic(user: string, password: string): string {
  return `Basic ${btoa(`${user}:${password}`)}`;
}

function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "x");
}

/** Writes `bytes` of the pattern to `path`; returns its sha256. */
async function writePatternFile(path: string, bytes: number): Promise<string> {
  const block = patternBlock();
  const hash = createHash("sha256");
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let done = 0; done < bytes; done += BLOCK_BYTES) {
      const chunk = block.subarray(0, Math.min(BLOCK_BYTES, bytes - done));
      hash.update(chunk);
      let off = 0;
      while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${n / 2 ** 30} GiB` : `${n / 2 ** 20} MiB`;
}

/** The bench itself: state shared by the scenarios. */
class Bench {
  readonly rows: Row[] = [];
  /** Share of the CPUs other work used before the run started (0..1). */
  otherAtStart = 0;
  users!: Record<UserKind, { name: string; authorization: string }>;
  setup!: Setup;
  referenceDownload = "";
  uploadFile = "";
  uploadSha = "";

  constructor(readonly opts: Options, readonly dir: string) {}

  say(line: string): void {
    console.error(line);
  }

  add(row: Row): void {
    this.rows.push(row);
    const r = row;
    const parts = [
      r.reqPerSec !== undefined ? `${r.reqPerSec.toFixed(1)} req/s` : "",
      r.mbPerSec !== undefined ? `${r.mbPerSec.toFixed(0)} MB/s` : "",
      r.p50Ms !== undefined ? `p50 ${r.p50Ms.toFixed(2)}ms` : "",
      r.p99Ms !== undefined ? `p99 ${r.p99Ms.toFixed(2)}ms` : "",
      r.rssMB !== undefined ? `RSS ${r.rssMB.toFixed(1)} MB` : "",
      r.errors ? `${r.errors} errors` : "",
      r.attackPerSec !== undefined
        ? `attack ${r.attackPerSec.toFixed(0)}/s ${r.attackAnswers}`
        : "",
      r.exact !== undefined ? (r.exact ? "byte-exact" : "BYTES DIFFER") : "",
      r.otherCpuPct !== undefined && r.otherCpuPct >= 5
        ? `other work ${r.otherCpuPct.toFixed(0)}%`
        : "",
      r.failed ? `FAILED: ${r.failed}` : "",
    ].filter(Boolean);
    this.say(`    S${r.scenario} ${r.case} ${r.server} ${r.user}: ${parts.join(", ")}`);
  }

  /** With --wait-quiet: waits until other work uses < 10% of the CPUs (bounded). */
  async quiet(): Promise<void> {
    const deadline = Date.now() + this.opts.waitQuietSec * 1000;
    while (Date.now() < deadline && await otherLoad(500) >= 0.1) { /* keep waiting */ }
  }

  /**
   * Runs `fn`, recording the peak RSS of `target`'s processes meanwhile (MB) and the share of the
   * CPUs that work not started by the bench used (%).
   */
  async measure<T>(
    target: Target | null,
    fn: () => Promise<T>,
  ): Promise<
    { result: T; rssMB: number | undefined; otherCpuPct: number; cpuSec: number | undefined }
  > {
    const meter = target ? new RssMeter(target.proc.pid) : null;
    const cpu = target ? new CpuMeter(target.proc.pid) : null;
    const other = new OtherLoad();
    meter?.start();
    cpu?.start();
    other.start();
    let peak: number | undefined;
    let cpuSec: number | undefined;
    let otherShare = 0;
    let result: T;
    try {
      result = await fn();
    } finally {
      peak = meter?.stop();
      cpuSec = cpu?.stop();
      otherShare = other.stop();
    }
    return {
      result,
      rssMB: peak === undefined ? undefined : peak / 1e6,
      otherCpuPct: otherShare * 100,
      cpuSec,
    };
  }

  /** A wrk or h2load run with its warm-up, as a table row. */
  async loadRow(
    base: Omit<Row, "reqPerSec">,
    target: Target | null,
    run: (durationSec: number) => Promise<LoadResult>,
    /** The tool warms up by itself (h2load --warm-up-time): no separate warm-up run. */
    selfWarming = false,
  ): Promise<void> {
    try {
      await this.quiet();
      if (!selfWarming) {
        await run(this.opts.warmSec).catch(() => {});
        if (target) await this.settle(target);
      }
      const { result: r, rssMB, otherCpuPct, cpuSec } = await this.measure(
        target,
        () => run(this.opts.durationSec),
      );
      this.add({
        ...base,
        rssMB,
        otherCpuPct,
        cpuUsPerReq: cpuSec !== undefined && r.requests > 0 ? cpuSec * 1e6 / r.requests : undefined,
        tls: r.tls,
        reqPerSec: r.reqPerSec,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        errors: r.errors,
        note: [
          base.note,
          r.errorDetail,
          r.protocol === "h2" || base.case !== "h2" ? "" : `protocol ${r.protocol}!`,
        ]
          .filter(Boolean).join("; ") || undefined,
      });
    } catch (error) {
      this.add({ ...base, failed: message(error) });
    }
    await this.checkAlive(target);
  }

  /**
   * Waits (up to 15 s) until the server answers unauthenticated requests promptly again, so work
   * queued by a warm-up run (nginx keeps hashing bcrypt for clients that already left) is not
   * charged to the next measurement.
   */
  async settle(target: Target): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 4 }, () =>
          output("curl", [
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "15",
            "--cacert",
            this.setup.certFile,
            `${target.baseUrl}/prometheus/-/healthy`,
          ])),
      );
      if (performance.now() - t0 < 100) return;
    }
  }

  async checkAlive(target: Target | null): Promise<void> {
    if (target && target.proc.exited) {
      const status = await target.proc.status;
      throw new Error(
        `${target.name} exited (code ${status.code}) during the run; its log:\n${await tail(
          target.proc.logPath,
        )}`,
      );
    }
  }

  user(target: Target | null, kind: UserKind): { name: string; authorization: string } | null {
    if (!target) return null;
    return this.users[target.users.includes(kind) ? kind : target.users[0]];
  }

  // ---- scenarios -------------------------------------------------------------------------------

  async scenario1(target: Target | null): Promise<void> {
    const direct = target === null;
    const url = direct
      ? `http://127.0.0.1:${this.setup.prometheusPort}/-/healthy`
      : `${target.baseUrl}/prometheus/-/healthy`;
    for (const proto of direct ? ["h1"] : ["h1", "h2"]) {
      // The floors verify nobody: one row each, without credentials.
      const kinds = direct || target.users.length === 0 ? ["-" as const] : target.users;
      for (const kind of kinds) {
        const auth = kind === "-" ? null : this.users[kind].authorization;
        const row: Omit<Row, "reqPerSec"> = {
          scenario: 1,
          case: proto,
          server: direct ? "direct" : target.name,
          user: kind,
          note: direct
            ? "prometheus itself, plain HTTP, no auth"
            : target.users.length === 0
            ? "bare Deno.serve/Bun.serve + fetch, no auth: the runtime's floor"
            : undefined,
        };
        await this.loadRow(
          row,
          target,
          (d) =>
            proto === "h1"
              ? wrk({
                url,
                authorization: auth,
                connections: H1_CONNECTIONS,
                durationSec: d,
                workDir: this.dir,
              })
              : h2load({
                url,
                authorization: auth,
                connections: H2_CONNECTIONS,
                streams: H2_STREAMS,
                durationSec: d,
                warmUpSec: this.opts.warmSec,
                workDir: this.dir,
              }),
          proto === "h2",
        );
      }
    }
  }

  async scenario2(target: Target): Promise<void> {
    const url = `${target.baseUrl}/prometheus/-/healthy`;
    const valid = this.users.bcrypt;
    const wrong = Array.from(
      { length: 500 },
      (_, i) => basic(valid.name, `wrong-${i}-${randomPassword()}`),
    );
    const d = this.opts.durationSec;
    const row: Row = { scenario: 2, case: "h1 under attack", server: target.name, user: "bcrypt" };
    try {
      await this.quiet();
      // warm the valid user's path (and any credential cache) first, as in scenario 1
      if (this.opts.warmSec > 0) {
        await wrk({
          url,
          authorization: valid.authorization,
          connections: ATTACK_VALID_CONNECTIONS,
          durationSec: this.opts.warmSec,
          workDir: this.dir,
        });
        await this.settle(target);
      }
      const attack = wrk({
        url,
        authorization: null,
        connections: ATTACK_CONNECTIONS,
        durationSec: d + 2,
        workDir: this.dir,
        script: attackScript("/prometheus/-/healthy", ATTACK_RATE, wrong),
        expectStatusErrors: true,
      });
      attack.catch(() => {}); // awaited below
      await new Promise((r) => setTimeout(r, 1000));
      const { result: r, rssMB, otherCpuPct, cpuSec } = await this.measure(target, () =>
        wrk({
          url,
          authorization: valid.authorization,
          connections: ATTACK_VALID_CONNECTIONS,
          durationSec: d,
          workDir: this.dir,
        }));
      row.rssMB = rssMB;
      row.otherCpuPct = otherCpuPct;
      row.cpuSec = cpuSec;
      const a = await attack;
      const counts = a.statusCounts ?? {};
      this.add({
        ...row,
        reqPerSec: r.reqPerSec,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        errors: r.errors,
        attackPerSec: a.reqPerSec,
        attackAnswers: [
          ...Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`),
          a.errors ? a.errorDetail : "",
          a.requests > 0 ? `p50 ${a.p50Ms.toFixed(0)}ms` : "no answer",
        ].filter(Boolean).join(", "),
        note: r.errorDetail || undefined,
      });
    } catch (error) {
      this.add({ ...row, failed: message(error) });
    }
    await this.checkAlive(target);
  }

  async scenario3(target: Target | null): Promise<void> {
    const direct = target === null;
    const base = direct ? `http://127.0.0.1:${this.setup.upstreamPort}` : `${target.baseUrl}/bench`;
    const ca = direct ? null : this.setup.certFile;
    const user = this.user(target, "bcrypt");
    const server = direct ? "direct" : target.name;
    const timeout = 300;
    const down: Row = {
      scenario: 3,
      case: `download ${fmtBytes(this.opts.downloadBytes)}`,
      server,
      user: user ? "bcrypt" : "-",
      note: direct ? "bench/upstream.ts itself, plain HTTP" : undefined,
    };
    try {
      await this.quiet();
      const { result, rssMB, otherCpuPct, cpuSec } = await this.measure(
        target,
        () =>
          download(
            `${base}/big?bytes=${this.opts.downloadBytes}`,
            ca,
            user?.authorization ?? null,
            timeout,
          ),
      );
      if (direct) this.referenceDownload = result.digest;
      const exact = result.status === 200 && result.bytes === this.opts.downloadBytes &&
        result.digest === this.referenceDownload;
      this.add({
        ...down,
        mbPerSec: result.mbPerSec,
        rssMB,
        otherCpuPct,
        cpuSec,
        exact,
        errors: result.status === 200 ? 0 : 1,
        note:
          [down.note, result.status === 200 ? "" : `status ${result.status}`].filter(Boolean).join(
            "; ",
          ) ||
          undefined,
      });
    } catch (error) {
      this.add({ ...down, failed: message(error) });
    }
    await this.checkAlive(target);
    const up: Row = {
      scenario: 3,
      case: `upload ${fmtBytes(this.opts.uploadBytes)}`,
      server,
      user: user ? "bcrypt" : "-",
      note: direct ? "bench/upstream.ts itself, plain HTTP" : undefined,
    };
    try {
      await this.quiet();
      const { result, rssMB, otherCpuPct, cpuSec } = await this.measure(
        target,
        () => upload(`${base}/sink`, this.uploadFile, ca, user?.authorization ?? null, timeout),
      );
      const exact = result.status === 200 &&
        result.digest === `sha256 ${this.uploadSha} bytes ${this.opts.uploadBytes}`;
      this.add({
        ...up,
        mbPerSec: result.mbPerSec,
        rssMB,
        otherCpuPct,
        cpuSec,
        exact,
        errors: result.status === 200 ? 0 : 1,
        note:
          [up.note, result.status === 200 ? "" : `status ${result.status}`].filter(Boolean).join(
            "; ",
          ) ||
          undefined,
      });
    } catch (error) {
      this.add({ ...up, failed: message(error) });
    }
    await this.checkAlive(target);
  }

  async scenario4(target: Target | null): Promise<void> {
    const direct = target === null;
    const base = direct ? `http://127.0.0.1:${this.setup.upstreamPort}` : `${target.baseUrl}/bench`;
    const user = this.user(target, "apr1");
    const kind = !target ? "-" : target.users.includes("apr1") ? "apr1" : "bcrypt";
    for (const [name, path] of [["h1 chunked", "/chunked"], ["h1 4 KiB", "/fixed?bytes=4096"]]) {
      await this.loadRow(
        {
          scenario: 4,
          case: name,
          server: direct ? "direct" : target.name,
          user: kind,
          note: direct ? "bench/upstream.ts itself, plain HTTP" : undefined,
        },
        target,
        (d) =>
          wrk({
            url: `${base}${path}`,
            authorization: user?.authorization ?? null,
            connections: CHUNKED_CONNECTIONS,
            durationSec: d,
            workDir: this.dir,
          }),
      );
    }
  }

  /** Quick functional check before measuring: each user gets 200, a wrong password 401. */
  async sanity(target: Target): Promise<void> {
    const problems: string[] = [];
    const get = async (path: string, authorization: string | null, http2 = false) => {
      const args = [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        "--cacert",
        this.setup.certFile,
      ];
      args.push(http2 ? "--http2" : "--http1.1");
      if (authorization) args.push("-H", `Authorization: ${authorization}`);
      args.push(`${target.baseUrl}${path}`);
      const [code, version] = (await output("curl", args)).split(" ");
      return { code, version };
    };
    for (const kind of target.users) {
      const r = await get("/prometheus/-/healthy", this.users[kind].authorization);
      if (r.code !== "200") problems.push(`${kind} user got ${r.code} for /prometheus/-/healthy`);
    }
    const h2 = await get("/prometheus/-/healthy", this.users[target.users[0]].authorization, true);
    if (h2.code !== "200" || h2.version !== "2") {
      problems.push(`HTTP/2 request got ${h2.code} over HTTP/${h2.version}`);
    }
    const bad = await get("/prometheus/-/healthy", basic(this.users.bcrypt.name, "wrong"));
    if (bad.code !== "401") problems.push(`a wrong password got ${bad.code}, not 401`);
    const fixed = await get("/bench/fixed?bytes=10", this.users[target.users[0]].authorization);
    if (fixed.code !== "200") problems.push(`/bench/fixed got ${fixed.code}`);
    if (problems.length) {
      throw new Error(`${target.name} failed the sanity check: ${problems.join("; ")}`);
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<number> {
  const opts = parseOptions(Deno.args);
  checkPrograms(opts.proxies);
  const started = new Date();
  const repoDir = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const dir = await Deno.makeTempDir({ prefix: "promgate-bench-" });
  await Deno.chmod(dir, 0o755); // nginx workers (user nobody) read the htpasswd file
  const group = new ProcessGroup(dir);
  const bench = new Bench(opts, dir);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error("\nbench: interrupted; stopping everything it started");
    killLoadTools();
    group.stopAll().finally(async () => {
      if (!opts.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
      Deno.exit(130);
    });
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const scenarioList = [...opts.scenarios].sort().join(",");
  const est = estimateSeconds(opts);
  bench.say(
    `promgate bench: scenarios ${scenarioList}, servers ${opts.proxies.join(", ")}, ` +
      `${opts.durationSec} s per measurement (about ${
        Math.ceil(est / 10) * 10
      } s in all); work dir ${dir}`,
  );
  try {
    // one certificate, one htpasswd file, for everyone
    const certFile = `${dir}/cert.pem`;
    const keyFile = `${dir}/key.pem`;
    await mustRun("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ]); // deno-fmt-ignore
    bench.say(
      "  certificate: self-signed RSA-2048 for IP:127.0.0.1 (openssl req -x509 -newkey rsa:2048), " +
        "shared by every server",
    );
    const htpasswdFile = `${dir}/htpasswd`;
    const pw = { bcrypt: randomPassword(), apr1: randomPassword() };
    await mustRun("htpasswd", ["-cbB", "-C", "10", htpasswdFile, "bench-bcrypt", pw.bcrypt]);
    await mustRun("htpasswd", ["-bm", htpasswdFile, "bench-apr1", pw.apr1]);
    await Deno.chmod(htpasswdFile, 0o644);
    const hashes = new Map<string, string>();
    for (const line of (await Deno.readTextFile(htpasswdFile)).split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) hashes.set(line.slice(0, i), line.slice(i + 1).trim());
    }
    bench.users = {
      bcrypt: { name: "bench-bcrypt", authorization: basic("bench-bcrypt", pw.bcrypt) },
      apr1: { name: "bench-apr1", authorization: basic("bench-apr1", pw.apr1) },
    };
    bench.say("  htpasswd: bench-bcrypt (htpasswd -B -C 10) and bench-apr1 (htpasswd -m)");
    if (opts.scenarios.has(3)) {
      bench.uploadFile = `${dir}/upload.bin`;
      bench.uploadSha = await writePatternFile(bench.uploadFile, opts.uploadBytes);
    }

    bench.otherAtStart = await otherLoad(1000);
    if (bench.otherAtStart > 0.1) {
      bench.say(
        `  WARNING: other work is using ${(bench.otherAtStart * 100).toFixed(0)}% of the CPUs; ` +
          "it competes with the servers, so the numbers will be low and noisy (see --wait-quiet)",
      );
    }
    const prometheusPort = freePort();
    await startPrometheus(group, dir, prometheusPort);
    const upstreamPort = freePort();
    await startUpstream(group, repoDir, upstreamPort);
    bench.setup = {
      group,
      dir,
      certFile,
      keyFile,
      htpasswdFile,
      hashes,
      prometheusPort,
      upstreamPort,
      repoDir,
    };
    bench.say(
      `  upstreams: prometheus on 127.0.0.1:${prometheusPort}, bench/upstream.ts on 127.0.0.1:${upstreamPort}`,
    );

    // Scenario by scenario, the servers one after another (so the rows compared with each other
    // are measured minutes apart at most), each started afresh for each scenario so one scenario's
    // memory or queued work (nginx hashing for attackers that already left) does not carry over.
    // The direct baselines come first (scenario 3's also gives the reference checksum).
    const descriptions: string[] = [];
    for (const scenario of [1, 2, 3, 4].filter((n) => opts.scenarios.has(n))) {
      bench.say(`  scenario ${scenario}`);
      if (scenario === 1) await bench.scenario1(null);
      if (scenario === 3) await bench.scenario3(null);
      if (scenario === 4) await bench.scenario4(null);
      for (const name of opts.proxies) {
        let target: Target | null = null;
        try {
          const port = freePort();
          target = name === "nginx"
            ? await startNginx(bench.setup, port)
            : name === "caddy"
            ? await startCaddy(bench.setup, port)
            : await startPromgate(
              bench.setup,
              port,
              false,
              name === "promgate-bun" ? "bun" : "deno",
            );
          if (!descriptions.includes(target.description)) descriptions.push(target.description);
          await bench.sanity(target);
          if (scenario === 1) await bench.scenario1(target);
          if (scenario === 2) await bench.scenario2(target);
          if (scenario === 3) await bench.scenario3(target);
          if (scenario === 4) await bench.scenario4(target);
        } catch (error) {
          bench.say(`    ${name} FAILED: ${message(error)}`);
          if (!bench.rows.some((r) => r.server === name && r.scenario === scenario)) {
            bench.rows.push({
              scenario: scenario as Row["scenario"],
              case: "-",
              server: name,
              user: "-",
              failed: message(error),
            });
          }
        } finally {
          if (target) await group.stop(target.proc);
        }
      }
      // What promgate's runtimes allow at best, after promgate's rows (reference, no target).
      if (scenario === 1) {
        for (const [p, runtime] of [["promgate", "deno"], ["promgate-bun", "bun"]] as const) {
          if (!opts.proxies.includes(p)) continue;
          const floor = await startFloor(bench.setup, freePort(), runtime, CORES);
          try {
            if (!descriptions.includes(floor.description)) descriptions.push(floor.description);
            await bench.scenario1(floor);
          } catch (error) {
            bench.say(`    ${floor.name} FAILED: ${message(error)}`);
          } finally {
            await group.stop(floor.proc);
          }
        }
      }
      // The same promgate over plain HTTP: over TLS h1 its p50 must stay within 2x of this
      // (the 44 ms delayed-ACK stall of DESIGN.md fact 1 would show as 20x or more).
      if (scenario === 4 && opts.proxies.includes("promgate")) {
        const plain = await startPromgate(bench.setup, freePort(), true);
        try {
          if (!descriptions.includes(plain.description)) descriptions.push(plain.description);
          await bench.scenario4(plain);
        } finally {
          await group.stop(plain.proc);
        }
      }
    }

    // report
    const notes: Record<number, string> = {
      1: `h1: wrk -t1 -c${H1_CONNECTIONS}; h2: h2load -t1 -c${H2_CONNECTIONS} -m${H2_STREAMS}; ` +
        `${opts.durationSec} s after ${opts.warmSec} s warm-up`,
      2: `valid: wrk -t1 -c${ATTACK_VALID_CONNECTIONS}, ${opts.durationSec} s; attack: wrk -t1 ` +
        `-c${ATTACK_CONNECTIONS} offering ${ATTACK_RATE}/s wrong passwords for bench-bcrypt (500 distinct; ` +
        "a server that hashes slower answers fewer, with at most 64 waiting)",
      3: `one request each; MB = 10^6 bytes; RSS = peak during the transfer`,
      4: `wrk -t1 -c${CHUNKED_CONNECTIONS}, ${opts.durationSec} s; "4 KiB": GET /bench/fixed?bytes=4096 ` +
        `(Content-Length), the size of a typical small PromQL answer; Caddy has no apr1, so it uses ` +
        `bcrypt (cached)`,
    };
    const m = machine();
    const v = await versions();
    const header = [
      `promgate bench ${
        started.toISOString().slice(0, 16)
      }Z on ${m.host}: ${m.nproc} x ${m.cpu}, ` +
      `${m.memMB} MB RAM, Linux ${m.kernel}`,
      `deno ${v.deno}, nginx ${v.nginx}, caddy ${v.caddy}, prometheus ${
        v.prometheus.split(" ")[1] ?? v.prometheus
      }, ` +
      `${v.wrk}, ${v.h2load}`,
      `command: deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`,
      `TLS everywhere except "direct": one self-signed RSA-2048 certificate; RSS = peak resident memory ` +
      `(sum over the server's processes)`,
      otherSummary(bench.rows),
      "",
    ].join("\n");
    const table = renderTable(bench.rows, notes);
    const checks = checkTargets(bench.rows);
    const targets = renderTargets(checks);
    console.log(`\n${header}\n${table}\n${targets}`);

    const resultsDir = new URL("./results/", import.meta.url).pathname;
    await Deno.mkdir(resultsDir, { recursive: true });
    const partial = opts.quick || opts.scenarios.size < 4 || opts.proxies.length < PROXIES.length ||
      opts.durationSec !== 5;
    const host = String(m.host).replace(/[^A-Za-z0-9._-]/g, "_");
    const name = `${started.toISOString().slice(0, 10)}-${host}${partial ? "-partial" : ""}.json`;
    const json = {
      date: started.toISOString(),
      command: `deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`,
      machine: m,
      versions: v,
      options: {
        durationSec: opts.durationSec,
        warmSec: opts.warmSec,
        scenarios: [...opts.scenarios].sort(),
        proxies: opts.proxies,
        downloadBytes: opts.downloadBytes,
        uploadBytes: opts.uploadBytes,
      },
      load: notes,
      servers: descriptions,
      otherCpuPctAtStart: Math.round(bench.otherAtStart * 100),
      rows: bench.rows.map(roundRow),
      targets: checks,
      seconds: Math.round((Date.now() - started.getTime()) / 1000),
    };
    await Deno.writeTextFile(`${resultsDir}${name}.tmp`, toJson(json));
    await Deno.rename(`${resultsDir}${name}.tmp`, `${resultsDir}${name}`);
    console.log(`written: bench/results/${name} (${json.seconds} s)`);
    return bench.rows.some((r) => r.failed) ? 1 : 0;
  } finally {
    killLoadTools();
    await group.stopAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    if (opts.keep) console.error(`kept: ${dir}`);
    else await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** JSON with one line per key at the top, and one line per element of an array (diff-friendly). */
function toJson(value: Record<string, unknown>): string {
  const lines = Object.entries(value).map(([k, v]) => {
    if (Array.isArray(v)) {
      return `  ${JSON.stringify(k)}: [\n${
        v.map((x) => `    ${JSON.stringify(x)}`).join(",\n")
      }\n  ]`;
    }
    return `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`;
  });
  return `{\n${lines.join(",\n")}\n}\n`;
}

/** One line on how much other work competed for the CPUs during the measurements. */
function otherSummary(rows: Row[]): string {
  const shares = rows.map((r) => r.otherCpuPct).filter((x): x is number => x !== undefined);
  if (shares.length === 0) return "";
  const mean = shares.reduce((a, b) => a + b, 0) / shares.length;
  const max = Math.max(...shares);
  return `other work on the machine used ${mean.toFixed(0)}% of the CPUs on average during the ` +
    `measurements (max ${max.toFixed(0)}%)` +
    (max >= 10 ? "  <- NOT A QUIET MACHINE: rows marked 'other N%' are unreliable" : "");
}

/** A rough duration of the run, to print before starting. */
function estimateSeconds(o: Options): number {
  const m = o.durationSec + o.warmSec + 0.5;
  const n = o.proxies.length;
  let s = 10 + 3 * n;
  // Per server: one row per user and protocol (Caddy: bcrypt only; the floors: no user).
  const rows = (p: string) => p === "caddy" ? 2 : p.startsWith("promgate") ? 4 + 2 : 4;
  if (o.scenarios.has(1)) s += m * (1 + o.proxies.reduce((k, p) => k + rows(p), 0));
  if (o.scenarios.has(2)) s += (o.durationSec + 3 + o.warmSec) * n;
  if (o.scenarios.has(3)) s += (n + 1) * (o.downloadBytes + o.uploadBytes) / 4e8;
  if (o.scenarios.has(4)) s += m * (n + 1);
  return s;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`bench: ${message(error)}`);
    Deno.exit(1);
  }
}
