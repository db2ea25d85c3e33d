/**
 * The process's accepted TCP sockets, listed and closed through the C library (Linux).
 *
 * Deno's and Bun's servers keep their sockets to themselves: neither has a header-read timeout
 * (Deno 2.9.6 has none at all; Bun 1.4.5's is fixed at about 10 s) nor a way to close one
 * connection. The descriptors are still the process's own, so the client timeouts' sweep finds
 * them by their addresses (lib/runtime/libc.ts), reads each one's TCP_INFO, and shuts down the
 * ones that overstay. `shutdown(2)`, not `close(2)`: the runtime sees end-of-file, closes the
 * descriptor itself and frees its state, and no descriptor number is ever reused behind its back.
 */
import process from "node:process";
import type { AcceptedSocket, SocketOps } from "../slow_clients/mod.ts";
import {
  addressReader,
  IPPROTO_TCP,
  type Libc,
  openDescriptors,
  SHUT_RDWR,
  TCP_INFO,
} from "./libc.ts";

/** struct tcp_info (linux/tcp.h): __u32 tcpi_last_data_sent at byte 44, last_data_recv at 52. */
const LAST_DATA_SENT = 44;
const LAST_DATA_RECV = 52;
const TCP_INFO_BYTES = 104;

/** tcpi_last_data_sent and tcpi_last_data_recv, in ms (little-endian, as on every Linux port). */
export function parseTcpInfo(bytes: Uint8Array): { lastSentMs: number; lastReceivedMs: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    lastSentMs: view.getUint32(LAST_DATA_SENT, true),
    lastReceivedMs: view.getUint32(LAST_DATA_RECV, true),
  };
}

/**
 * The Linux implementation over `libc`, or why there is none here (another system, or no
 * /proc to list descriptors in).
 */
export function linuxSocketOps(libc: Libc): SocketOps | string {
  if (process.platform !== "linux") return `it needs Linux (this is ${process.platform})`;
  if (openDescriptors() === null) return "/proc/self/fd cannot be read";
  const address = addressReader();
  const len = new Uint8Array(4);
  const lenView = new DataView(len.buffer);
  const info = new Uint8Array(TCP_INFO_BYTES);
  const peerOf = (fd: number) => {
    const peer = address(libc.getpeername, fd);
    return peer && { key: `${peer.address}:${peer.port}`, port: peer.port };
  };
  return {
    list(port) {
      const found: AcceptedSocket[] = [];
      for (const fd of openDescriptors() ?? []) {
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
