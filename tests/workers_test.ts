/**
 * `"workers": N`: N server threads share the port, and to clients and operators they act as one
 * promgate — metrics, throttling, the credential cache and reloads cover every thread. Each
 * request here goes on a new connection, so the kernel spreads them over the threads.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { DENO_RUN_FLAGS, MAIN, needs, runPromgate, startUpstream, tempDir } from "./_util.ts";
import { rawGet, secretBasic, startGate } from "./security/_helpers.ts";

const PASSWORD = "workers-pw-7";
const THREADS = 2;

/** `count` requests, one connection each, in order; their statuses. */
async function statuses(port: number, count: number, target: string, auth?: string) {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      (await rawGet(port, target, { headers: auth ? [`Authorization: ${auth}`] : [] }))
        .status,
    );
  }
  return out;
}

/** The value of the metric line that starts with `prefix` in a fresh scrape. */
async function metric(port: number, prefix: string): Promise<number> {
  const scrape = await rawGet(port, "/metrics");
  const line = scrape.body.split("\n").find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

type Gate = Awaited<ReturnType<typeof startGate>>;

/**
 * Runs `body` against a promgate with THREADS server threads and one route, /up/, to an upstream
 * that answers "ok"; stops both afterwards.
 */
async function withThreads(
  extra: Record<string, unknown>,
  body: (gate: Gate, upstreamUrl: string) => Promise<void>,
): Promise<void> {
  const upstream = startUpstream(() => new Response("ok\n"));
  const gate = await startGate({ admin: PASSWORD }, [
    { path: "/up/", upstream: `${upstream.url}/` },
  ], { workers: THREADS, accessLog: false, ...extra });
  try {
    await body(gate, upstream.url);
  } finally {
    await gate.close();
    await upstream.close();
  }
}

Deno.test({
  ...needs("htpasswd"),
  name: "with workers: 2, every scrape counts the requests and logins of all threads",
  fn: () =>
    withThreads({ metrics: { path: "/metrics", auth: false } }, async (gate) => {
      assertMatch(gate.stderr(), new RegExp(`${THREADS} server threads`));
      const auth = secretBasic("admin", PASSWORD);
      assertEquals(await statuses(gate.port, 20, "/up/x", auth), Array(20).fill(200));
      // Five scrapes on new connections: whichever thread answers, it counts all 20.
      for (let i = 0; i < 5; i++) {
        const total = await metric(gate.port, 'promgate_requests_total{route="/up/"');
        assertEquals(total, 20, `scrape ${i + 1}`);
      }
      // One hash for the credential, whichever thread saw it first: the others cached it.
      assertEquals(await metric(gate.port, 'promgate_auth_cache_total{result="miss"}'), 1);
      assertEquals(await metric(gate.port, 'promgate_auth_cache_total{result="hit"}'), 19);
    }),
});

Deno.test({
  ...needs("htpasswd"),
  name: "with workers: 2, a client is throttled after 5 failures wherever they landed",
  fn: () =>
    withThreads({}, async (gate) => {
      const wrong = secretBasic("admin", "workers-wrong-pw");
      const seen = await statuses(gate.port, 9, "/up/x", wrong);
      assertEquals(seen.slice(0, 5), Array(5).fill(401), seen.join());
      // The 6th may reach a thread a fraction of a millisecond before the 5th failure does.
      assertEquals(seen.slice(6), Array(3).fill(429), seen.join());
      assertEquals(
        gate.stderr().match(/login throttled: client 127\.0\.0\.1 waits 1 s/g)?.length,
        1,
        "one thread speaks for all",
      );
    }),
});

Deno.test({
  ...needs("htpasswd"),
  name: "with workers: 2, SIGHUP gives every thread the new routes",
  fn: () =>
    withThreads({}, async (gate, upstreamUrl) => {
      const auth = secretBasic("admin", PASSWORD);
      assertEquals(await statuses(gate.port, 6, "/new/x", auth), Array(6).fill(404));
      const config = JSON.parse(await Deno.readTextFile(`${gate.dir}/config.json`));
      config.routes.push({ path: "/new/", upstream: `${upstreamUrl}/` });
      await Deno.writeTextFile(`${gate.dir}/config.json`, JSON.stringify(config));
      Deno.kill(gate.pid, "SIGHUP");
      const deadline = Date.now() + 10_000;
      while (!/reload: config .*2 routes/.test(gate.stderr()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assertMatch(gate.stderr(), /reload: config .*: 2 routes/);
      // The main thread says "reloaded" only once every thread has: no 404 from a late one.
      await new Promise((r) => setTimeout(r, 200));
      assertEquals(await statuses(gate.port, 10, "/new/x", auth), Array(10).fill(200));
      assertEquals(gate.stderr().match(/reload: config /g)?.length, 1, "one thread speaks for all");
    }),
});

Deno.test({
  ...needs("htpasswd"),
  name: "with workers: 2, a second promgate on the same port is refused, not let in to share",
  fn: () =>
    withThreads({}, async (gate) => {
      const config = JSON.parse(await Deno.readTextFile(`${gate.dir}/config.json`));
      config.listen.port = gate.port;
      await Deno.writeTextFile(`${gate.dir}/second.json`, JSON.stringify(config));
      const second = await runPromgate(["--config", `${gate.dir}/second.json`]);
      assertEquals(second.code, 1, second.stderr);
      assert(/in use|address already in use/i.test(second.stderr), second.stderr);
    }),
});

Deno.test({
  // Deno's own flags are what is tested; the Bun and binary runs have none.
  ignore: Deno.env.get("PROMGATE_CMD") !== undefined,
  name: "under Deno without --unstable-net, plain HTTP with workers: 2 serves from one thread",
  async fn() {
    const upstream = startUpstream(() => new Response("ok\n"));
    const dir = await tempDir();
    const config = {
      listen: { hostname: "127.0.0.1", port: 0 },
      routes: [{ path: "/", upstream: `${upstream.url}/`, auth: false }],
      accessLog: false,
      workers: THREADS,
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const flags = DENO_RUN_FLAGS.filter((f) => f !== "--unstable-net");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, MAIN, "--config", `${dir}/config.json`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let err = "";
    const reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
    })();
    let exited = false;
    child.status.then(() => exited = true);
    try {
      const started = Date.now();
      // Stop waiting as soon as promgate exits (the old code exited with 70 at start-up).
      while (!/listening on (\S+)/.test(err) && !exited && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /listening on (\S+)/.exec(err)?.[1];
      assert(
        url !== undefined,
        `promgate did not start (it exits 70 if it asks for SO_REUSEPORT):\n${err}`,
      );
      const r = await fetch(`${url}/`);
      assertEquals([r.status, await r.text()], [200, "ok\n"]);
      assertMatch(
        err,
        /needs? Deno's --unstable-net flag \(SO_REUSEPORT\); serving from one thread/,
      );
    } finally {
      if (!exited) child.kill("SIGTERM");
      await child.status;
      await reading;
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
