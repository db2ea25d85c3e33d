/**
 * The process's accepted TCP sockets, listed and closed through the C library (Linux).
 *
 * Deno.serve and Bun.serve keep their sockets to themselves: neither has a header-read timeout
 * (Deno 2.9.6 has none at all; Bun 1.4.5's is fixed at about 10 s) nor a way to close one
 * connection. The descriptors are still the process's own, so the reaper finds them under
 * /proc/self/fd, reads each one's addresses and TCP_INFO, and shuts down the ones that overstay.
 * `shutdown(2)`, not `close(2)`: the runtime sees end-of-file, closes the descriptor itself and
 * frees its state, and no descriptor number is ever reused behind its back.
 */
import { readdirSync } from "node:fs";
import process from "node:process";
import type { AcceptedSocket, SocketOps } from "../slow_clients/mod.ts";

export type { AcceptedSocket, SocketOps };

/** The C functions used, as each runtime's FFI binds them (buffers are passed as pointers). */
export interface Libc {
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getpeername(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  shutdown(fd: number, how: number): number;
}

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
const SHUT_RDWR = 2;
/** struct tcp_info (linux/tcp.h): __u32 tcpi_last_data_sent at byte 44, last_data_recv at 52. */
const LAST_DATA_SENT = 44;
const LAST_DATA_RECV = 52;
const TCP_INFO_BYTES = 104;

/** A socket address: "a.b.c.d" or an IPv6 text form, and the port; null if not inet. */
export function parseSockaddr(bytes: Uint8Array): { address: string; port: number } | null {
  const family = bytes[0] | (bytes[1] << 8);
  const port = (bytes[2] << 8) | bytes[3];
  if (family === AF_INET) return { address: bytes.subarray(4, 8).join("."), port };
  if (family !== AF_INET6) return null;
  const groups: string[] = [];
  for (let i = 8; i < 24; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return { address: groups.join(":"), port };
}

/** tcpi_last_data_sent and tcpi_last_data_recv, in ms (little-endian, as on every Linux port). */
export function parseTcpInfo(bytes: Uint8Array): { lastSentMs: number; lastReceivedMs: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    lastSentMs: view.getUint32(LAST_DATA_SENT, true),
    lastReceivedMs: view.getUint32(LAST_DATA_RECV, true),
  };
}

function openDescriptors(): number[] {
  return readdirSync("/proc/self/fd").map(Number).filter((fd) => fd > 2);
}

/**
 * The Linux implementation over `libc`, or why there is none here (another system, or no
 * /proc to list descriptors in).
 */
export function linuxSocketOps(libc: Libc): SocketOps | string {
  if (process.platform !== "linux") return `it needs Linux (this is ${process.platform})`;
  try {
    openDescriptors();
  } catch {
    return "/proc/self/fd cannot be read";
  }
  const addr = new Uint8Array(128);
  const len = new Uint8Array(4);
  const lenView = new DataView(len.buffer);
  const info = new Uint8Array(TCP_INFO_BYTES);
  const address = (get: Libc["getsockname"], fd: number) => {
    lenView.setUint32(0, addr.byteLength, true);
    return get(fd, addr, len) === 0 ? parseSockaddr(addr) : null;
  };
  const peerOf = (fd: number) => {
    const peer = address(libc.getpeername, fd);
    return peer && { key: `${peer.address}:${peer.port}`, port: peer.port };
  };
  return {
    list(port) {
      const found: AcceptedSocket[] = [];
      for (const fd of openDescriptors()) {
        if (address(libc.getsockname, fd)?.port !== port) continue;
        const peer = peerOf(fd); // null for the listening socket itself
        if (!peer) continue;
        lenView.setUint32(0, info.byteLength, true);
        if (libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, len) !== 0) continue;
        found.push({ fd, peer: peer.key, peerPort: peer.port, ...parseTcpInfo(info) });
      }
      return found;
    },
    shutdown(socket) {
      if (peerOf(socket.fd)?.key !== socket.peer) return false;
      return libc.shutdown(socket.fd, SHUT_RDWR) === 0;
    },
  };
}
