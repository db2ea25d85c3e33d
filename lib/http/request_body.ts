/** What is left of a request body nobody read, read and dropped before promgate answers itself. */
import { isWebSocketUpgrade } from "./headers.ts";

/**
 * Most bytes of an unread request body that are read and dropped before promgate sends an answer
 * of its own (401, 403, 404, 405, …), and for how long at most. Answering over HTTP/2 while the
 * body is still arriving made both runtimes reset the stream: curl reported "Stream error in the
 * HTTP/2 framing layer" instead of the 401 or 403, in about half of 40 tries on Deno and on Bun.
 * nginx discards an unread body the same way. A larger or slower body is cut off as before.
 */
const DISCARD_BYTES = 1024 * 1024;
const DISCARD_MS = 2000;

/**
 * Reads and drops what is left of a request body nothing consumed (see DISCARD_BYTES); null when
 * there is nothing to drop, as for most requests, which then cost no promise.
 */
export function discardUnreadBody(req: Request): Promise<void> | null {
  // Not even looked at after an upgrade: the connection belongs to the WebSocket now.
  if (isWebSocketUpgrade(req)) return null;
  const { body } = req;
  if (!body || req.bodyUsed || body.locked) return null; // none, or the proxy has it
  // A client waiting for "100 Continue" has sent no body; reading it would ask for it.
  if (/100-continue/i.test(req.headers.get("expect") ?? "")) return null;
  return drop(body);
}

async function drop(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, DISCARD_MS));
  // Bounded by DISCARD_MS even if a runtime never settles the read or the cancel.
  await Promise.race([late, drain(reader)]);
  clearTimeout(timer);
  reader.cancel().catch(() => {});
}

/** Reads at most DISCARD_BYTES; errors mean the client went away: nothing left to discard. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    for (let bytes = 0; bytes < DISCARD_BYTES;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      bytes += chunk.value.byteLength;
    }
  } catch { /* gone */ }
}
