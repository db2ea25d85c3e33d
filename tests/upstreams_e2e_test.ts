/**
 * A route with two real Debian Prometheus servers behind it, under steady load: one is killed
 * (SIGKILL) mid-run and the clients see no 5xx; it comes back and gets requests again once its
 * health check passes; both down answers 503 at once. Run against Bun with PROMGATE_CMD.
 */
import { assert, assertEquals } from "./_assert.ts";
import { isReady } from "./_prometheus.ts";
import { freePort, needs, startPromgate, tempDir } from "./_util.ts";

/** A Prometheus on a fixed port, so that it can be killed and started again at the same address. */
async function prometheusOn(dir: string, port: number, run: number) {
  const config = `${dir}/prometheus-${port}.yml`;
  await Deno.writeTextFile(config, "global:\n  scrape_interval: 1s\n");
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${dir}/tsdb-${port}-${run}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 30_000;
  while (!(await isReady(`http://127.0.0.1:${port}/-/ready`))) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`prometheus on port ${port} did not become ready`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone already */ }
      await child.status;
    },
  };
}

/** What a client saw. */
interface Tally {
  total: number;
  ok: number;
  /** 5xx answers. */
  errors5xx: number;
  /** Responses whose body broke off, or connections that failed, mid-answer. */
  midAnswer: number;
  /** Statuses other than 200 and 5xx. */
  other: number;
}

/** `workers` clients fetching `url` in a loop until `until()` says stop. */
async function load(url: string, workers: number, until: () => boolean): Promise<Tally> {
  const t: Tally = { total: 0, ok: 0, errors5xx: 0, midAnswer: 0, other: 0 };
  const client = async () => {
    while (!until()) {
      t.total++;
      try {
        const r = await fetch(url);
        const body = await r.text();
        if (r.status === 200 && body.includes('"status":"success"')) t.ok++;
        else if (r.status >= 500) t.errors5xx++;
        else t.other++;
      } catch {
        t.midAnswer++;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, client));
  return t;
}

/** promgate's promgate_upstream_* samples for `origin`. */
async function upstreamSamples(base: string, origin: string) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (name: string) => {
    const line = text.split("\n").find((l) =>
      l.startsWith(`${name}{`) && l.includes(`upstream="${origin}"`)
    );
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };
  return {
    up: value("promgate_upstream_up"),
    requests: value("promgate_upstream_requests_total"),
    retries: value("promgate_upstream_retries_total"),
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test(
  "a killed Prometheus of an HA pair costs clients no 5xx, comes back after its health check, and both down answers 503 at once",
  needs("prometheus"),
  async () => {
    const dir = await tempDir();
    const [portA, portB] = [freePort(), freePort()];
    let a = await prometheusOn(dir, portA, 1);
    const b = await prometheusOn(dir, portB, 1);
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      workers: 1,
      metrics: { path: "/metrics", auth: false },
      routes: [{
        path: "/prom/",
        upstream: [`${a.origin}/`, `${b.origin}/`],
        auth: false,
        healthCheck: { intervalSeconds: 0.25, timeoutSeconds: 0.5, unhealthyAfter: 1 },
      }],
    });
    try {
      const url = `${gate.url}/prom/api/v1/query?query=up`;
      // Steady load; A (first-available) serves it; A is killed a second in.
      let stop = false;
      const running = load(url, 8, () => stop);
      await sleep(1000);
      const beforeKill = await upstreamSamples(gate.url, a.origin);
      await a.kill();
      const killedAt = performance.now();
      await sleep(1500);
      // Every request started after the kill went to B: none may fail.
      const after = await load(url, 4, () => performance.now() - killedAt > 2500);
      stop = true;
      const during = await running;
      console.log(
        `failover: ${during.total} requests under load, ${during.errors5xx} 5xx, ` +
          `${during.midAnswer} mid-answer, ${during.other} other; after the kill: ` +
          `${after.total} requests, ${after.ok} ok; A had served ${beforeKill.requests}, ` +
          `retries to B: ${(await upstreamSamples(gate.url, b.origin)).retries}`,
      );
      assert(beforeKill.requests > 0, "A served the load before the kill");
      assertEquals(during.errors5xx, 0);
      assertEquals(during.other, 0);
      assert(during.midAnswer <= 8, `at most one broken answer per client: ${during.midAnswer}`);
      assertEquals(after.ok, after.total);
      assert(after.total > 0);
      assertEquals((await upstreamSamples(gate.url, a.origin)).up, 0);

      // A comes back: used again once a health check has passed.
      a = await prometheusOn(dir, portA, 2);
      await waitUntil("A is up", async () => (await upstreamSamples(gate.url, a.origin)).up === 1);
      const cameBack = (await upstreamSamples(gate.url, a.origin)).requests;
      for (let i = 0; i < 20; i++) assertEquals(await fetch(url).then(drain), 200);
      const servedSince = (await upstreamSamples(gate.url, a.origin)).requests - cameBack;
      console.log(`A back: served ${servedSince} of the next 20 requests`);
      assertEquals(servedSince, 20);

      // Both down: once their checks say so, 503 at once with a reason, never a hang.
      await Promise.all([a.kill(), b.kill()]);
      await waitUntil(
        "both are down",
        async () =>
          (await upstreamSamples(gate.url, a.origin)).up === 0 &&
          (await upstreamSamples(gate.url, b.origin)).up === 0,
      );
      const started = performance.now();
      const r = await fetch(url);
      const text = await r.text();
      const ms = performance.now() - started;
      console.log(`both down: ${r.status} in ${ms.toFixed(1)} ms`);
      assertEquals(r.status, 503);
      assert(text.includes("no healthy upstream"), text);
      assert(ms < 250, `answered in ${ms} ms`);
      await waitUntil(
        "the reason is logged",
        () => Promise.resolve(gate.stderr().includes("no healthy upstream for route /prom/")),
      );
    } finally {
      await a.kill();
      await b.kill();
      assertEquals(await gate.stop(), 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function drain(r: Response): Promise<number> {
  await r.body?.cancel();
  return r.status;
}
