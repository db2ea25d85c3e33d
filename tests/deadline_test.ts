/** The upstream timeouts of a proxied request: they count only time spent waiting for the upstream. */
import { TICK_MS, UpstreamDeadline } from "../lib/http/body/deadline.ts";
import { assertEquals } from "./_assert.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("expires when the upstream keeps promgate waiting for the whole timeout", async () => {
  let expired = 0;
  const d = new UpstreamDeadline(60, () => expired++);
  await sleep(150);
  assertEquals(expired, 1);
  d.done();
});

Deno.test("does not expire while a slow client, not the upstream, holds the body up", async () => {
  let expired = 0;
  const d = new UpstreamDeadline(60, () => expired++);
  d.arrived(); // headers came; promgate now waits for the client to read
  await sleep(200);
  assertEquals(expired, 0);
  d.waiting(); // reading again: the full timeout starts now
  await sleep(30);
  assertEquals(expired, 0);
  await sleep(100);
  assertEquals(expired, 1);
  d.done();
});

Deno.test("steady progress keeps it from expiring; done() stops it", async () => {
  let expired = 0;
  const d = new UpstreamDeadline(60, () => expired++);
  for (let i = 0; i < 8; i++) {
    await sleep(25);
    d.arrived();
    d.waiting();
  }
  assertEquals(expired, 0);
  d.done();
  await sleep(120);
  assertEquals(expired, 0);
});

Deno.test("work for slow exchanges runs once they are old enough, and never for quick ones", async () => {
  const quick = new UpstreamDeadline(1000, () => {});
  let quickRan = 0;
  quick.whenOlderThan(40, () => quickRan++);
  const slow = new UpstreamDeadline(1000, () => {});
  let slowRan = 0;
  slow.whenOlderThan(40, () => slowRan++);
  await sleep(10);
  quick.done();
  await sleep(120);
  assertEquals([quickRan, slowRan], [0, 1]); // once only, though several ticks passed
  slow.done();
});

Deno.test("expires on time: never early, and about a tick late at most", async () => {
  const started = performance.now();
  let expiredAfter = -1;
  const d = new UpstreamDeadline(100, () => expiredAfter = performance.now() - started);
  while (expiredAfter < 0) await sleep(5);
  d.done();
  if (expiredAfter < 100 || expiredAfter > 100 + TICK_MS + 100) {
    throw new Error(`expired after ${expiredAfter.toFixed(0)} ms, not 100-${100 + TICK_MS} ms`);
  }
});
