/** Starting, watching and stopping the processes the benchmark runs; their memory from /proc. */

/** A process the benchmark started. Its stdout and stderr go to `logPath`. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly status: Promise<Deno.CommandStatus>;
  exited: boolean;
  /** Set by {@linkcode stop}, so an exit we caused is not reported as a crash. */
  stopping: boolean;
  child: Deno.ChildProcess;
}

/** Everything started through one group is stopped by {@linkcode ProcessGroup.stopAll}. */
export class ProcessGroup {
  readonly #procs: Proc[] = [];

  constructor(readonly logDir: string) {}

  /** Spawns `cmd args…` with stdin closed and both output streams appended to `<logDir>/<name>.log`. */
  async start(
    name: string,
    cmd: string,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string } = {},
  ): Promise<Proc> {
    const logPath = `${this.logDir}/${name}.log`;
    const log = await Deno.open(logPath, { write: true, create: true, append: true });
    const child = new Deno.Command(cmd, {
      args,
      env: options.env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pumps = Promise.all([pump(child.stdout, log), pump(child.stderr, log)]);
    const proc: Proc = {
      name,
      pid: child.pid,
      logPath,
      child,
      exited: false,
      stopping: false,
      status: child.status.then(async (status) => {
        proc.exited = true;
        await pumps.catch(() => {});
        log.close();
        return status;
      }),
    };
    this.#procs.push(proc);
    return proc;
  }

  /** Stops one process: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(proc: Proc, graceMs = 5000): Promise<void> {
    proc.stopping = true;
    if (!proc.exited) {
      try {
        proc.child.kill("SIGTERM");
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), graceMs));
      const result = await Promise.race([proc.status, late]);
      clearTimeout(timer);
      if (result === "late") {
        for (const pid of [...descendants(proc.pid), proc.pid]) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await proc.status;
      }
    }
    const i = this.#procs.indexOf(proc);
    if (i >= 0) this.#procs.splice(i, 1);
  }

  /** Stops every process still running, newest first. */
  async stopAll(): Promise<void> {
    for (const proc of [...this.#procs].reverse()) await this.stop(proc);
  }
}

async function pump(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  for await (const chunk of stream) {
    let off = 0;
    while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
  }
}

/** The last `lines` lines of a log file ("" when unreadable). */
export async function tail(path: string, lines = 15): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Waits until `ready()` is true, polling every 50 ms. Throws with the process's last log lines if
 * it exits first or `timeoutMs` passes.
 */
export async function waitReady(
  proc: Proc,
  ready: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) {
      const status = await proc.status;
      throw new Error(
        `${proc.name} exited with code ${status.code} while starting; its log (${proc.logPath}):\n` +
          await tail(proc.logPath),
      );
    }
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `${proc.name} did not become ready in ${timeoutMs / 1000} s; its log (${proc.logPath}):\n` +
      await tail(proc.logPath),
  );
}

/** True once a TCP connection to 127.0.0.1:`port` succeeds. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The pids of every descendant of `pid` (from /proc/<pid>/stat). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        parent.set(Number(entry.name), Number(fields[1]));
      } catch { /* exited meanwhile */ }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function statusKb(pid: number, field: string): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Peak resident memory of a process tree over an interval. `start()` resets each process's peak
 * (VmHWM, by writing 5 to /proc/PID/clear_refs — needs root or the same user) and samples VmRSS
 * every 50 ms as a fallback; `stop()` returns the sum of the per-process peaks in bytes.
 */
export class RssMeter {
  #pids: number[] = [];
  #hwmReset = false;
  #sampledPeak = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly rootPid: number) {}

  start(): void {
    this.#pids = [this.rootPid, ...descendants(this.rootPid)];
    this.#hwmReset = this.#pids.every((pid) => {
      try {
        Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
        return true;
      } catch {
        return false;
      }
    });
    this.#sampledPeak = 0;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 50);
  }

  #sample(): void {
    const rss = this.#pids.reduce((n, pid) => n + statusKb(pid, "VmRSS"), 0) * 1024;
    if (rss > this.#sampledPeak) this.#sampledPeak = rss;
  }

  /** Peak RSS in bytes since `start()`. */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    if (!this.#hwmReset) return this.#sampledPeak;
    const hwm = this.#pids.reduce((n, pid) => n + statusKb(pid, "VmHWM"), 0) * 1024;
    return Math.max(hwm, this.#sampledPeak);
  }
}

/** CPU ticks (utime+stime, plus those of reaped children) of `pid` and its live descendants. */
export function treeTicks(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited meanwhile */ }
  }
  return ticks;
}

/** Busy and total CPU ticks of the whole machine (from the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1, 9)
    .map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/**
 * How much of the machine other work (anything not started by this bench) used over an interval,
 * as a share of all CPUs (0..1): the machine's busy time minus this process tree's.
 */
export class OtherLoad {
  #start = { busy: 0, total: 0, ours: 0 };

  start(): void {
    try {
      this.#start = { ...machineTicks(), ours: treeTicks(Deno.pid) };
    } catch { /* not Linux */ }
  }

  stop(): number {
    try {
      const m = machineTicks();
      const ours = treeTicks(Deno.pid);
      const total = m.total - this.#start.total;
      if (total <= 0) return 0;
      const other = (m.busy - this.#start.busy) - (ours - this.#start.ours);
      return Math.min(1, Math.max(0, other / total));
    } catch {
      return 0;
    }
  }
}

/** Share of the machine (0..1) other work used over the next `ms`. */
export async function otherLoad(ms: number): Promise<number> {
  const meter = new OtherLoad();
  meter.start();
  await new Promise((r) => setTimeout(r, ms));
  return meter.stop();
}

/** CPU seconds of a process tree between `start()` and `stop()` (clock ticks of 10 ms). */
export class CpuMeter {
  #start = 0;
  constructor(readonly rootPid: number) {}
  start(): void {
    this.#start = treeTicks(this.rootPid);
  }
  stop(): number {
    return (treeTicks(this.rootPid) - this.#start) / 100;
  }
}
