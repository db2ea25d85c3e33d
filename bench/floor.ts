/**
 * The runtime's floor: the least a TLS reverse proxy can cost on this runtime. Deno.serve (or
 * Bun.serve) and fetch, no authentication, no logging, no header rules — what any
 * proxy written for the runtime pays before doing its own work. `deno task bench` runs it under
 * Deno and Bun in scenario 1 ("deno-floor", "bun-floor"), so promgate's rows can be read against
 * what its runtime allows as well as against nginx and Caddy.
 *
 *   deno run -A --unstable-net bench/floor.ts --port P --upstream http://127.0.0.1:9090 \
 *     --cert C --key K [--copies N]
 *   bun bench/floor.ts …
 *
 * `--copies N` serves from N processes sharing the port (SO_REUSEPORT), as promgate's `workers`
 * serves from N threads: the extra copies are children of the first, so they stop with it.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    upstream: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    copies: { type: "string", default: "1" },
    child: { type: "boolean", default: false },
  },
});
const copies = Number(values.copies);
const port = Number(values.port);
const upstream = values.upstream!;
const cert = readFileSync(values.cert!, "utf8");
const key = readFileSync(values.key!, "utf8");

/** /prometheus/x -> upstream/x, the request's method, headers and body, the answer as it came. */
async function forward(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname.replace(/^\/prometheus/, "") + url.search;
  const controller = new AbortController(); // a real proxy needs one, for its timeouts
  const answer = await fetch(upstream + path, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    redirect: "manual",
    signal: controller.signal,
    // @ts-ignore: needed to stream a request body; Bun: leave the body as the upstream sent it
    duplex: "half",
    decompress: false,
  });
  const body = new Uint8Array(await answer.arrayBuffer());
  return new Response(body, { status: answer.status, headers: answer.headers });
}

const reusePort = copies > 1;
// deno-lint-ignore no-explicit-any
const runtime = globalThis as any;
if (runtime.Bun) {
  runtime.Bun.serve({
    hostname: "127.0.0.1",
    port,
    reusePort,
    tls: { cert, key },
    http2: true,
    fetch: forward,
  });
} else {
  Deno.serve({ hostname: "127.0.0.1", port, cert, key, reusePort, onListen() {} }, forward);
}
const args = [
  process.argv[1],
  ...["port", "upstream", "cert", "key", "copies"].map((k) =>
    `--${k}=${values[k as keyof typeof values]}`
  ),
  "--child",
];
const children = Array.from({ length: values.child ? 0 : copies - 1 }, () => {
  const runtimeArgs = runtime.Bun ? [] : ["run", "-A", "--unstable-net"];
  return spawn(process.execPath, [...runtimeArgs, ...args], { stdio: "inherit" });
});
// Exit (not die) on a signal, so that a --cpu-prof profile is written, and take the copies along.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill();
    process.exit(0);
  });
}
