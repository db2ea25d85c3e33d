/**
 * Bounded coalescing of response bodies: small complete bodies go out whole (so Deno.serve writes
 * them with the headers), while big or slow bodies (server-sent events, long query results) stream.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { coalesceBody, type CoalesceLimits, readWhole } from "../lib/http/body/coalesce.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A source the test drives by hand: push chunks, close, or error it whenever it likes. */
function manualSource() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled: unknown[] = [];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancelled.push(reason);
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    cancelled,
    push: (text: string | Uint8Array) =>
      controller.enqueue(typeof text === "string" ? enc.encode(text) : text),
    close: () => controller.close(),
    error: (e: unknown) => controller.error(e),
  };
}

/** A stream of the given chunks, all available at once. */
function chunksOf(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const queue = chunks.map((c) => typeof c === "string" ? enc.encode(c) : c);
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = queue.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
}

/** Deterministic bytes 0..n-1 (mod 251, so runs of the pattern are not aligned to chunk sizes). */
function pattern(n: number, offset = 0): Uint8Array<ArrayBuffer> {
  return new Uint8Array(n).map((_, i) => (i + offset) % 251);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Resolves to the read's result, or "pending" when nothing arrives within `ms`. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
  read = reader.read(),
): Promise<ReadableStreamReadResult<Uint8Array> | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"pending">((r) => timer = setTimeout(() => r("pending"), ms));
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

const GENEROUS: CoalesceLimits = { maxBytes: 1024, maxWaitMs: 2000 };

Deno.test("a small complete body comes back whole as bytes, exactly as sent", async () => {
  const body = pattern(300);
  const out = await coalesceBody(chunksOf(body), GENEROUS);
  assert(out instanceof Uint8Array, "a complete small body is gathered into bytes");
  assertEquals(out, body);
});

Deno.test("a small body sent in several chunks is joined in order into one byte array", async () => {
  const out = await coalesceBody(chunksOf("small ", "chunked ", "body"), GENEROUS);
  assert(out instanceof Uint8Array);
  assertEquals(dec.decode(out), "small chunked body");
});

Deno.test("an empty body comes back as zero bytes", async () => {
  const out = await coalesceBody(chunksOf(), GENEROUS);
  assert(out instanceof Uint8Array);
  assertEquals(out.byteLength, 0);
});

Deno.test("a body of exactly maxBytes is still sent whole", async () => {
  const body = pattern(1024);
  const out = await coalesceBody(chunksOf(body.slice(0, 500), body.slice(500)), GENEROUS);
  assert(out instanceof Uint8Array);
  assertEquals(out, body);
});

Deno.test("a body larger than maxBytes streams, with every byte in order", async () => {
  const body = pattern(10_000);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < body.byteLength; i += 300) chunks.push(body.slice(i, i + 300));
  const out = await coalesceBody(chunksOf(...chunks), { maxBytes: 1000, maxWaitMs: 2000 });
  assert(out instanceof ReadableStream, "a big body must not be gathered whole");
  assertEquals(await readAll(out), body);
});

Deno.test("a big body stops being gathered just past maxBytes, not at its end", async () => {
  const src = manualSource();
  src.push(pattern(600));
  src.push(pattern(600, 600));
  // The source never ends: if coalesceBody waited for the end this would time out.
  const out = await coalesceBody(src.stream, { maxBytes: 1000, maxWaitMs: 60_000 });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  const first = await readWithin(reader, 1000);
  assert(first !== "pending" && !first.done, "what was gathered is available at once");
  assertEquals(first.value, pattern(1200), "the gathered chunks come first, joined");
  src.push("tail");
  src.close();
  const tail = await reader.read();
  assertEquals(dec.decode(tail.value), "tail");
  assertEquals((await reader.read()).done, true);
});

Deno.test("an event stream that pauses streams at once, and its first event is readable immediately", async () => {
  const src = manualSource();
  src.push("data: 0\n\n");
  const started = performance.now();
  const out = await coalesceBody(src.stream, { maxBytes: 256 * 1024, maxWaitMs: 20 });
  const waited = performance.now() - started;
  assert(out instanceof ReadableStream, "a paused stream must stream, not wait for its end");
  assert(waited < 1000, `coalesceBody returned after ${waited.toFixed(0)} ms`);
  const reader = out.getReader();
  const first = await readWithin(reader, 100);
  assert(first !== "pending", "the first event must be readable without waiting for the next");
  assertEquals(dec.decode(first.value), "data: 0\n\n");
  // The read that was in flight when gathering gave up must deliver the next event, not lose it.
  src.push("data: 1\n\n");
  src.push("data: 2\n\n");
  src.close();
  assertEquals(dec.decode((await reader.read()).value), "data: 1\n\n");
  assertEquals(dec.decode((await reader.read()).value), "data: 2\n\n");
  assertEquals((await reader.read()).done, true);
});

Deno.test("a stream silent from the start streams after maxWaitMs and delivers its first chunk", async () => {
  const src = manualSource();
  const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  const read = reader.read();
  assertEquals(await readWithin(reader, 30, read), "pending", "nothing was sent yet");
  src.push("late");
  src.close();
  assertEquals(dec.decode((await read).value), "late");
  assertEquals((await reader.read()).done, true);
});

