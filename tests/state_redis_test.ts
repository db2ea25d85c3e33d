/**
 * Shared state in a real Redis (lib/state/redis.ts, replicated.ts): one contract that the local
 * store, the Redis store and the replicas' store all keep; what only Redis does (replicas share
 * counts, a key prefix, AUTH); and what happens when Redis goes away, hangs, and comes back.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { type KeyedStore, LocalStore, StateStatus } from "../lib/state/mod.ts";
import { createClient } from "@redis/client";
import { RedisStore } from "../lib/state/redis.ts";
import { ReplicatedStore } from "../lib/state/replicated.ts";
import { NEEDS_REDIS, type Redis, startRedis } from "./_redis.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Redis store connected to `redis`, under its own prefix so tests do not meet. */
async function redisStore(redis: Redis, prefix = `t${crypto.randomUUID()}:`): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, keyPrefix: prefix, createClient });
  await store.connect();
  return store;
}

/** A replicas' store over `redis` sharing "throttle.*" keys, with its log lines and status. */
function replicated(redis: Redis, timeoutMs = 50) {
  const lines: string[] = [];
  const status = StateStatus.create(true);
  const store = new ReplicatedStore({
    remote: new RedisStore({ url: redis.url, keyPrefix: `r${crypto.randomUUID()}:`, createClient }),
    shared: (key) => key.startsWith("throttle."),
    timeoutMs,
    name: `redis ${redis.url}`,
    log: (line) => lines.push(line),
    status,
    probeMs: 100,
  });
  return { store, lines, status };
}

