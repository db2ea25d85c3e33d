/**
 * Per-user limits (lib/http/limits.ts) with real stores: the rate window on a fake clock, the
 * concurrency queue (FIFO, bounded, timed out, left by an aborted client), one count for the
 * server threads (the main thread's broker), a rate window shared by replicas in a real
 * redis-server, and the config's rules for limits (lib/config/).
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { Limits, rulesFor } from "../lib/http/limits.ts";
import { LocalStore, StoreBroker, ThreadStore } from "../lib/state/mod.ts";
import { createClient } from "@redis/client";
import { RedisStore } from "../lib/state/redis.ts";
import { ReplicatedStore } from "../lib/state/replicated.ts";
import { sharedByReplicas } from "../lib/service/shared_state.ts";
import { NEEDS_REDIS, startRedis } from "./_redis.ts";
import type { LimitRule } from "../lib/config/mod.ts";
import { loadConfig, parseConfig } from "../lib/config/load.ts";
import { fromFileUrl } from "./_path.ts";
import { Metrics } from "../lib/http/metrics.ts";

const rule = (over: Partial<LimitRule>): LimitRule => ({
  label: "r",
  who: ["alice"],
  concurrent: null,
  queueMs: 0,
  queue: 100,
  perSecond: null,
  burst: 1,
  ...over,
});

const never = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a rate limit admits the burst, then answers 429 with the seconds left in its window", async () => {
  let now = 1_000_000; // a window boundary for 10 per 5/s (2 s windows)
  const limits = new Limits({ store: new LocalStore(), now: () => now });
  const rules = [rule({ perSecond: 5, burst: 10 })];
  for (let i = 0; i < 10; i++) assert((await limits.admit(rules, "alice", never)).ok, `#${i}`);
  now += 500;
  const refused = await limits.admit(rules, "alice", never);
  assertEquals(refused.ok, false);
  if (!refused.ok) {
    assertEquals(refused.reason, "rate");
    assertEquals(refused.retryAfter, 2); // 1.5 s left, rounded up
  }
  // Another user has a window of its own.
  assert((await limits.admit(rules, "bob", never)).ok);
  now += 1500; // the next window
  assert((await limits.admit(rules, "alice", never)).ok);
  limits.close();
});

Deno.test("a concurrency limit queues in order and admits as slots are released", async () => {
  const limits = new Limits({ store: new LocalStore(), pollMs: 1000 });
  const rules = [rule({ concurrent: 2, queueMs: 2000 })];
  const first = await limits.admit(rules, "alice", never);
  const second = await limits.admit(rules, "alice", never);
  assert(first.ok && second.ok);
  const order: string[] = [];
  const third = limits.admit(rules, "alice", never).then((a) => (order.push("third"), a));
  const fourth = limits.admit(rules, "alice", never).then((a) => (order.push("fourth"), a));
  // Another user is not held up by alice's line.
  const bob = await limits.admit(rules, "bob", never);
  assert(bob.ok);
  await sleep(50);
  assertEquals(order, []);
  first.release();
  const admitted = await third;
  assert(admitted.ok);
  await sleep(50);
  assertEquals(order, ["third"]); // fourth still waits: two slots are taken again
  second.release();
  const last = await fourth;
  assert(last.ok);
  assertEquals(order, ["third", "fourth"]);
  for (const a of [admitted, last, bob]) if (a.ok) a.release();
  limits.close();
});

Deno.test("a request waits at most queueSeconds, and a full queue refuses at once", async () => {
  const metrics = new Metrics({ version: "t", runtime: "t", commit: "t" });
  const limits = new Limits({ store: new LocalStore(), events: metrics.limits, pollMs: 20 });
  const rules = [rule({ concurrent: 1, queueMs: 300, queue: 1 })];
  const held = await limits.admit(rules, "alice", never);
  assert(held.ok);
  const started = performance.now();
  const waiting = limits.admit(rules, "alice", never);
  const overflow = await limits.admit(rules, "alice", never);
  assertEquals(overflow.ok, false);
  assert(performance.now() - started < 100, "a full queue answers at once");
  const timedOut = await waiting;
  const waited = performance.now() - started;
  assertEquals(timedOut.ok, false);
  if (!timedOut.ok) {
    assertEquals(timedOut.reason, "concurrency");
    assertEquals(timedOut.retryAfter, 1);
  }
  assert(waited >= 290 && waited < 1000, `waited ${waited} ms`);
  const text = metrics.render();
  assertStringIncludes(text, 'promgate_limit_refused_total{limit="r",reason="concurrency"} 2');
  assertStringIncludes(text, 'promgate_limit_queued_total{limit="r"} 1');
  assertStringIncludes(text, 'promgate_limit_in_flight{limit="r"} 1');
  held.release();
  held.release(); // twice is once
  assertStringIncludes(metrics.render(), 'promgate_limit_in_flight{limit="r"} 0');
  limits.close();
});

Deno.test("a client that leaves the queue frees its place for the next", async () => {
  const metrics = new Metrics({ version: "t", runtime: "t", commit: "t" });
  const limits = new Limits({ store: new LocalStore(), events: metrics.limits, pollMs: 1000 });
  const rules = [rule({ concurrent: 1, queueMs: 5000 })];
  const held = await limits.admit(rules, "alice", never);
  assert(held.ok);
  const gone = new AbortController();
  const leaving = limits.admit(rules, "alice", gone.signal);
  const next = limits.admit(rules, "alice", never);
  gone.abort();
  assertEquals((await leaving).ok, false);
  held.release();
  const admitted = await next;
  assert(admitted.ok);
  admitted.release();
  assert(!metrics.render().includes("promgate_limit_refused_total{"), "leaving is no refusal");
  limits.close();
});

Deno.test("a slot is a lease: one a dead thread never released frees itself", async () => {
  const store = new LocalStore();
  // The slot of a thread that died holding it: in the store, never renewed, never released.
  await store.add("limits.busy:r:alice", "dead-thread.0", 300);
  const limits = new Limits({ store, pollMs: 20 });
  const rules = [rule({ concurrent: 1, queueMs: 2000 })];
  const started = performance.now();
  const admitted = await limits.admit(rules, "alice", never);
  const waited = performance.now() - started;
  assert(admitted.ok);
  assert(waited >= 250 && waited < 1000, `waited ${waited} ms`);
  if (admitted.ok) admitted.release();
  limits.close();
});

Deno.test("rules apply to their users and the members of their groups, each counted alone", () => {
  const groups = new Map([["grafana", new Set(["g1", "g2"])]]);
  const rules = [rule({ label: "a", who: ["@grafana"] }), rule({ label: "b", who: ["alice"] })];
  assertEquals(rulesFor(rules, "g1", groups).map((r) => r.label), ["a"]);
  assertEquals(rulesFor(rules, "alice", groups).map((r) => r.label), ["b"]);
  assertEquals(rulesFor(rules, "carol", groups), []);
});

const base = {
  auth: { htpasswdFile: "/dev/null" },
  groups: { grafana: ["g1"] },
  routes: [{ path: "/", upstream: "http://127.0.0.1:9/" }],
};

async function configError(extra: Record<string, unknown>): Promise<string> {
  try {
    await parseConfig(JSON.stringify({ ...base, ...extra }), "/tmp/limits.json");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the config loaded");
}

Deno.test("limits in the config: defaults, labels and the route's own rules", async () => {
  const config = await loadConfig(
    fromFileUrl(new URL("./testdata/config/limits_rules.good.json", import.meta.url)),
  );
  assertEquals(config.limits, [
    {
      label: "limits[0]",
      who: ["@grafana"],
      concurrent: 4,
      queueMs: 5000,
      queue: 100,
      perSecond: null,
      burst: 1,
    },
    {
      label: "api",
      who: ["a"],
      concurrent: null,
      queueMs: 5000,
      queue: 100,
      perSecond: 2.5,
      burst: 3,
    },
  ]);
  assertEquals(config.routes[0].limits?.[0].label, "routes[0].limits[0]");
  assertEquals(config.routes[0].limits?.[0].burst, 3);
});

Deno.test("limits in the config: each mistake is named with its path and fix", async () => {
  assertStringIncludes(
    await configError({ limits: [{ who: ["a"] }] }),
    'limits[0]: limits nothing. Add "concurrent"',
  );
  assertStringIncludes(
    await configError({ limits: [{ who: ["a"], perSecond: 1, queueSeconds: 2 }] }),
    'limits[0].queueSeconds: only applies with "concurrent"',
  );
  assertStringIncludes(
    await configError({ limits: [{ who: ["a"], concurrent: 1, burst: 2 }] }),
    'limits[0].burst: only applies with "perSecond"',
  );
  assertStringIncludes(
    await configError({ limits: [{ who: ["@ops"], concurrent: 1 }] }),
    'limits[0].who[0]: "@ops" names no group',
  );
  assertStringIncludes(
    await configError({ limits: [{ who: ["a"], concurrent: 0 }] }),
    "limits[0].concurrent",
  );
  assertStringIncludes(
    await configError({ limits: [{ who: ["a"], concurrent: 1, colour: 1 }] }),
    "limits[0]",
  );
  assertStringIncludes(
    await configError({
      limits: [{ name: "x", who: ["a"], concurrent: 1 }],
      routes: [{
        path: "/",
        upstream: "http://127.0.0.1:9/",
        auth: false,
        limits: [{ name: "x", who: ["a"], concurrent: 1 }],
      }],
    }),
    'routes[0].limits[0].name: "x" is already the name of limits[0]',
  );
  assertStringIncludes(
    await configError({
      routes: [{
        path: "/",
        upstream: "http://127.0.0.1:9/",
        auth: false,
        limits: [{ who: ["a"], concurrent: 1 }],
      }],
    }),
    'routes[0].limits[0]: needs a logged-in user to count by, but the route has "auth": false',
  );
});

Deno.test("server threads share one count: a slot released in one thread admits a request waiting in another", async () => {
  const broker = new StoreBroker();
  const stores = [new ThreadStore(broker.connect()), new ThreadStore(broker.connect())];
  // Polling far beyond the test's waits: only the release notice can admit the waiting request.
  const [one, two] = stores.map((store) => new Limits({ store, pollMs: 60_000 }));
  const rules = [rule({ concurrent: 1, queueMs: 3000 })];
  try {
    const held = await one.admit(rules, "alice", never);
    assert(held.ok);
    const started = performance.now();
    const waiting = two.admit(rules, "alice", never);
    await sleep(100);
    held.release();
    const admitted = await waiting;
    assert(admitted.ok, "admitted in the other thread");
    const waited = performance.now() - started;
    assert(waited >= 90 && waited < 1000, `waited ${waited} ms`);
    // And now the first thread is the one that waits (until its deadline: nobody releases).
    const refused = await one.admit([rule({ concurrent: 1, queueMs: 100 })], "alice", never);
    assertEquals(refused.ok, false);
    if (admitted.ok) admitted.release();
  } finally {
    one.close();
    two.close();
    for (const store of stores) await store.close();
    await broker.close();
  }
});

Deno.test({
  name: "replicas share a user's rate window and concurrency slots in Redis",
  ...NEEDS_REDIS,
  async fn() {
    const redis = await startRedis();
    const keyPrefix = `limits${crypto.randomUUID()}:`;
    const replicas = [0, 1].map(() =>
      new ReplicatedStore({
        remote: new RedisStore({ url: redis.url, keyPrefix, createClient }),
        shared: sharedByReplicas,
        timeoutMs: 1000,
        name: "redis",
        log: () => {},
      })
    );
    const limits = replicas.map((store) => new Limits({ store }));
    try {
      for (const store of replicas) assert(await store.start(5000), "Redis is in use");
      // A minute's window (burst 60 at 1/s), not in its last 2 s, so that none ends mid-test.
      const rate = [rule({ perSecond: 1, burst: 60 })];
      const left = 60_000 - Date.now() % 60_000;
      if (left < 2000) await sleep(left + 50);
      const answers: boolean[] = [];
      for (let i = 0; i < 61; i++) answers.push((await limits[i % 2].admit(rate, "al", never)).ok);
      assertEquals(answers.filter((ok) => ok).length, 60, "one budget of 60 across both");
      assertEquals(answers[60], false);
      // Concurrency: one `concurrent` for both replicas; a slot freed on one is free on the other.
      const slots = [rule({ label: "c", concurrent: 1 })];
      const a = await limits[0].admit(slots, "al", never);
      assert(a.ok, "the first slot");
      assertEquals((await limits[1].admit(slots, "al", never)).ok, false, "taken on the other");
      a.release();
      await sleep(50); // release is fire-and-forget
      const b = await limits[1].admit(slots, "al", never);
      assert(b.ok, "free again once released on the first");
      b.release();
    } finally {
      for (const l of limits) l.close();
      for (const store of replicas) await store.close();
      await redis.stop();
    }
  },
});
