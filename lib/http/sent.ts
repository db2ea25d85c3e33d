/** Knowing when a response has been sent, and how many body bytes went out, for the access log. */

/**
 * Calls `done` with the body bytes once the response has been sent (or the client went away), so
 * the access log shows what was really delivered and how long it took, as nginx's does. A body of
 * known size is left untouched: wrapping it in a stream would undo the proxy's coalescing.
 */
export function logWhenSent(
  outcome: { readonly response: Response; readonly bytes?: number },
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
  const finish = () => {
    if (!logged) {
      logged = true;
      done(bytes);
    }
  };
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const result = await reader.read();
        if (result.done) {
          finish();
          controller.close();
          return;
        }
        bytes += result.value.byteLength;
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
