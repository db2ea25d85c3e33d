/**
 * The load tools: wrk (HTTP/1.1), h2load (HTTP/2) and curl (bulk transfers), run as processes and
 * their results parsed into numbers.
 */

/** One load measurement. Latencies in milliseconds. */
export interface LoadResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses that were not the expected status, plus connect/read/write errors and timeouts. */
  errors: number;
  /** What the errors were, e.g. "status 37, timeout 2" ("" when none). */
  errorDetail: string;
  /** The negotiated protocol as the tool reported it ("h2", "http/1.1"). */
  protocol: string;
  /** h2load: the TLS version and cipher it negotiated. */
  tls?: string;
  /** Attack runs: how many responses had each status ("401", "429", "other"). */
  statusCounts?: Record<string, number>;
}

const RUNNING = new Set<Deno.ChildProcess>();

/** Kills every load-tool process still running (on Ctrl-C). */
export function killLoadTools(): void {
  for (const child of RUNNING) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }
}

async function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  RUNNING.add(child);
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
    RUNNING.delete(child);
  }
}

/** wrk's done() hook: one JSON line with exact counts and percentiles (microseconds). */
const WRK_DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
    '"status":%.0f,"timeout":%.0f,"p50":%.0f,"p99":%.0f,"max":%.0f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/**
 * A wrk script that sends wrong passwords at a fixed total rate (open loop, up to the number of
 * connections in flight): every request carries the next of `authorizations`.
 */
export function attackScript(path: string, ratePerSec: number, authorizations: string[]): string {
  return `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
n401 = 0
n429 = 0
nother = 0
response = function(status, headers, body)
  if status == 401 then n401 = n401 + 1 elseif status == 429 then n429 = n429 + 1 else nother = nother + 1 end
end
local auths = { ${authorizations.map((a) => JSON.stringify(a)).join(", ")} }
local interval = 1000 / ${ratePerSec}
local next_at = nil
local i = 0
request = function()
  i = i + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Authorization"] = auths[(i % #auths) + 1]
  return wrk.format("GET", ${JSON.stringify(path)}, headers)
end
delay = function()
  local t = now_ms()
  if next_at == nil or next_at < t - 1000 then next_at = t end
  next_at = next_at + interval
  local d = next_at - t
  if d < 0 then return 0 end
  return d
end
${WRK_DONE}
local base_done = done
done = function(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n401")
    b = b + t:get("n429")
    c = c + t:get("nother")
  end
  io.write(string.format('BENCHSTATUS {"401":%d,"429":%d,"other":%d}\\n', a, b, c))
  base_done(summary, latency, requests)
end
`;
}

/** Options shared by the load runs. */
export interface LoadOptions {
  url: string;
  /** The Authorization header value, or null for none. */
  authorization: string | null;
  connections: number;
  durationSec: number;
  /** Directory for scripts and logs. */
  workDir: string;
}

/** wrk -t1 over HTTP/1.1 (TLS when the URL is https). Non-2xx/3xx responses count as errors. */
export async function wrk(
  opts: LoadOptions & { script?: string; expectStatusErrors?: boolean },
): Promise<LoadResult> {
  const scriptPath = await Deno.makeTempFile({ dir: opts.workDir, suffix: ".lua" });
  await Deno.writeTextFile(scriptPath, opts.script ?? WRK_DONE);
  const args = [
    "-t1",
    `-c${opts.connections}`,
    `-d${opts.durationSec}s`,
    "--timeout",
    "10s",
    "-s",
    scriptPath,
  ];
  if (opts.authorization) args.push("-H", `Authorization: ${opts.authorization}`);
  args.push(opts.url);
  const out = await run("wrk", args, (opts.durationSec + 30) * 1000);
  const line = out.stdout.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (out.code !== 0 || !line) {
    throw new Error(`wrk ${args.join(" ")} failed (exit ${out.code}):\n${out.stdout}${out.stderr}`);
  }
  const j = JSON.parse(line.slice("BENCHJSON ".length));
  const statusLine = out.stdout.split("\n").find((l) => l.startsWith("BENCHSTATUS "));
  const seconds = j.duration_us / 1e6;
  const parts: [string, number][] = [
    ["status", opts.expectStatusErrors ? 0 : j.status],
    ["connect", j.connect],
    ["read", j.read],
    ["write", j.write],
    ["timeout", j.timeout],
  ];
  const bad = parts.filter(([, n]) => n > 0);
  return {
    requests: j.requests,
    seconds,
    reqPerSec: j.requests / seconds,
    p50Ms: j.requests > 0 ? j.p50 / 1000 : NaN,
    p99Ms: j.requests > 0 ? j.p99 / 1000 : NaN,
    maxMs: j.requests > 0 ? j.max / 1000 : NaN,
    errors: bad.reduce((n, [, v]) => n + v, 0),
    errorDetail: bad.map(([k, v]) => `${k} ${v}`).join(", "),
    protocol: "http/1.1",
    statusCounts: statusLine ? JSON.parse(statusLine.slice("BENCHSTATUS ".length)) : undefined,
  };
}

/**
 * h2load -t1 over HTTP/2 (ALPN h2), `connections` clients × `streams` concurrent streams, for
 * `durationSec` after `warmUpSec` of warm-up. h2load prints no percentiles, so they are computed from its
 * per-request --log-file.
 */
