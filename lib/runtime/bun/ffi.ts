/** The C library through bun:ffi, for the client timeouts' socket listing (lib/runtime/linux_sockets.ts). */
// Types only: server threads load this module; only the main thread lists sockets.
import type { Libc, SocketOps } from "../linux_sockets.ts";
import { errorText } from "../../log.ts";

/** The part of bun:ffi used here (Bun 1.4.5); declared so that `deno check` can check this file. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Libc };
}

const LIBC_CANDIDATES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

const SYMBOLS = {
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  shutdown: { args: ["i32", "i32"], returns: "i32" },
};

/** {@linkcode SocketOps} for Bun, or why there are none. */
export async function bunSocketOps(): Promise<SocketOps | string> {
  let ffi: BunFfi;
  try {
    // A computed specifier: `deno check` does not know Bun's built-in modules.
    const name = "bun:ffi";
    ffi = await import(name) as BunFfi;
  } catch (error) {
    return `bun:ffi does not load: ${errorText(error)}`;
  }
  for (const path of LIBC_CANDIDATES) {
    let libc: Libc;
    try {
      libc = ffi.dlopen(path, SYMBOLS).symbols;
    } catch {
      continue;
    }
    const { linuxSocketOps } = await import("../linux_sockets.ts");
    return linuxSocketOps(libc);
  }
  return "no C library was found";
}
