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

import { type DenoLibc as Libc, openLibc } from "./ffi.ts";
import { errorText } from "../../log.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const AF_INET = 2;
const AF_INET6 = 10; // Linux; macOS uses 30, checked below

/** The TCP port a descriptor is bound to, or null when it is not an inet socket. */
function boundPort(lib: Libc, fd: number): number | null {
  const addr = new Uint8Array(128);
  const len = new Uint32Array([addr.byteLength]);
  if (lib.symbols.getsockname(fd, addr, new Uint8Array(len.buffer)) !== 0) return null;
  // sockaddr_in/in6: family (2 bytes; on macOS one length byte then one family byte), port (BE).
  const family = addr[0] | (addr[1] << 8);
  const bsdFamily = addr[1];
  const inet = family === AF_INET || family === AF_INET6 || bsdFamily === AF_INET ||
    bsdFamily === 30;
  return inet ? (addr[2] << 8) | addr[3] : null;
}

function openDescriptors(): number[] {
  for (const dir of ["/proc/self/fd", "/dev/fd"]) {
    try {
      return [...Deno.readDirSync(dir)].map((e) => Number(e.name)).filter((n) => n > 2);
    } catch { /* not this system's layout */ }
  }
  return [];
}

/**
 * Sets TCP_NODELAY on every listening socket bound to `port` (there is one, or one per worker
 * with reusePort). Returns null on success, or why it could not.
 */
export function setListenerNoDelay(port: number): string | null {
  let lib: Libc | null;
  try {
    lib = openLibc();
  } catch (error) {
    return `FFI is not available (${errorText(error)})`;
  }
  if (!lib) return "no C library found to set TCP_NODELAY with";
  const one = new Uint8Array(new Int32Array([1]).buffer);
  let set = 0;
  for (const fd of openDescriptors()) {
    if (boundPort(lib, fd) !== port) continue;
    if (lib.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4) === 0) set++;
  }
  return set > 0 ? null : `no listening socket on port ${port} found among open descriptors`;
}
