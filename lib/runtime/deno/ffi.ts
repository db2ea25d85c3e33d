/**
 * The C library through Deno's FFI (needs --allow-ffi): TCP_NODELAY on the listener
 * (nodelay.ts) and the client timeouts' socket listing (lib/runtime/linux_sockets.ts).
 */
// Types only: server threads load this module; only the main thread lists sockets.
import type { SocketOps } from "../linux_sockets.ts";
import { errorText } from "../../log.ts";

const LIBC_CANDIDATES = [
  "libc.so.6",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
  "libc.dylib",
];

const SYMBOLS = {
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** The bound functions. */
export type DenoLibc = Deno.DynamicLibrary<typeof SYMBOLS>;

let libc: DenoLibc | null | undefined;

/** The C library, opened once; null when none of the usual names loads. Throws without FFI. */
export function openLibc(): DenoLibc | null {
  if (libc !== undefined) return libc;
  for (const name of LIBC_CANDIDATES) {
    try {
      return libc = Deno.dlopen(name, SYMBOLS);
    } catch (error) {
      // No permission: say so to every caller (nothing is cached).
      if (error instanceof Deno.errors.NotCapable) throw error;
    }
  }
  return libc = null;
}

/** {@linkcode SocketOps} for Deno, or why there are none. */
export async function denoSocketOps(): Promise<SocketOps | string> {
  let lib: DenoLibc | null;
  try {
    lib = openLibc();
  } catch (error) {
    return `it needs FFI (run with --allow-ffi): ${errorText(error)}`;
  }
  if (!lib) return "no C library was found";
  const { linuxSocketOps } = await import("../linux_sockets.ts");
  // The bound symbols take what Libc declares (numbers, Uint8Arrays as pointers).
  return linuxSocketOps(lib.symbols);
}
