/**
 * The Prometheus ecosystem's own clients through promgate, each authenticating with basic auth and
 * verifying promgate's certificate with `tls_config.ca_file`: a second Prometheus scraping the
 * first, remote_write from one Prometheus into another, and pushes into the Pushgateway. Every
 * Prometheus config is checked with `promtool check config` before it is used.
 */
import { gzipSync } from "node:zlib";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { startPrometheus } from "./_prometheus.ts";
import {
  checkedPrometheusConfig,
  direct,
  type Gate,
  instantQuery,
  PASSWORD,
  reservePort,
  type Sample,
  type Service,
  startGate,
  startPushgateway,
  USER,
  waitForQuery,
  workDir,
} from "./_stack.ts";
import { needs, run } from "./_util.ts";

/** A YAML double-quoted string (JSON's escapes are valid YAML). */
const q = (s: string) => JSON.stringify(s);

/** The client part of a Prometheus config that reaches promgate: basic auth and a pinned CA. */
function gateClient(gate: Gate, password: string, indent: string): string {
  return [
    `basic_auth:`,
    `  username: ${q(USER)}`,
    `  password: ${q(password)}`,
    `tls_config:`,
    `  ca_file: ${q(gate.certFile)}`,
  ].map((line) => indent + line).join("\n");
}

/** A scrape target as Prometheus' /api/v1/targets describes it. */
interface Target {
  labels: { job: string };
  health: "up" | "down" | "unknown";
  lastError: string;
  scrapeUrl: string;
}

/** The single value of a one-sample query result. */
function only(result: Sample[]): number {
  assertEquals(result.length, 1, JSON.stringify(result));
  return Number(result[0].value[1]);
}

/** Access-log lines for `method path` answered with `status`. */
function logged(gate: Gate, method: string, path: string, status: number): string[] {
  return gate.gate.stdout().split("\n").filter((line) =>
    line.includes(`"${method} ${path} HTTP/`) && line.includes(`" ${status} `)
  );
}

