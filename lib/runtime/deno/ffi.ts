/**
 * The C library through Deno's FFI (needs --allow-ffi): TCP_NODELAY on the listener
 * (nodelay.ts) and the client timeouts' socket listing (lib/runtime/linux_sockets.ts).
 */
// Types only: server threads load this module; only the main thread lists sockets.
import type { SocketOps } from "../../slow_clients/mod.ts";
import { type Libc, LIBC_CANDIDATES, LIBC_FUNCTIONS } from "../libc.ts";
import { errorText } from "../../log.ts";

/** {@linkcode LIBC_FUNCTIONS} as Deno.dlopen takes them (a pointer to a buffer is "buffer"). */
const SYMBOLS: Record<string, Deno.ForeignFunction> = Object.fromEntries(
  Object.entries(LIBC_FUNCTIONS).map(([name, { parameters, result }]) => [name, {
    parameters: parameters.map((type) => type === "pointer" ? "buffer" : type),
    result,
  }]),
);

let libc: Libc | null | undefined;

/** The C library, opened once; null when none of the usual names loads. Throws without FFI. */
export function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  for (const name of LIBC_CANDIDATES) {
    try {
      // The bound symbols take what Libc declares (numbers, Uint8Arrays as pointers).
      return libc = Deno.dlopen(name, SYMBOLS).symbols as unknown as Libc;
    } catch (error) {
      // No permission: say so to every caller (nothing is cached).
      if (error instanceof Deno.errors.NotCapable) throw error;
    }
  }
  return libc = null;
}

/** {@linkcode SocketOps} for Deno, or why there are none. */
export async function denoSocketOps(): Promise<SocketOps | string> {
  let lib: Libc | null;
  try {
    lib = openLibc();
  } catch (error) {
    return `it needs FFI (run with --allow-ffi): ${errorText(error)}`;
  }
  if (!lib) return "no C library was found";
  const { linuxSocketOps } = await import("../linux_sockets.ts");
  return linuxSocketOps(lib);
}
