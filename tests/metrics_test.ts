/** promgate's own metrics: counted from finished requests, valid for `promtool check metrics`. */
import type { AccessRecord } from "../lib/http/access_log.ts";
import { Metrics } from "../lib/http/metrics.ts";
import { ReloadStatus } from "../lib/service/reload_status.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { needs, run } from "./_util.ts";

function record(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    remoteAddr: "127.0.0.1",
    user: "admin",
    time: new Date(),
    method: "GET",
    uri: "/prometheus/metrics",
    protocol: "HTTP/1.1",
    status: 200,
    bytes: 1000,
    referer: null,
    userAgent: null,
    durationMs: 30,
    route: "/prometheus/",
    ...over,
  };
}

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("counts requests by route, method and code, with durations and bytes", () => {
  const m = new Metrics({ version: "1.2.3", runtime: "deno 2.9.6", commit: "abc" });
  for (let i = 0; i < 3; i++) {
    m.started();
    m.finished(record(), { cacheHit: i > 0 });
  }
  m.started();
  m.finished(record({ status: 401, user: null, bytes: 13 }), { authFailure: "wrong_password" });
  m.started();
  m.finished(record({ status: 504, method: "BREW", durationMs: 1500 }), {
    upstreamError: "timeout",
  });
  m.started();
  const text = m.render();
  const r = 'route="/prometheus/"';
  assertEquals(sample(text, `promgate_requests_total{${r},method="GET",code="200"}`), 3);
  assertEquals(sample(text, `promgate_requests_total{${r},method="other",code="504"}`), 1);
  assertEquals(sample(text, `promgate_response_bytes_total{${r}}`), 3 * 1000 + 13 + 1000);
  assertEquals(sample(text, `promgate_request_duration_seconds_bucket{${r},le="0.05"}`), 4);
  assertEquals(sample(text, `promgate_request_duration_seconds_bucket{${r},le="2.5"}`), 5);
  assertEquals(sample(text, `promgate_request_duration_seconds_count{${r}}`), 5);
  assertEquals(sample(text, 'promgate_auth_failures_total{reason="wrong_password"}'), 1);
  assertEquals(sample(text, 'promgate_auth_cache_total{result="hit"}'), 2);
  assertEquals(sample(text, 'promgate_auth_cache_total{result="miss"}'), 1);
  assertEquals(sample(text, `promgate_upstream_errors_total{${r},kind="timeout"}`), 1);
  assertEquals(sample(text, "promgate_requests_in_flight"), 1);
  assertMatch(text, /promgate_build_info\{version="1.2.3",runtime="deno 2.9.6",commit="abc"\} 1/);
  assert(sample(text, "process_resident_memory_bytes")! > 1e6);
});

