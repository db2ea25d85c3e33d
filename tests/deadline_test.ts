/** The one timer per proxied request: it counts only time spent waiting for the upstream. */
import { UpstreamDeadline } from "../lib/deadline.ts";
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
