/**
 * The shared-state seam (lib/state/): the in-process store's expiry, bounds, sets and
 * publish/subscribe, and the main thread's broker serving one store to several threads — over
 * real MessageChannels here, and to real Workers.
 */
import { assert, assertEquals } from "./_assert.ts";
import { type Json, LocalStore, type Store, StoreBroker, ThreadStore } from "../lib/state/mod.ts";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** The next `count` messages on `channel` of `store`, or what came within `ms`. */
function received(store: Store, channel: string, count: number, ms = 2000): Promise<Json[]> {
  const got: Json[] = [];
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = store.subscribe(channel, (m) => {
      got.push(m);
      if (got.length === count) done();
    });
  });
}

Deno.test("a counter counts until it expires, its expiry renewed by every increment", async () => {
  const c = clock();
  const store = new LocalStore({ now: c.now });
  assertEquals(await store.increment("n:a", 1000), 1);
  c.advance(999);
  assertEquals(await store.increment("n:a", 1000, 5), 6, "renewed at 999 ms");
  c.advance(999);
  assertEquals(await store.get("n:a"), 6, "lives 1000 ms after its last increment");
  c.advance(1);
  assertEquals(await store.get("n:a"), null);
  assertEquals(await store.increment("n:a", 1000), 1, "starts again from 0");
  await store.put("v:b", { until: "later" }, 10);
  assertEquals(await store.get("v:b"), { until: "later" });
  await store.delete("v:b");
  assertEquals(await store.get("v:b"), null);
});

Deno.test("each namespace keeps at most maxEntries keys, the least recently used dropped", async () => {
  const store = new LocalStore({ maxEntries: 3 });
  for (const k of ["a", "b", "c"]) await store.put(`x:${k}`, k, 60_000);
  await store.get("x:a"); // used: b is now the least recent
  await store.put("x:d", "d", 60_000);
  assertEquals(await store.get("x:b"), null);
  for (const k of ["a", "c", "d"]) assertEquals(await store.get(`x:${k}`), k);
  for (let i = 0; i < 100; i++) await store.increment(`flood:${i}`, 60_000);
  assertEquals(await store.get("x:a"), "a", "another namespace's flood drops nothing here");
  assertEquals(store.size, 6);
});

Deno.test("expired entries are swept from memory, not only hidden", async () => {
  const c = clock();
  const store = new LocalStore({ maxEntries: 100, now: c.now });
  for (let i = 0; i < 99; i++) await store.put(`old:${i}`, i, 10);
  c.advance(11);
  assertEquals(store.size, 99, "held until a sweep");
  await store.put("old:new", 0, 10); // the 100th write sweeps the namespace
  assertEquals(store.size, 1);
});

Deno.test("a set's members expire one by one, or with the set; a limit drops the oldest", async () => {
  const c = clock();
  const store = new LocalStore({ now: c.now });
  assertEquals(await store.add("s:known", "a", 1000), 1);
  c.advance(600);
  assertEquals(await store.add("s:known", "b", 1000), 2);
  c.advance(600);
  assertEquals(await store.has("s:known", "a"), false, "a expired 1000 ms after its add");
  assertEquals(await store.has("s:known", "b"), true);
  assertEquals(await store.add("s:known", "c", 1000), 2, "the size counts live members only");
  await store.remove("s:known", "b");
  assertEquals(await store.has("s:known", "b"), false);

  const options = { expiry: "set", limit: 3 } as const;
  for (const m of ["a", "b"]) await store.add("s:names", m, 1000, options);
  c.advance(900);
  assertEquals(await store.add("s:names", "c", 1000, options), 3);
  c.advance(900);
  assertEquals(await store.has("s:names", "a"), true, "the set lives 1000 ms after its last add");
  assertEquals(await store.add("s:names", "d", 1000, options), 3, "at the limit");
  assertEquals(await store.has("s:names", "a"), false, "the least recently added went");
  c.advance(1000);
  assertEquals(await store.has("s:names", "d"), false, "all expire together");
  assertEquals(await store.add("s:names", "e", 1000, options), 1);

  const capped = new LocalStore({ maxMembers: 2 });
  for (const m of ["a", "b", "c"]) await capped.add("s:x", m, 1000);
  assertEquals([await capped.has("s:x", "a"), await capped.has("s:x", "c")], [false, true]);
});

Deno.test("publish reaches every subscriber of the channel, the publisher's own included", async () => {
  const store = new LocalStore();
  const a = received(store, "news", 2);
  const b = received(store, "news", 2);
  const other = received(store, "other", 1, 50);
  await store.publish("news", { n: 1 });
  await store.publish("news", { n: 2 });
  assertEquals(await a, [{ n: 1 }, { n: 2 }]);
  assertEquals(await b, [{ n: 1 }, { n: 2 }]);
  assertEquals(await other, []);
  await store.close();
  let rejected = false;
  await store.increment("n:a", 1).catch(() => rejected = true);
  assert(rejected, "a closed store refuses operations");
});

Deno.test("through the broker, two threads' stores share counts, sets and notices", async () => {
  const broker = new StoreBroker();
  const one = new ThreadStore(broker.connect());
  const two = new ThreadStore(broker.connect());
  try {
    const increments = Array.from(
      { length: 50 },
      (_, i) => (i % 2 ? one : two).increment("n:x", 60_000),
    );
    assertEquals((await Promise.all(increments)).sort((a, b) => a - b)[49], 50, "none lost");
    assertEquals(await two.get("n:x"), 50);
    assertEquals(await one.add("s:y", "m", 60_000, { expiry: "set", limit: 5 }), 1);
    assertEquals(await two.has("s:y", "m"), true);
    await two.remove("s:y", "m");
    assertEquals(await one.has("s:y", "m"), false);
    await one.put("v:z", [1, "two"], 60_000);
    assertEquals(await two.get("v:z"), [1, "two"]);
    await two.delete("v:z");
    assertEquals(await one.get("v:z"), null);
    const atOne = received(one, "files", 1);
    const atTwo = received(two, "files", 1);
    // Subscribing is a message too: it is served before this thread's later messages.
    await two.publish("files", ["a.htpasswd"]);
    assertEquals([await atOne, await atTwo], [[["a.htpasswd"]], [["a.htpasswd"]]]);
  } finally {
    await Promise.all([one.close(), two.close()]);
    await broker.close();
  }
});

Deno.test("the broker serves real Workers: each counts, and each sees the other's notice", async () => {
  const broker = new StoreBroker();
  const main = new ThreadStore(broker.connect());
  const worker = (name: string) => {
    const url = new URL("./_state_worker.ts", import.meta.url);
    const w = new Worker(url, { type: "module" });
    const port = broker.connect();
    w.postMessage({ name, port }, [port]);
    return w;
  };
  // Generous: under deno test, a Worker type-checks its module first (seconds on a busy machine).
  const notices = received(main, "hello", 2, 30_000);
  const workers = [worker("w1"), worker("w2")];
  try {
    const heard = await notices;
    assertEquals(heard.map((m) => (m as { from: string }).from).sort(), ["w1", "w2"]);
    // Each worker counted 100 and then waited for the other's notice before saying hello.
    assertEquals(await main.get("n:count"), 200);
    for (const m of heard) {
      assertEquals((m as { heard: string }).heard !== (m as { from: string }).from, true);
    }
  } finally {
    for (const w of workers) w.terminate();
    await main.close();
    await broker.close();
  }
});