export async function h2load(
  opts: LoadOptions & { streams: number; warmUpSec: number },
): Promise<LoadResult> {
  const logPath = await Deno.makeTempFile({ dir: opts.workDir, suffix: ".h2load.tsv" });
  const args = [
    "-t1",
    `-c${opts.connections}`,
    `-m${opts.streams}`,
    `-D${opts.durationSec}`,
    `--warm-up-time=${opts.warmUpSec}`,
    `--log-file=${logPath}`,
  ];
  if (opts.authorization) args.push("-H", `authorization: ${opts.authorization}`);
  args.push(opts.url);
  const out = await run("h2load", args, (opts.durationSec + 30) * 1000);
  const text = out.stdout;
  const finished = text.match(/finished in ([\d.]+)(m?s), ([\d.]+) req\/s/);
  const reqs = text.match(
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/,
  );
  const codes = text.match(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const proto = text.match(/Application protocol: (\S+)/);
  const tlsVersion = text.match(/TLS Protocol: (\S+)/);
  const cipher = text.match(/Cipher: (\S+)/);
  if (out.code !== 0 || !finished || !reqs || !codes) {
    throw new Error(`h2load ${args.join(" ")} failed (exit ${out.code}):\n${text}${out.stderr}`);
  }
  // "finished in" includes the warm-up; req/s and the request counts do not
  const seconds = Number(reqs[3]) / Number(finished[3]) || opts.durationSec;
  // [start µs, duration ms]; when the log also holds warm-up requests, keep only the last `done`
  let entries: [number, number][] = [];
  for (const line of (await Deno.readTextFile(logPath)).split("\n")) {
    const cols = line.split("\t");
    if (cols.length >= 3) entries.push([Number(cols[0]), Number(cols[2]) / 1000]);
  }
  await Deno.remove(logPath);
  const done = Number(reqs[3]);
  if (entries.length > done) entries = entries.sort((a, b) => a[0] - b[0]).slice(-done);
  const durations = entries.map((e) => e[1]).sort((a, b) => a - b);
  const bad: [string, number][] = [
    ["failed", Number(reqs[5])],
    ["errored", Number(reqs[6])],
    ["timeout", Number(reqs[7])],
    ["4xx", Number(codes[3])],
    ["5xx", Number(codes[4])],
  ];
  const errs = bad.filter(([, n]) => n > 0);
  return {
    requests: Number(reqs[3]),
    seconds,
    reqPerSec: Number(finished[3]),
    p50Ms: percentile(durations, 50),
    p99Ms: percentile(durations, 99),
    maxMs: durations.at(-1) ?? NaN,
    errors: Number(reqs[5]) + Number(codes[3]) + Number(codes[4]),
    errorDetail: errs.map(([k, v]) => `${k} ${v}`).join(", "),
    protocol: proto ? proto[1] : "?",
    tls: tlsVersion ? `${tlsVersion[1]} ${cipher?.[1] ?? ""}`.trim() : undefined,
  };
}

/** The `p`th percentile (nearest rank) of sorted values; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** One bulk transfer. */
export interface TransferResult {
  status: number;
  bytes: number;
  seconds: number;
  mbPerSec: number;
  /** What identifies the bytes: `cksum` output of a download, the sink's sha256 of an upload. */
  digest: string;
}

/**
 * Downloads `url` over HTTP/1.1 with curl, piping the body through `cksum` (CRC-32 and length; it
 * costs the client ~0.2 s of CPU per GiB where sha256sum would cost ~6 s) to check it byte for byte.
 */
export async function download(
  url: string,
  caFile: string | null,
  authorization: string | null,
  timeoutSec: number,
): Promise<TransferResult> {
  const curl = [
    "curl",
    "-sS",
    "--http1.1",
    "-o",
    "-",
    "-w",
    "%{stderr}CURL %{http_code} %{size_download} %{time_total}\\n",
  ];
  if (caFile) curl.push("--cacert", caFile);
  if (authorization) curl.push("-H", `Authorization: ${authorization}`);
  curl.push(url);
  const script = `set -o pipefail; ${curl.map(shellQuote).join(" ")} | cksum`;
  const out = await run("bash", ["-c", script], timeoutSec * 1000);
  const m = out.stderr.match(/CURL (\d+) (\d+) ([\d.]+)/);
  if (out.code !== 0 || !m) throw new Error(`download ${url} failed: ${out.stderr}${out.stdout}`);
  const seconds = Number(m[3]);
  const bytes = Number(m[2]);
  return {
    status: Number(m[1]),
    bytes,
    seconds,
    mbPerSec: bytes / seconds / 1e6,
    digest: `cksum ${out.stdout.trim()}`,
  };
}

/** Uploads `file` as a streamed POST (Content-Length, no Expect: 100-continue) to the sink. */
export async function upload(
  url: string,
  file: string,
  caFile: string | null,
  authorization: string | null,
  timeoutSec: number,
): Promise<TransferResult> {
  const args = [
    "-sS",
    "--http1.1",
    "-X",
    "POST",
    "-T",
    file,
    "-H",
    "Expect:",
    "-H",
    "Content-Type: application/octet-stream",
    "-w",
    "\\nCURL %{http_code} %{size_upload} %{time_total}\\n",
  ];
  if (caFile) args.push("--cacert", caFile);
  if (authorization) args.push("-H", `Authorization: ${authorization}`);
  args.push(url);
  const out = await run("curl", args, timeoutSec * 1000);
  const m = out.stdout.match(/CURL (\d+) (\d+) ([\d.]+)/);
  if (out.code !== 0 || !m) throw new Error(`upload to ${url} failed: ${out.stderr}${out.stdout}`);
  const seconds = Number(m[3]);
  const bytes = Number(m[2]);
  let digest = "";
  try {
    const body = JSON.parse(out.stdout.slice(0, m.index).trim());
    digest = `sha256 ${body.sha256} bytes ${body.bytes}`;
  } catch {
    digest = `unparsable sink answer: ${out.stdout.slice(0, 200)}`;
  }
  return { status: Number(m[1]), bytes, seconds, mbPerSec: bytes / seconds / 1e6, digest };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
