/**
 * Bounded coalescing of response bodies.
 *
 * Deno's server over TLS + HTTP/1.1 writes a streamed body's first chunk apart from the headers, and
 * with no TCP_NODELAY on the TLS socket that small second write waits for the client's delayed ACK:
 * ~44 ms per response (DESIGN.md fact 1). A body that is complete in memory goes out with the headers
 * in one write. So small bodies are gathered whole, while large or slow (server-sent events, long
 * query results) bodies still stream, after at most `maxBytes` and `maxWaitMs` of gathering.
 */

import { concatBytes } from "../../bytes.ts";
import type { ReadWatch } from "./deadline.ts";

/** Limits on how much of a body is gathered before it is streamed instead. */
export interface CoalesceLimits {
  /** Bodies up to this many bytes are sent whole. */
  readonly maxBytes: number;
  /** A body still incomplete this long after gathering started is streamed from then on. */
  readonly maxWaitMs: number;
}

const NO_WATCH: ReadWatch = { waiting() {}, arrived() {}, done() {} };

/** The defaults: small enough to bound memory per request, long enough for a local upstream. */
export const DEFAULT_LIMITS: CoalesceLimits = { maxBytes: 256 * 1024, maxWaitMs: 10 };

/** What else {@link coalesceBody} needs to know about one body. */
export interface CoalesceOptions {
  /** The body's Content-Length, when it has one. */
  readonly knownLength?: number;
  /** Told when promgate waits for the source and when it delivers, for the upstream deadline. */
  readonly watch?: ReadWatch;
  /**
   * Fails the body, gathering or streaming, as soon as it aborts. Deno 2.9's fetch sometimes
   * leaves a pending body read unresolved when its own signal aborts, which would leave the
   * client's connection open forever in the middle of a cut body; this does not depend on that.
   */
  readonly signal?: AbortSignal;
}

/**
 * Reads `body` until it ends, grows past `maxBytes`, or `maxWaitMs` passes. Returns the whole body
 * as bytes when it ended, or else a stream that yields what was gathered and then the rest.
 * When `knownLength` (a Content-Length) fits in `maxBytes`, waits for the whole body regardless of
 * time: it is small and the client could not use a part of it.
 */
export async function coalesceBody(
  body: ReadableStream<Uint8Array>,
  limits: CoalesceLimits = DEFAULT_LIMITS,
  options: CoalesceOptions = {},
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const { knownLength, watch = NO_WATCH, signal } = options;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const untimed = knownLength !== undefined && knownLength <= limits.maxBytes;
  // One timer for the whole gathering, not one per read.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = untimed ? null : new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), limits.maxWaitMs);
  });
  try {
    while (true) {
      watch.waiting();
      const read = reader.read();
      const result = await untilAbort(late ? Promise.race([read, late]) : read, signal);
      if (result === "late") return continueStream(chunks, reader, read, watch, signal);
      watch.arrived();
      if (result.done) {
        watch.done();
        return concatBytes(chunks);
      }
      chunks.push(result.value);
      total += result.value.byteLength;
      if (total > limits.maxBytes) return continueStream(chunks, reader, null, watch, signal);
    }
  } catch (error) {
    watch.done();
    // Cancel rather than release: a source that stopped answering must not keep its connection.
    reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The whole body of `response`, read by the runtime in one go: for a body whose Content-Length
 * fits in the limits. Deno's `arrayBuffer()` reads it natively, where a reader loop costs an
 * async op and a zeroed 64 KiB buffer per read (measured: ~30% of promgate's CPU per small
 * proxied request). Rejects, like {@link coalesceBody}, when `signal` aborts first.
 */
export async function readWhole(
  response: Response,
  options: Omit<CoalesceOptions, "knownLength"> = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const { watch = NO_WATCH, signal } = options;
  watch.waiting();
  try {
    return new Uint8Array(await untilAbort(response.arrayBuffer(), signal));
  } finally {
    watch.done();
  }
}

/** A stream of the gathered chunks, then the read already in flight, then the rest of `reader`. */
function continueStream(
  gathered: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | null,
  watch: ReadWatch,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const head = gathered.length > 0 ? concatBytes(gathered) : null;
  let headSent = head === null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headSent) {
        headSent = true;
        controller.enqueue(head!);
        return;
      }
      watch.waiting();
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await untilAbort(pending ?? reader.read(), signal);
      } catch (error) {
        watch.done();
        reader.cancel(error).catch(() => {});
        throw error;
      }
      pending = null;
      watch.arrived();
      if (result.done) {
        watch.done();
        controller.close();
      } else controller.enqueue(result.value);
    },
    cancel(reason) {
      watch.done();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
function untilAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => {
    signal.removeEventListener("abort", onAbort);
  });
}
