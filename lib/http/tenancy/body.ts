/** Reading a request body whole, up to a limit, for rewriting. */

/** The body was larger than allowed (413). */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit} bytes`);
    this.name = "BodyTooLarge";
  }
}

/**
 * The whole body of `stream` (empty for none), throwing {@link BodyTooLarge} as soon as it exceeds
 * `limit` bytes; a declared Content-Length over the limit fails before anything is read.
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array> | null,
  declaredLength: string | null,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (declaredLength !== null && Number(declaredLength) > limit) throw new BodyTooLarge(limit);
  if (stream === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        // The rest is not wanted: the client gets 413 and the connection is not reused for it.
        reader.cancel().catch(() => {});
        throw new BodyTooLarge(limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