Deno.test("a body with a small Content-Length is gathered whole even when it arrives slowly", async () => {
  const src = manualSource();
  src.push("first half, ");
  setTimeout(() => {
    src.push("second half");
    src.close();
  }, 80);
  const length = "first half, second half".length;
  const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 }, {
    knownLength: length,
  });
  assert(out instanceof Uint8Array, "a known small body is worth waiting for");
  assertEquals(dec.decode(out), "first half, second half");
});

Deno.test("the same slow body without a Content-Length streams after maxWaitMs", async () => {
  const src = manualSource();
  src.push("first half, ");
  const timer = setTimeout(() => {
    src.push("second half");
    src.close();
  }, 80);
  try {
    const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 });
    assert(out instanceof ReadableStream);
    assertEquals(dec.decode(await readAll(out)), "first half, second half");
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("a Content-Length above maxBytes does not make coalescing wait", async () => {
  const src = manualSource();
  src.push("x");
  const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 }, {
    knownLength: 1_000_000,
  });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  assertEquals(dec.decode((await reader.read()).value), "x");
  await reader.cancel();
});

Deno.test("cancelling the streamed body cancels the source with the same reason", async () => {
  const src = manualSource();
  src.push("data: 0\n\n");
  const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  await reader.read();
  await reader.cancel("client went away");
  assertEquals(src.cancelled, ["client went away"]);
});

Deno.test("cancelling a big body before reading it cancels the source", async () => {
  const src = manualSource();
  src.push(pattern(2000));
  const out = await coalesceBody(src.stream, { maxBytes: 1000, maxWaitMs: 60_000 });
  assert(out instanceof ReadableStream);
  await out.cancel("stop");
  assertEquals(src.cancelled, ["stop"]);
});

Deno.test("a source that fails mid-stream makes the streamed body fail too", async () => {
  const src = manualSource();
  src.push("data: 0\n\n");
  const out = await coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10 });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  assertEquals(dec.decode((await reader.read()).value), "data: 0\n\n");
  src.error(new Error("upstream connection reset"));
  await assertRejects(() => reader.read(), "upstream connection reset");
});

Deno.test("a source that fails while being gathered makes coalesceBody reject", async () => {
  const src = manualSource();
  src.push("partial");
  setTimeout(() => src.error(new Error("upstream connection reset")), 5);
  await assertRejects(
    () => coalesceBody(src.stream, { maxBytes: 1024, maxWaitMs: 10_000 }),
    "upstream connection reset",
  );
});

Deno.test({
  // BUG: lib/http/body/coalesce.ts coalesceBody/raceDeadline (lines 38-53, 66) starts a new
  // setTimeout for every chunk read but keeps only the last timer id, so `finally` clears only
  // that one: a body of N chunks leaves N-1 timers running until maxWaitMs passes (a script that
  // coalesces a 3-chunk body with maxWaitMs 3000 cannot exit for 3 s).
  ignore: false,
  name: "gathering a body leaves no timer running once the body is complete",
  async fn() {
    const live = new Set<unknown>();
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    g.setTimeout = (fn: () => void, ms?: number) => {
      const id = realSet(() => {
        live.delete(id);
        fn();
      }, ms);
      live.add(id);
      return id;
    };
    g.clearTimeout = (id?: ReturnType<typeof setTimeout>) => {
      live.delete(id);
      realClear(id);
    };
    let leaked: unknown[] = [];
    try {
      const out = await coalesceBody(chunksOf("a", "b", "c"), { maxBytes: 1024, maxWaitMs: 200 });
      assert(out instanceof Uint8Array);
      leaked = [...live];
    } finally {
      g.setTimeout = realSet;
      g.clearTimeout = realClear;
      for (const id of live) realClear(id as ReturnType<typeof setTimeout>);
    }
    assertEquals(leaked.length, 0, "timers still running after coalesceBody resolved");
  },
});

Deno.test("an aborted signal fails a body whose source never answers, streaming or gathering", async () => {
  // Like Deno 2.9's fetch body at times: aborting its signal does not settle the pending read.
  const streaming = manualSource();
  streaming.push("x".repeat(2000));
  const controller = new AbortController();
  const out = await coalesceBody(streaming.stream, { maxBytes: 1024, maxWaitMs: 10 }, {
    signal: controller.signal,
  });
  assert(out instanceof ReadableStream);
  const reader = out.getReader();
  assertEquals((await reader.read()).value?.byteLength, 2000);
  const stalled = reader.read();
  setTimeout(() => controller.abort(new Error("upstream stalled")), 5);
  await assertRejects(() => stalled, "upstream stalled");
  assertEquals(streaming.cancelled.length, 1, "the source is cancelled, freeing its connection");

  const gathering = manualSource();
  gathering.push("partial");
  const second = new AbortController();
  setTimeout(() => second.abort(new Error("upstream stalled")), 5);
  await assertRejects(
    () =>
      coalesceBody(gathering.stream, { maxBytes: 1024, maxWaitMs: 60_000 }, {
        signal: second.signal,
      }),
    "upstream stalled",
  );
  assertEquals(gathering.cancelled.length, 1);
});

Deno.test("a small body of known size is read whole, and an aborted signal fails it", async () => {
  const whole = await readWhole(new Response(pattern(3000)));
  assertEquals(whole, pattern(3000));
  const stalled = manualSource();
  stalled.push("first half");
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("upstream stalled")), 5);
  await assertRejects(
    () => readWhole(new Response(stalled.stream), { signal: controller.signal }),
    "upstream stalled",
  );
});