Deno.test("escapes label values as the text format requires", () => {
  const m = new Metrics({ version: "1", runtime: "deno", commit: 'a"b\\c\nd' });
  assertMatch(m.render(), /commit="a\\"b\\\\c\\nd"/);
});

Deno.test("promtool check metrics accepts the exposition", needs("promtool"), async () => {
  const m = new Metrics({ version: "1.2.3", runtime: "deno 2.9.6", commit: "abc" });
  m.started();
  m.finished(record(), { cacheHit: false });
  m.started();
  m.finished(record({ route: null, status: 401 }), { authFailure: "missing" });
  const out = await run("promtool", ["check", "metrics"], { stdin: m.render() });
  assertEquals([out.code, out.stdout + out.stderr], [0, ""]);
});

Deno.test("a request that fails inside promgate leaves the in-flight gauge where it was", () => {
  const m = new Metrics({ version: "1", runtime: "deno", commit: "x" });
  m.started();
  m.abandoned();
  assertEquals(sample(m.render(), "promgate_requests_in_flight"), 0);
});

Deno.test("a scrape adds the other server threads' counts to this one's", () => {
  const build = { version: "t", runtime: "t", commit: "t" };
  const [a, b] = [new Metrics(build), new Metrics(build)];
  const record = (route: string, status: number) => ({
    remoteAddr: "127.0.0.1",
    user: "u",
    time: new Date(),
    method: "GET",
    uri: "/x",
    protocol: "HTTP/1.1",
    status,
    bytes: 10,
    referer: null,
    userAgent: null,
    durationMs: 3,
    route,
  });
  for (const m of [a, b, b]) {
    m.started();
    m.finished(record("/p/", 200), { cacheHit: true });
  }
  b.started(); // one request still in flight on b
  const text = a.render([b.snapshot()]);
  assertMatch(text, /promgate_requests_total\{route="\/p\/",method="GET",code="200"\} 3\n/);
  assertMatch(text, /promgate_response_bytes_total\{route="\/p\/"\} 30\n/);
  assertMatch(text, /promgate_request_duration_seconds_count\{route="\/p\/"\} 3\n/);
  assertMatch(text, /promgate_auth_cache_total\{result="hit"\} 3\n/);
  assertMatch(text, /promgate_requests_in_flight 1\n/);
});

// -- reloads (issue 12 item 11) -----------------------------------------------------------------

const BUILD = { version: "t", runtime: "t", commit: "t" };
const SUCCESSFUL = "promgate_config_last_reload_successful";
const SUCCESS_TIME = "promgate_config_last_reload_success_timestamp_seconds";

Deno.test("a refused reload shows as 0 until the next success, which moves the timestamp", async () => {
  const status = ReloadStatus.create();
  const m = new Metrics(BUILD, status);
  const started = sample(m.render(), SUCCESS_TIME)!;
  assertEquals(sample(m.render(), SUCCESSFUL), 1, "start-up counts as a successful load");
  assert(Math.abs(started - Date.now() / 1000) < 5, `timestamp ${started} is not now`);
  await new Promise((r) => setTimeout(r, 20));
  status.failed("htpasswd");
  assertEquals(sample(m.render(), SUCCESSFUL), 0);
  assertEquals(sample(m.render(), SUCCESS_TIME), started, "a failure keeps the last success");
  status.succeeded("htpasswd");
  assertEquals(sample(m.render(), SUCCESSFUL), 1);
  assert(sample(m.render(), SUCCESS_TIME)! > started);
});

Deno.test("a good certificate reload does not hide a refused htpasswd file; SIGHUP clears all", () => {
  const status = ReloadStatus.create();
  const m = new Metrics(BUILD, status);
  status.failed("htpasswd");
  const before = sample(m.render(), SUCCESS_TIME);
  status.succeeded("tls");
  assertEquals(sample(m.render(), SUCCESSFUL), 0);
  assertEquals(sample(m.render(), SUCCESS_TIME), before);
  assertEquals(status.failing(), ["htpasswd"]);
  status.failed("config");
  status.succeeded("htpasswd");
  assertEquals([sample(m.render(), SUCCESSFUL), status.failing()], [0, ["config"]]);
  status.succeeded("config"); // a SIGHUP that loads re-read every file
  assertEquals([sample(m.render(), SUCCESSFUL), status.failing()], [1, []]);
});

Deno.test("every server thread's scrape shows the same reload state", () => {
  const shared = ReloadStatus.create(2);
  const threads = [0, 1].map((i) => new ReloadStatus(shared.buffer, i));
  const scrapes = () =>
    threads.map((t) => {
      const text = new Metrics(BUILD, t).render();
      return [sample(text, SUCCESSFUL), sample(text, SUCCESS_TIME)];
    });
  threads[1].failed("htpasswd"); // one thread refused the file: the process is not all good
  const [a, b] = scrapes();
  assertEquals(a, b);
  assertEquals(a[0], 0);
  threads[1].succeeded("htpasswd");
  const [c, d] = scrapes();
  assertEquals([c, c[0]], [d, 1]);
});

Deno.test("promtool check metrics accepts the reload gauges", needs("promtool"), async () => {
  const m = new Metrics(BUILD, ReloadStatus.create());
  const text = m.render();
  assertMatch(text, /# TYPE promgate_config_last_reload_successful gauge\n/);
  const out = await run("promtool", ["check", "metrics"], { stdin: text });
  assertEquals([out.code, out.stdout + out.stderr], [0, ""]);
});
