/**
 * TCP_NODELAY for Deno.serve's connections.
 *
 * Deno.serve over TLS + HTTP/1.1 writes a response's head and body as separate TLS records; with
 * Nagle's algorithm on (Deno.serve never sets TCP_NODELAY and exposes no socket), the body waits
 * for the client's delayed ACK of the head: a ~44 ms stall on every response over ~400 bytes,
 * buffered or streamed (DESIGN.md fact 1; measured here: 1 KiB bodies went from 44 ms to 0.3 ms).
 * On Linux and macOS an accepted socket inherits TCP_NODELAY from its listening socket, so
 * setting it once on the listener, right after Deno.serve binds it, fixes every connection.
 *
 * Deno does not expose the listener's descriptor, so it is found by its bound port among the
 * process's open descriptors, and the option is set through libc by FFI. Where that is not
 * possible (no libc found, no FFI permission), this reports why and the caller carries on:
 * promgate's body coalescing still spares small responses.
 */
import { openLibc } from "./ffi.ts";
import { addressReader, IPPROTO_TCP, type Libc, openDescriptors, TCP_NODELAY } from "../libc.ts";
import { errorText } from "../../log.ts";

/**
 * Sets TCP_NODELAY on every listening socket bound to `port` (there is one, or one per server
 * thread with reusePort). Returns null on success, or why it could not.
 */
export function setListenerNoDelay(port: number): string | null {
  let lib: Libc | null;
  try {
    lib = openLibc();
  } catch (error) {
    return `FFI is not available (${errorText(error)})`;
  }
  if (!lib) return "no C library found to set TCP_NODELAY with";
  const address = addressReader();
  const one = new Uint8Array(new Int32Array([1]).buffer);
  let set = 0;
  for (const fd of openDescriptors() ?? []) {
    if (address(lib.getsockname, fd)?.port !== port) continue;
    if (lib.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4) === 0) set++;
  }
  return set > 0 ? null : `no listening socket on port ${port} found among open descriptors`;
}
