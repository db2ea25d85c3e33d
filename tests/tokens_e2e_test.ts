/**
 * API tokens end to end, as the real process (any runtime: see promgateCommand): a real second
 * Debian `prometheus` with `authorization: { type: Bearer, credentials_file: … }` scrapes a
 * Prometheus through promgate and remote-writes through it into one started with
 * `--web.enable-remote-write-receiver`; a token made by the real `promgate token create`; a
 * revoked token failing within the file watch's interval; the token header stripped upstream; a
 * wrong token throttled like a wrong password; and no token or hash in any of promgate's output.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { startPrometheus } from "./_prometheus.ts";
import { checkedPrometheusConfig, direct, waitForQuery } from "./_stack.ts";
import {
  curlStatus,
  makeHtpasswd,
  needs,
  runPromgate,
  startPromgate,
  startUpstream,
  tempDir,
} from "./_util.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Runs the real `promgate token create NAME`: the token, and the lines for the tokens file. */
async function createToken(name: string): Promise<{ token: string; lines: string }> {
  const r = await runPromgate(["token", "create", name]);
  assertEquals(r.code, 0, r.stderr);
  return { token: r.stdout.trim(), lines: r.stderr };
}

/** Polls `probe` every 100 ms until it holds; resolves the ms it took, or throws after `ms`. */
async function within(ms: number, what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await probe())) {
    if (performance.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return performance.now() - started;
}

Deno.test({
  name: "a real Prometheus scrapes and remote-writes through promgate with a bearer token",
  ...needs("prometheus", "promtool", "htpasswd", "curl"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    const stops: (() => Promise<unknown>)[] = [];
    try {
      // The receiver: a Prometheus that accepts remote write, scraping itself.
      const receiver = await startPrometheus(dir, "http://127.0.0.1/", {
        extraArgs: ["--web.enable-remote-write-receiver"],
      });
      stops.push(() => receiver.stop());
      // An upstream that shows what reached it, for the token header.
      const seen: Headers[] = [];
      const echo = startUpstream((req) => {
        seen.push(req.headers);
        return Response.json(Object.fromEntries(req.headers));
      });
      stops.push(() => echo.close());

      const scraper = await createToken("prometheus");
      const other = await createToken("grafana");
      const tokensFile = `${dir}/tokens`;
      await Deno.writeTextFile(tokensFile, scraper.lines + other.lines);
      await makeHtpasswd(`${dir}/.htpasswd`, { admin: "admin-pw" });
      const gate = await startPromgate(dir, {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: {
          htpasswdFile: ".htpasswd",
          tokensFile: "tokens",
          tokenHeader: "X-Promgate-Token",
          // Blocks that outlast a slow machine's requests.
          throttle: { baseDelaySeconds: 30 },
        },
        // The token's name is an identity like a user's: its group admits it.
        groups: { machines: ["prometheus", "grafana"] },
        routes: [
          { path: "/recv/", upstream: `${receiver.url}/`, allow: ["@machines"] },
          { path: "/echo/", upstream: `${echo.url}/`, forwardUser: "X-WEBAUTH-USER" },
        ],
      });
      stops.push(() => gate.stop());
      const host = new URL(gate.url).host;

      // The sender: scrapes the receiver's /metrics through promgate, remote-writes through it.
      const tokenFile = `${dir}/prometheus.token`;
      await Deno.writeTextFile(tokenFile, scraper.token + "\n");
      const bearer = `authorization: { type: Bearer, credentials_file: ${tokenFile} }`;
      const config = await checkedPrometheusConfig(
        `${dir}/sender.yml`,
        `global:\n  scrape_interval: 1s\n  external_labels: { sender: tokens-e2e }\n` +
          `scrape_configs:\n  - job_name: through-promgate\n    metrics_path: /recv/metrics\n` +
          `    ${bearer}\n    static_configs: [{ targets: ["${host}"] }]\n` +
          `remote_write:\n  - url: ${gate.url}/recv/api/v1/write\n    ${bearer}\n` +
          `    queue_config: { batch_send_deadline: 1s }\n`,
      );
      const sender = await startPrometheus(dir, "http://127.0.0.1/", { config });
      stops.push(() => sender.stop());

      const query = 'up{job="through-promgate"}';
      await waitForQuery(query, direct(sender.url), (r) => r[0]?.value[1] === "1", 20_000);
      // The sender's samples arrive at the receiver, through promgate.
      const arrived = await waitForQuery(
        `up{job="through-promgate", sender="tokens-e2e"}`,
        direct(receiver.url),
        (r) => r.length === 1,
        30_000,
      );
      assertEquals(arrived[0].metric.instance, host);
      await gate.waitForStdout(/ - prometheus \[.*"POST \/recv\/api\/v1\/write HTTP\/1\.1" 204 /);

      // The token header identifies too, and neither it nor the token reaches the upstream.
      const viaHeader = await fetch(`${gate.url}/echo/x`, {
        headers: { "x-promgate-token": other.token, "x_promgate_token": "smuggled" },
      });
      const echoed = await viaHeader.json();
      assertEquals(viaHeader.status, 200);
      assertEquals(echoed["x-webauth-user"], "grafana");
      for (const headers of seen) {
        for (const [name, value] of headers) {
          assert(!/promgate.token|^authorization$/i.test(name), `${name} reached the upstream`);
          assert(!value.includes(other.token) && !value.includes(scraper.token), name);
        }
      }

      // A broken tokens file is refused at run time; the last good tokens keep working.
      await Deno.writeTextFile(tokensFile, scraper.lines + other.lines + "prometheus:oops\n");
      await within(
        10_000,
        "kept the previous tokens",
        () => Promise.resolve(gate.stderr().includes(`kept the previous tokens: ${tokensFile}:5:`)),
      );
      const still = await curlStatus(
        "-H",
        `Authorization: Bearer ${scraper.token}`,
        `${gate.url}/recv/-/ready`,
      );
      assertEquals(still.stdout, "200");

      // Wrong tokens are throttled like wrong passwords: 5 × 401, then 429 (from an address of
      // their own: the counts are per address).
      const from = (address: string, header: string, path: string) =>
        curlStatus("--interface", address, "-H", header, `${gate.url}${path}`);
      const statuses: string[] = [];
      for (let i = 0; i < 7; i++) {
        statuses.push(
          (await from("127.0.0.2", `Authorization: Bearer pg_guess-${i}`, "/echo/")).stdout,
        );
      }
      assertEquals(statuses, ["401", "401", "401", "401", "401", "429", "429"]);
      const valid = await from("127.0.0.2", `X-Promgate-Token: ${other.token}`, "/echo/");
      assertEquals(valid.stdout, "200", "a valid token is never throttled");
      assertStringIncludes(gate.stderr(), "login throttled: client 127.0.0.2 waits 30 s");

      // Revoked: the line removed, the token fails within the watch's interval (1 s polls, and
      // a change must hold for two of them): 401, or 429 once the sender's failed attempts with
      // it have been counted.
      await Deno.writeTextFile(tokensFile, other.lines);
      const scraperHeader = `Authorization: Bearer ${scraper.token}`;
      const ms = await within(5_000, "the revoked token fails", async () => {
        const r = await from("127.0.0.3", scraperHeader, "/recv/-/ready");
        return r.stdout !== "200";
      });
      console.log(`revoked token refused ${Math.round(ms)} ms after the line was removed`);
      assert(
        ["401", "429"].includes((await from("127.0.0.3", scraperHeader, "/recv/-/ready")).stdout),
      );
      assertStringIncludes(gate.stderr(), `reload: tokens ${tokensFile}: 1 tokens`);
      await waitForQuery(query, direct(sender.url), (r) => r[0]?.value[1] === "0", 10_000);
      // The other token is not affected.
      const kept = await from("127.0.0.4", `X-Promgate-Token: ${other.token}`, "/echo/");
      assertEquals(kept.stdout, "200");

      await sender.stop();
      assertEquals(await gate.stop(), 0, gate.stderr()); // stopping twice (finally) is harmless
      // Nothing promgate wrote holds a token or a token's hash.
      const output = gate.stdout() + gate.stderr();
      for (const token of [scraper.token, other.token, "pg_guess-0"]) {
        assert(!output.includes(token), "a token is in promgate's output");
        assert(!output.includes(sha256(token)), "a token's hash is in promgate's output");
      }
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a bad tokens file stops start-up and --check with exit 2, naming the line", async () => {
  const dir = await tempDir();
  try {
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: "admin-pw" });
    const { lines, token } = await createToken("prometheus");
    await Deno.writeTextFile(`${dir}/tokens`, `${lines}${token}\n`);
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: { htpasswdFile: ".htpasswd", tokensFile: "tokens" },
        routes: [{ path: "/", upstream: "http://127.0.0.1:9/" }],
      }),
    );
    for (const args of [["--check"], []]) {
      const r = await runPromgate([...args, "--config", `${dir}/config.json`]);
      assertEquals(r.code, 2, r.stderr);
      assertStringIncludes(r.stderr, `${dir}/tokens:3: this looks like a token, not its hash`);
      assert(!(r.stdout + r.stderr).includes(token), "the pasted token is quoted");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
