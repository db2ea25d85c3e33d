/** The C library through bun:ffi, for the client timeouts' socket listing (lib/runtime/linux_sockets.ts). */
// Types only: server threads load this module; only the main thread lists sockets.
import type { SocketOps } from "../../slow_clients/mod.ts";
import { type Libc, LIBC_CANDIDATES, LIBC_FUNCTIONS } from "../libc.ts";
import { errorText } from "../../log.ts";

/** The part of bun:ffi used here (Bun 1.4.5); declared so that `deno check` can check this file. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Libc };
}

/** {@linkcode LIBC_FUNCTIONS} as bun:ffi takes them (a pointer is "ptr"). */
const SYMBOLS = Object.fromEntries(
  Object.entries(LIBC_FUNCTIONS).map(([name, { parameters, result }]) => [name, {
    args: parameters.map((type) => type === "pointer" ? "ptr" : type),
    returns: result,
  }]),
);

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
