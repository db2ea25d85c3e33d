/**
 * The C library's socket calls, as both runtimes' FFI bind them: which library to open, the
 * functions and their signatures, and the constants and address layouts promgate reads. Each
 * runtime's ffi.ts turns {@linkcode LIBC_FUNCTIONS} into its own FFI's symbol table.
 *
 * Neither Deno's nor Bun's server exposes its sockets, but the descriptors are the process's own:
 * they are found under /proc/self/fd (Linux) or /dev/fd (macOS) and told apart by their addresses.
 */
import { readdirSync } from "node:fs";

/** Names the C library goes by: glibc, musl (x86-64, arm64), macOS. */
export const LIBC_CANDIDATES = [
  "libc.so.6",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
  "libc.dylib",
];

/** The functions used and their C signatures ("pointer": a buffer passed by address). */
export const LIBC_FUNCTIONS = {
  setsockopt: { parameters: ["i32", "i32", "i32", "pointer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  getpeername: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "pointer", "pointer"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** The functions of {@linkcode LIBC_FUNCTIONS}, bound (buffers are passed as pointers). */
export interface Libc {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getpeername(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  shutdown(fd: number, how: number): number;
}

export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
/** Linux only. */
export const TCP_INFO = 11;
export const SHUT_RDWR = 2;
const AF_INET = 2;
const AF_INET6_LINUX = 10;
const AF_INET6_BSD = 30;

/**
 * A socket address: "a.b.c.d" or an IPv6 text form, and the port; null if not inet. Linux lays
 * out a 2-byte family first; macOS a length byte, then a 1-byte family. Port (big-endian) and
 * IPv6 address sit at the same offsets in both.
 */
export function parseSockaddr(bytes: Uint8Array): { address: string; port: number } | null {
  const linux = bytes[0] | (bytes[1] << 8);
  const bsd = bytes[1];
  const v4 = linux === AF_INET || bsd === AF_INET;
  if (!v4 && linux !== AF_INET6_LINUX && bsd !== AF_INET6_BSD) return null;
  const port = (bytes[2] << 8) | bytes[3];
  if (v4) return { address: bytes.subarray(4, 8).join("."), port };
  const groups: string[] = [];
  for (let i = 8; i < 24; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return { address: groups.join(":"), port };
}

/**
 * A reader of sockets' local (`getsockname`) or peer (`getpeername`) addresses, with one buffer
 * for all calls.
 */
export function addressReader(): (
  get: Libc["getsockname"],
  fd: number,
) => { address: string; port: number } | null {
  const addr = new Uint8Array(128);
  const len = new Uint8Array(4);
  const lenView = new DataView(len.buffer);
  return (get, fd) => {
    lenView.setUint32(0, addr.byteLength, true);
    return get(fd, addr, len) === 0 ? parseSockaddr(addr) : null;
  };
}

/** The process's open descriptors above stderr, or null where the system does not list them. */
export function openDescriptors(): number[] | null {
  for (const dir of ["/proc/self/fd", "/dev/fd"]) {
    try {
      return readdirSync(dir).map(Number).filter((fd) => fd > 2);
    } catch { /* not this system's layout */ }
  }
  return null;
}