/** Waits until `check` holds, for at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// The contract every store keeps, in real time (Redis keeps its own clock).

type Contract = [string, (store: KeyedStore) => Promise<void>];

const CONTRACT: Contract[] = [
  ["a counter counts until it expires, its expiry renewed by every increment", async (s) => {
    assertEquals(await s.increment("n:a", 300), 1);
    await sleep(200);
    assertEquals(await s.increment("n:a", 300, 5), 6, "renewed at 200 ms");
    await sleep(200);
    assertEquals(await s.get("n:a"), 6, "lives 300 ms after its last increment");
    await sleep(200);
    assertEquals(await s.get("n:a"), null);
    assertEquals(await s.increment("n:a", 300), 1, "starts again from 0");
  }],
  ["a value is kept as JSON until it expires or is deleted", async (s) => {
    await s.put("v:b", { until: "later", n: [1, 2] }, 200);
    assertEquals(await s.get("v:b"), { until: "later", n: [1, 2] });
    await s.delete("v:b");
    assertEquals(await s.get("v:b"), null);
    await s.put("v:c", true, 100);
    await sleep(150);
    assertEquals(await s.get("v:c"), null);
  }],
  ["a set's members expire one by one", async (s) => {
    assertEquals(await s.add("s:known", "a", 400), 1);
    await sleep(250);
    assertEquals(await s.add("s:known", "b", 400), 2);
    await sleep(250);
    assertEquals(await s.has("s:known", "a"), false, "a expired 400 ms after its add");
    assertEquals(await s.has("s:known", "b"), true);
    assertEquals(await s.add("s:known", "c", 400), 2, "the size counts live members only");
    await s.remove("s:known", "b");
    assertEquals(await s.has("s:known", "b"), false);
    assertEquals(await s.get("s:known"), null, "a set is not a value");
  }],
  ["a set that expires whole keeps every member until ttl after its last add", async (s) => {
    const whole = { expiry: "set" } as const;
    assertEquals(await s.add("s:names", "a", 400, whole), 1);
    await sleep(250);
    assertEquals(await s.add("s:names", "b", 400, whole), 2);
    await sleep(250);
    assertEquals(await s.has("s:names", "a"), true, "a lives as long as the set");
    await sleep(250);
    assertEquals(await s.has("s:names", "b"), false, "the set expired 400 ms after its last add");
    assertEquals(await s.add("s:names", "c", 400, whole), 1);
  }],
  ["a set's limit drops the members added least recently", async (s) => {
    for (const m of ["a", "b", "c"]) await s.add("s:limited", m, 60_000, { limit: 3 });
    await s.add("s:limited", "a", 60_000, { limit: 3 }); // renewed: b is now the oldest
    assertEquals(await s.add("s:limited", "d", 60_000, { limit: 3 }), 3);
    assertEquals(await s.has("s:limited", "b"), false);
    for (const m of ["a", "c", "d"]) assert(await s.has("s:limited", m), m);
    for (const m of ["x", "y", "z"]) {
      assertEquals(await s.add("s:w", m, 60_000, { expiry: "set", limit: 2 }) <= 2, true);
    }
    assertEquals(await s.has("s:w", "x"), false);
    assertEquals(await s.has("s:w", "z"), true);
  }],
  ["concurrent increments all count", async (s) => {
    const counts = await Promise.all(Array.from({ length: 100 }, () => s.increment("n:c", 5000)));
    assertEquals(counts.sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1));
  }],
];

for (const [name, check] of CONTRACT) {
  Deno.test(`local store: ${name}`, async () => {
    const store = new LocalStore();
    await check(store);
    await store.close();
  });
  Deno.test({ name: `Redis store: ${name}`, ...NEEDS_REDIS }, async () => {
    const redis = await startRedis();
    const store = await redisStore(redis);
    try {
      await check(store);
    } finally {
      await store.close();
      await redis.stop();
    }
  });
  Deno.test({ name: `replicas' store, shared keys: ${name}`, ...NEEDS_REDIS }, async () => {
    const redis = await startRedis();
    const { store, lines } = replicated(redis, 1000);
    try {
      assert(await store.start(5000), lines.join("\n"));
      // The contract's keys under "throttle.", so that they go to Redis.
      const shared: KeyedStore = {
        increment: (k, t, b) => store.increment(`throttle.${k}`, t, b),
        get: (k) => store.get(`throttle.${k}`),
        put: (k, v, t) => store.put(`throttle.${k}`, v, t),
        delete: (k) => store.delete(`throttle.${k}`),
        add: (k, m, t, o) => store.add(`throttle.${k}`, m, t, o),
        has: (k, m) => store.has(`throttle.${k}`, m),
        remove: (k, m) => store.remove(`throttle.${k}`, m),
        close: () => store.close(),
      };
      await check(shared);
      assert(store.up, lines.join("\n"));
    } finally {
      await store.close();
      await redis.stop();
    }
  });
}

Deno.test({ name: "a closed Redis store rejects every operation", ...NEEDS_REDIS }, async () => {
  const redis = await startRedis();
  const store = await redisStore(redis);
  await store.close();
  await assertRejects(() => store.increment("n:x", 1000), "closed");
  await assertRejects(() => store.get("n:x"), "closed");
  await redis.stop();
});

// ---------------------------------------------------------------------------------------------
// What Redis adds.

Deno.test({ name: "two replicas' Redis stores count as one", ...NEEDS_REDIS }, async () => {
  const redis = await startRedis();
  const [a, b] = [await redisStore(redis, "p:"), await redisStore(redis, "p:")];
  try {
    await Promise.all([
      ...Array.from({ length: 30 }, () => a.increment("throttle.user:u", 60_000)),
      ...Array.from({ length: 30 }, () => b.increment("throttle.user:u", 60_000)),
    ]);
    assertEquals(await b.get("throttle.user:u"), 60);
    await a.add("throttle.known:u", "10.0.0.1", 60_000);
    assertEquals(await b.has("throttle.known:u", "10.0.0.1"), true);
    await a.put("throttle.user.block:u", true, 60_000);
    assertEquals(await b.get("throttle.user.block:u"), true);
    // Everything under the prefix, and with an expiry: nothing is left behind for ever.
    const keys = (await redis.cli("KEYS", "*")).split("\n").sort();
    assertEquals(keys, ["p:throttle.known:u", "p:throttle.user.block:u", "p:throttle.user:u"]);
    for (const key of keys) assert(Number(await redis.cli("PTTL", key)) > 0, key);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  }
});

Deno.test({
  name: "a Redis with a password: the right one works, a wrong one is not said",
  ...NEEDS_REDIS,
}, async () => {
  const redis = await startRedis({ password: "s3cret-pass" });
  const good = new RedisStore({ url: redis.url, password: "s3cret-pass", createClient });
  const { store, lines } = (() => {
    const lines: string[] = [];
    const store = new ReplicatedStore({
      remote: new RedisStore({ url: redis.url, password: "wrong-pass", createClient }),
      shared: () => true,
      timeoutMs: 50,
      name: `redis ${redis.url}`,
      log: (line) => lines.push(line),
    });
    return { store, lines };
  })();
  try {
    await good.connect();
    assertEquals(await good.increment("n:auth", 1000), 1);
    assertEquals(await store.start(1000), false);
    assertEquals(lines.length, 1, lines.join("\n"));
    assert(/unreachable \(.*WRONGPASS|unreachable \(.*no answer/.test(lines[0]), lines[0]);
    assert(!lines[0].includes("wrong-pass") && !lines[0].includes("s3cret"), lines[0]);
    assertEquals(await store.increment("n:auth", 1000), 1, "counted locally meanwhile");
  } finally {
    await Promise.all([good.close(), store.close()]);
    await redis.stop();
  }
});

Deno.test({
  name: "only the shared keys go to Redis; the rest and the notices stay here",
  ...NEEDS_REDIS,
}, async () => {
  const redis = await startRedis();
  const { store, lines } = replicated(redis);
  try {
    assert(await store.start(5000), lines.join("\n"));
    await store.increment("throttle.pair:1.2.3.4", 60_000);
    await store.add("auth.verified:x", "member", 60_000);
    const got: unknown[] = [];
    store.subscribe("threads.files", (m) => got.push(m));
    await store.publish("threads.files", { changed: ["a"] });
    await until(() => got.length === 1);
    assertEquals(await store.has("auth.verified:x", "member"), true);
    const keys = (await redis.cli("--scan")).split("\n").filter(Boolean);
    assertEquals(keys.length, 1, keys.join(", "));
    assert(keys[0].endsWith(":throttle.pair:1.2.3.4"), keys[0]);
    assertEquals(await redis.cli("PUBSUB", "CHANNELS"), "");
    assertEquals(lines, [`state: sharing failed-login counts in redis ${redis.url}`]);
  } finally {
    await store.close();
    await redis.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Redis down, hanging, back.

/** Runs `count` increments of one shared key; resolves the slowest one's ms. */
async function slowest(store: ReplicatedStore, count: number): Promise<number> {
  let worst = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await store.increment("throttle.user:down", 60_000);
    worst = Math.max(worst, performance.now() - t0);
  }
  return worst;
}