Deno.test(
  "a second Prometheus scrapes the first through promgate (basic_auth, tls_config.ca_file)",
  needs("prometheus", "promtool", "htpasswd", "openssl"),
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const target = await startPrometheus(w.dir, `${base}/prometheus`);
    let gate: Gate | undefined;
    let scraper: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      gate = await startGate(w.dir, port, [{ path: "/prometheus/", upstream: `${target.url}/` }]);
      const job = (name: string, client: string) =>
        [
          `  - job_name: ${name}`,
          `    scheme: https`,
          `    metrics_path: /prometheus/metrics`,
          client,
          `    static_configs:`,
          `      - targets: ["127.0.0.1:${port}"]`,
        ].join("\n");
      const config = await checkedPrometheusConfig(
        `${w.dir}/scraper.yml`,
        [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 1s",
          "scrape_configs:",
          job("through-promgate", gateClient(gate, PASSWORD, "    ")),
          job("wrong-password", gateClient(gate, "not the password", "    ")),
          // Without the CA the scraper must refuse promgate's self-signed certificate.
          job("unknown-ca", `    basic_auth: { username: ${q(USER)}, password: ${q(PASSWORD)} }`),
          "",
        ].join("\n"),
      );
      scraper = await startPrometheus(w.dir, "http://127.0.0.1/", { config });
      const get = direct(scraper.url);

      // Wait until every job has been scraped and the good one has succeeded; say why not.
      const jobs = ["through-promgate", "wrong-password", "unknown-ca"];
      const deadline = Date.now() + 15_000;
      let targets: Target[] = [];
      while (true) {
        targets = (await (await get("/api/v1/targets")).json()).data.activeTargets;
        const health = (j: string) => targets.find((t) => t.labels.job === j)?.health;
        if (jobs.every((j) => health(j) !== "unknown") && health("through-promgate") === "up") {
          break;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `targets not scraped as expected within 15 s: ${JSON.stringify(targets, null, 1)}\n` +
              `promgate's access log:\n${gate.gate.stdout()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const ups = await waitForQuery(
        "up",
        get,
        (r) =>
          jobs.every((j) => r.some((s) => s.metric.job === j)) &&
          r.some((s) => s.metric.job === "through-promgate" && s.value[1] === "1"),
        5000,
      );
      const up = (j: string) => ups.find((s) => s.metric.job === j)?.value[1];
      assertEquals(up("through-promgate"), "1");
      assertEquals(up("wrong-password"), "0");
      assertEquals(up("unknown-ca"), "0");

      // The scraped body arrived whole: the first Prometheus' own series are in the second.
      const build = await instantQuery(`prometheus_build_info{job="through-promgate"}`, get);
      assertEquals(build.length, 1, JSON.stringify(build));
      assert(
        only(await instantQuery(`scrape_samples_scraped{job="through-promgate"}`, get)) > 100,
        "a full /metrics page was scraped",
      );

      // Why the other two failed, in the scraper's own words.
      const byJob = (j: string) => targets.find((t) => t.labels.job === j)!;
      assertEquals(byJob("through-promgate").health, "up");
      assertEquals(
        byJob("through-promgate").scrapeUrl,
        `https://127.0.0.1:${port}/prometheus/metrics`,
      );
      // 401, or 429 once promgate's failed-login throttle blocks the repeated wrong password.
      assertMatch(
        byJob("wrong-password").lastError,
        /server returned HTTP status (401 Unauthorized|429 Too Many Requests)/,
      );
      assertMatch(byJob("unknown-ca").lastError, /x509: certificate signed by unknown authority/);

      const scrapes = logged(gate, "GET", "/prometheus/metrics", 200);
      assert(scrapes.length > 0, gate.gate.stdout());
      assertMatch(scrapes[0], / - admin \[.*"Prometheus\/2\.\d+\.\d+/);
    } finally {
      await scraper?.stop();
      await gate?.close();
      await target.stop();
      await w.remove();
    }
  },
);

Deno.test(
  "remote_write from one Prometheus reaches a receiver Prometheus through promgate",
  needs("prometheus", "promtool", "htpasswd", "openssl"),
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const receiver = await startPrometheus(w.dir, `${base}/receiver`, {
      extraArgs: ["--web.enable-remote-write-receiver"],
    });
    let gate: Gate | undefined;
    let writer: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      gate = await startGate(w.dir, port, [{ path: "/receiver/", upstream: `${receiver.url}/` }]);
      const queue = (name: string, password: string) =>
        [
          `  - name: ${name}`,
          `    url: ${base}/receiver/api/v1/write`,
          gateClient(gate!, password, "    "),
          `    queue_config:`,
          `      { batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 500ms }`,
        ].join("\n");
      // The writer scrapes the receiver's /metrics directly and labels everything writer="w1",
      // so whatever the receiver holds with that label came in by remote_write.
      const config = await checkedPrometheusConfig(
        `${w.dir}/writer.yml`,
        [
          "global:",
          "  scrape_interval: 1s",
          "  external_labels: { writer: w1 }",
          "scrape_configs:",
          "  - job_name: w1-scrape",
          "    static_configs:",
          `      - targets: [${q(new URL(receiver.url).host)}]`,
          "remote_write:",
          queue("through-promgate", PASSWORD),
          queue("wrong-password", "not the password"),
          "",
        ].join("\n"),
      );
      writer = await startPrometheus(w.dir, "http://127.0.0.1/", { config });

      // Queried through promgate too, as a user of the receiver would.
      const viaGate = (path: string) => gate!.fetch(`/receiver${path}`);
      const up = await waitForQuery(`up{writer="w1"}`, viaGate, (r) => r.length > 0);
      assertEquals(up[0].metric.job, "w1-scrape");
      assertEquals(up[0].value[1], "1");
      const series = only(
        await waitForQuery(
          `count({writer="w1"})`,
          viaGate,
          (r) => r.length === 1 && Number(r[0].value[1]) > 100,
        ),
      );

      // Batch after batch keeps arriving, not just the first.
      await waitForQuery(
        `count_over_time(up{writer="w1"}[1m])`,
        viaGate,
        (r) => r.length === 1 && Number(r[0].value[1]) >= 3,
      );

      // The writer's own counters (from its /metrics): samples sent through promgate with none
      // failed, and every batch of the wrong password's queue refused.
      const counter = async (name: string, queue: string) => {
        const text = await (await fetch(`${writer!.url}/metrics`)).text();
        const line = text.split("\n").find((l) =>
          l.startsWith(`${name}{`) && l.includes(`remote_name="${queue}"`)
        );
        assert(line, `${name} for ${queue} in:\n${text}`);
        return Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      const sent = await counter("prometheus_remote_storage_samples_total", "through-promgate");
      assert(sent > 0, `sent ${sent}`);
      assertEquals(
        await counter("prometheus_remote_storage_samples_failed_total", "through-promgate"),
        0,
      );
      const deadline = Date.now() + 5000;
      let refused = 0;
      while (refused === 0 && Date.now() < deadline) {
        refused =
          await counter("prometheus_remote_storage_samples_failed_total", "wrong-password") +
          await counter("prometheus_remote_storage_samples_retried_total", "wrong-password");
        if (refused === 0) await new Promise((r) => setTimeout(r, 200));
      }
      assert(refused > 0, "the wrong password's samples were refused");
      console.log(
        `receiver holds ${series} writer="w1" series; the writer sent ${sent} samples`,
      );

      const writes = logged(gate, "POST", "/receiver/api/v1/write", 204);
      assert(writes.length > 0, gate.gate.stdout());
      assertMatch(writes[0], / - admin \[.*"Prometheus\/2\.\d+\.\d+/);
      const denied401 = logged(gate, "POST", "/receiver/api/v1/write", 401).length;
      const denied429 = logged(gate, "POST", "/receiver/api/v1/write", 429).length;
      assert(denied401 + denied429 > 0, gate.gate.stdout());
      console.log(
        `promgate: ${writes.length} writes accepted (${writes[0].match(/HTTP\/[\d.]+/)?.[0]}), ` +
          `${denied401} refused with 401, ${denied429} with 429`,
      );
    } finally {
      await writer?.stop();
      await gate?.close();
      await receiver.stop();
      await w.remove();
    }
  },
);

Deno.test(
  "curl pushes to the Pushgateway through promgate; the value reads and scrapes back",
  needs("prometheus-pushgateway", "prometheus", "promtool", "curl", "htpasswd", "openssl"),
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const pushgateway: Service = await startPushgateway(`${base}/pushgateway`);
    let gate: Gate | undefined;
    let scraper: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      gate = await startGate(w.dir, port, [
        { path: "/pushgateway/", upstream: `${pushgateway.url}/` },
      ]);
      // A Prometheus that scrapes the Pushgateway through promgate, started first: its first
      // scrape comes ~5 s after it starts (its scrape manager's first reload).
      const config = await checkedPrometheusConfig(
        `${w.dir}/pushgateway-scraper.yml`,
        [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 1s",
          "scrape_configs:",
          "  - job_name: pushgateway",
          "    honor_labels: true",
          "    scheme: https",
          "    metrics_path: /pushgateway/metrics",
          gateClient(gate, PASSWORD, "    "),
          "    static_configs:",
          `      - targets: ["127.0.0.1:${port}"]`,
          "",
        ].join("\n"),
      );
      scraper = await startPrometheus(w.dir, "http://127.0.0.1/", { config });
      const g = gate;
      const curl = (password: string, args: string[], stdin?: string) =>
        run("curl", [
          "-sS",
          "--cacert",
          g.certFile,
          "-u",
          `${USER}:${password}`,
          "-o",
          `${w.dir}/body`,
          "-w",
          "%{http_code}",
          ...args,
        ], { stdin });
      const groupUrl = `${base}/pushgateway/metrics/job/test/instance/ci`;

      // The documented push: the text format on stdin.
      const push = await curl(
        PASSWORD,
        ["--data-binary", "@-", groupUrl],
        [
          "# TYPE promgate_pushed gauge",
          `promgate_pushed{source="curl"} 42.5`,
          "",
        ].join("\n"),
      );
      assertEquals(push.code, 0, push.stderr);
      assertEquals(push.stdout, "200", await Deno.readTextFile(`${w.dir}/body`));

      // A wrong password is refused and changes nothing.
      const denied = await curl("wrong", ["--data-binary", "@-", groupUrl], "promgate_pushed 0\n");
      assertEquals(denied.stdout, "401");

      // A gzip-compressed push body passes through untouched (the Pushgateway decodes it).
      await Deno.writeFile(
        `${w.dir}/push.gz`,
        gzipSync(new TextEncoder().encode("promgate_pushed_gzip 7\n")),
      );
      const gz = await curl(PASSWORD, [
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        `@${w.dir}/push.gz`,
        `${base}/pushgateway/metrics/job/gzip`,
      ]);
      assertEquals(gz.stdout, "200", await Deno.readTextFile(`${w.dir}/body`));

      // Read back through promgate, compressed and not.
      for (const extra of [[], ["--compressed"]]) {
        const back = await curl(PASSWORD, [...extra, `${base}/pushgateway/metrics`]);
        assertEquals(back.stdout, "200");
        const text = await Deno.readTextFile(`${w.dir}/body`);
        assertStringIncludes(text, `promgate_pushed{instance="ci",job="test",source="curl"} 42.5`);
        assertStringIncludes(text, `promgate_pushed_gzip{instance="",job="gzip"} 7`);
      }

      // And scraped back by Prometheus through promgate, with the pushed labels kept.
      const scraped = await waitForQuery(
        `promgate_pushed{job="test"}`,
        direct(scraper.url),
        (r) => r.length > 0,
      );
      assertEquals(scraped[0].metric.instance, "ci");
      assertEquals(scraped[0].metric.source, "curl");
      assertEquals(scraped[0].value[1], "42.5");

      // DELETE through promgate removes the group.
      const del = await curl(PASSWORD, ["-X", "DELETE", groupUrl]);
      assertEquals(del.stdout, "202");
      const after = await curl(PASSWORD, [`${base}/pushgateway/metrics`]);
      assertEquals(after.stdout, "200");
      const text = await Deno.readTextFile(`${w.dir}/body`);
      assert(!text.includes(`job="test"`), text);
      assertStringIncludes(text, `promgate_pushed_gzip{instance="",job="gzip"} 7`);
    } finally {
      await scraper?.stop();
      await gate?.close();
      await pushgateway.stop();
      await w.remove();
    }
  },
);
