/** Knowing when a response has been sent, and how many body bytes went out, for the access log. */

/**
 * Calls `done` with the body bytes once the response has been sent (or the client went away), so
 * the access log shows what was really delivered and how long it took, as nginx's does. A body of
 * known size is left untouched: wrapping it in a stream would undo the proxy's coalescing.
 * `spent` (ClientInfo.spent) is told of each streamed chunk once the server asked for the next.
 */
export function logWhenSent(
  outcome: { readonly response: Response; readonly bytes?: number },
  spent: ((chunk: Uint8Array) => void) | undefined,
  done: (bytes: number) => void,
): Response {
  const { response } = outcome;
  if (outcome.bytes !== undefined || response.body === null) {
    done(outcome.bytes ?? 0);
    return response;
  }
  const reader = response.body.getReader();
  let bytes = 0;
  let logged = false;
  // The chunk the server took last: it asks for the next one only once it has that one.
  let taken: Uint8Array | null = null;
  const finish = () => {
    if (!logged) {
      logged = true;
      done(bytes);
    }
  };
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (taken !== null && spent !== undefined) spent(taken);
      taken = null;
      try {
        const result = await reader.read();
        if (result.done) {
          finish();
          controller.close();
          return;
        }
        bytes += result.value.byteLength;
        taken = result.value;
        controller.enqueue(result.value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(counted, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
