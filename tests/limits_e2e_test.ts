/**
 * Per-user limits end to end, as the real process (any runtime: see promgateCommand) in front of
 * a slow upstream: one user over its concurrency limit is queued, then refused with 429 and
 * Retry-After, while a second user's latency stays as it was; a rate limit refuses after its
 * burst; a streaming answer holds its slot until its last byte; the metrics count by rule.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { basic, makeHtpasswd, needs, startPromgate, startUpstream, tempDir } from "./_util.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The upstream: /slow answers after 1 s, /stream sends 5 chunks over 1 s, anything else at once. */
function slowUpstream() {
  return startUpstream(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/slow") {
      await sleep(1000);
      return new Response("slow\n");
    }
    if (path === "/stream") {
      let n = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (n++ === 5) return c.close();
            await sleep(200);
            c.enqueue(new TextEncoder().encode(`chunk ${n}\n`));
          },
        }),
      );
    }
    return new Response("fast\n");
  });
}

/** The 99th percentile of `ms` (the highest but one of 100 or fewer, i.e. nearly the max). */
function p99(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

Deno.test({
  name: "one user over its limits gets 429s with Retry-After; another user is not slowed",
  ...needs("htpasswd"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    const users = { heavy: "h-pass", light: "l-pass", rater: "r-pass", streamer: "s-pass" };
    await makeHtpasswd(`${dir}/.htpasswd`, users);
    const upstream = slowUpstream();
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { htpasswdFile: ".htpasswd" },
      workers: 1, // a queue's length is bounded per thread; its slots are one per process
      metrics: { path: "/metrics", auth: false },
      accessLog: false,
      limits: [
        { name: "heavy", who: ["heavy"], concurrent: 2, queueSeconds: 3, queue: 2 },
        { name: "rate", who: ["rater"], perSecond: 0.5, burst: 3 },
      ],
      routes: [{
        path: "/",
        upstream: upstream.url + "/",
        limits: [{ name: "stream", who: ["streamer"], concurrent: 1, queueSeconds: 0 }],
      }],
    });
    const get = async (user: keyof typeof users, path: string) => {
      const started = performance.now();
      const r = await fetch(gate.url + path, {
        headers: { authorization: basic(user, users[user]) },
      });
      const text = await r.text();
      return {
        status: r.status,
        retryAfter: r.headers.get("retry-after"),
        text,
        ms: performance.now() - started,
      };
    };
    const lightRun = async () => {
      const times: number[] = [];
      for (let i = 0; i < 40; i++) times.push((await get("light", "/fast")).ms);
      return times;
    };
    try {
      for (const user of ["heavy", "light", "streamer"] as const) {
        assertEquals((await get(user, "/fast")).status, 200); // logins cached from here on
      }
      await lightRun(); // warm-up, so that the two runs compare like with like
      const before = p99(await lightRun());

      // Concurrency: 2 in flight, 2 queued (served when the first finish), 4 refused at once.
      const heavy = Array.from({ length: 8 }, () => get("heavy", "/slow"));
      await sleep(100);
      const during = p99(await lightRun());
      const answers = await Promise.all(heavy);
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 429);
      assertEquals(ok.length, 4, JSON.stringify(answers));
      assertEquals(refused.length, 4, JSON.stringify(answers));
      for (const a of refused) {
        assertEquals(a.retryAfter, "3");
        assert(a.ms < 500, `a full queue refuses at once (${a.ms} ms)`);
      }
      const queued = ok.filter((a) => a.ms > 1800);
      assertEquals(queued.length, 2, "two waited for a slot and got it");
      console.log(
        `light user's p99: ${before.toFixed(1)} ms alone, ${during.toFixed(1)} ms ` +
          `while the heavy user is over its limit`,
      );
      assert(during < before * 3 + 50, `p99 ${during} ms under load vs ${before} ms alone`);

      // Rate: a burst of 3, then 429 with the seconds left in the 6 s window.
      // Not within the last second of a window (they follow the wall clock), so none ends mid-burst.
      const left = 6000 - Date.now() % 6000;
      if (left < 1000) await sleep(left + 50);
      const rated = [];
      for (let i = 0; i < 4; i++) rated.push(await get("rater", "/fast"));
      assertEquals(rated.map((r) => r.status), [200, 200, 200, 429]);
      const wait = Number(rated[3].retryAfter);
      assert(wait >= 1 && wait <= 6, `Retry-After ${rated[3].retryAfter}`);

      // A streaming answer holds its slot until its last byte.
      const stream = await fetch(gate.url + "/stream", {
        headers: { authorization: basic("streamer", users.streamer) },
      });
      assertEquals(stream.status, 200);
      const second = await get("streamer", "/fast");
      assertEquals(second.status, 429, "the slot is held while the body streams");
      assertStringIncludes(await stream.text(), "chunk 5");
      await sleep(100);
      assertEquals((await get("streamer", "/fast")).status, 200, "and free once it ended");

      const metrics = await (await fetch(gate.url + "/metrics")).text();
      assertStringIncludes(
        metrics,
        'promgate_limit_refused_total{limit="heavy",reason="concurrency"} 4',
      );
      assertStringIncludes(metrics, 'promgate_limit_queued_total{limit="heavy"} 2');
      assertStringIncludes(metrics, 'promgate_limit_refused_total{limit="rate",reason="rate"} 1');
      assertStringIncludes(
        metrics,
        'promgate_limit_refused_total{limit="stream",reason="concurrency"} 1',
      );
      assertStringIncludes(metrics, 'promgate_limit_in_flight{limit="heavy"} 0');
    } finally {
      await gate.stop();
      await upstream.close();
    }
  },
});

Deno.test({
  name: "with several server threads a user's concurrency is counted once for the process",
  ...needs("htpasswd"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    await makeHtpasswd(`${dir}/.htpasswd`, { heavy: "h-pass" });
    const upstream = slowUpstream();
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { htpasswdFile: ".htpasswd" },
      workers: 2,
      accessLog: false,
      limits: [{ who: ["heavy"], concurrent: 2, queueSeconds: 0 }],
      routes: [{ path: "/", upstream: upstream.url + "/" }],
    });
    try {
      const authorization = basic("heavy", "h-pass");
      // Warm both threads' credential caches, on connections of their own.
      for (let i = 0; i < 4; i++) {
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        await (await fetch(gate.url + "/fast", { headers: { authorization }, client })).text();
        client.close();
      }
      // Six requests on six connections, spread over the threads by the kernel (SO_REUSEPORT).
      const clients = Array.from({ length: 6 }, () => Deno.createHttpClient({}));
      const statuses = await Promise.all(clients.map(async (client) => {
        const r = await fetch(gate.url + "/slow", { headers: { authorization }, client });
        await r.text();
        return r.status;
      }));
      for (const client of clients) client.close();
      assertEquals(statuses.filter((s) => s === 200).length, 2, String(statuses));
      assertEquals(statuses.filter((s) => s === 429).length, 4, String(statuses));
    } finally {
      await gate.stop();
      await upstream.close();
    }
  },
});