Deno.test({
  name: "Redis stopped mid-run: answers within the bound from local counts, and back when it is",
  ...NEEDS_REDIS,
}, async () => {
  const redis = await startRedis();
  const { store, lines, status } = replicated(redis, 50);
  try {
    assert(await store.start(5000));
    assertEquals(status.redis(), { up: true, fallbacks: 0 });
    assertEquals(await store.increment("throttle.user:down", 60_000), 1);
    await redis.stop();
    const worst = await slowest(store, 20);
    assert(worst < 50 + 40, `the slowest operation took ${worst.toFixed(1)} ms`);
    assertEquals(store.up, false);
    assertEquals(status.redis()?.up, false);
    assert(status.redis()!.fallbacks >= 20, JSON.stringify(status.redis()));
    assertEquals(lines.length, 2, lines.join("\n"));
    assert(/^state: redis \S+ unreachable \(.+\); using local counters/.test(lines[1]), lines[1]);
    assertEquals(await store.get("throttle.user:down"), 20, "counted here meanwhile");
    await redis.start();
    await until(() => store.up);
    assertEquals(lines.length, 3, lines.join("\n"));
    assertEquals(
      lines[2],
      `state: redis ${redis.url} reachable again; sharing failed-login counts in it`,
    );
    assertEquals(status.redis()?.up, true);
    assertEquals(await store.increment("throttle.user:down", 60_000), 1, "Redis came back empty");
    assertEquals(await redis.cli("DBSIZE"), "1");
  } finally {
    await store.close();
    await redis.stop();
  }
});

Deno.test({
  name: "Redis hanging (SIGSTOP): no operation waits past the bound; back when it answers",
  ...NEEDS_REDIS,
}, async () => {
  const redis = await startRedis();
  const { store, lines, status } = replicated(redis, 50);
  try {
    assert(await store.start(5000));
    await store.increment("throttle.user:down", 60_000);
    redis.pause();
    const ops = await Promise.all(Array.from({ length: 10 }, async () => {
      const t0 = performance.now();
      await store.increment("throttle.user:down", 60_000);
      return performance.now() - t0;
    }));
    const worst = Math.max(...ops, await slowest(store, 10));
    assert(worst < 50 + 40, `the slowest operation took ${worst.toFixed(1)} ms`);
    assertEquals(lines.length, 2, lines.join("\n"));
    assert(lines[1].includes("unreachable (no answer within 50 ms)"), lines[1]);
    assertEquals(status.redis()?.up, false);
    redis.resume();
    await until(() => store.up);
    assertEquals(lines.length, 3, lines.join("\n"));
    assert(lines[2].includes("reachable again"), lines[2]);
  } finally {
    redis.resume();
    await store.close();
    await redis.stop();
  }
});

Deno.test({
  name: "started while Redis is down: serves from local counts, then shares once it is up",
  ...NEEDS_REDIS,
}, async () => {
  const redis = await startRedis();
  await redis.stop();
  const { store, lines, status } = replicated(redis, 50);
  try {
    const t0 = performance.now();
    assertEquals(await store.start(300), false);
    assert(performance.now() - t0 < 1000);
    assertEquals(await store.increment("throttle.user:early", 60_000), 1);
    assertEquals(status.redis(), { up: false, fallbacks: 1 });
    assertEquals(lines.length, 1, lines.join("\n"));
    assert(lines[0].includes("unreachable ("), lines[0]);
    await redis.start();
    await until(() => store.up);
    assertEquals(
      lines[1],
      `state: redis ${redis.url} reachable again; sharing failed-login counts in it`,
    );
    assertEquals(await store.increment("throttle.user:early", 60_000), 1);
    assertEquals(await redis.cli("DBSIZE"), "1");
  } finally {
    await store.close();
    await redis.stop();
  }
});
