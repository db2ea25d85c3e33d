/**
 * Issue 12 item 7: a compressed upstream body costs promgate no more than its compressed bytes.
 * Deno's fetch decodes gzip, and promgate re-encoded what it decoded: a 1 MB gzip bomb (1 GiB of
 * zeros) cost 7.4 CPU-seconds and 110 MB of RSS, and two at once held other users' small queries
 * for 2.5 s. Both runtimes now pass the compressed bytes through as the upstream sent them.
 */
import zlib from "node:zlib";
import { assert, assertEquals } from "../_assert.ts";
import { basic, needs, run, startUpstream } from "../_util.ts";
import { startGate } from "./_helpers.ts";

const PASSWORD = "bomb-pw-7";
const GiB = 1024 ** 3;

/** `size` zero bytes, gzip-compressed (1 GiB -> about 1 MB), made without holding them. */
async function gzipBomb(size: number): Promise<Uint8Array<ArrayBuffer>> {
  const gzip = zlib.createGzip({ level: 9 });
  const parts: Uint8Array[] = [];
  gzip.on("data", (chunk: Uint8Array) => parts.push(chunk));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = new Uint8Array(1024 * 1024);
  for (let written = 0; written < size; written += zeros.byteLength) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.end();
  await ended;
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

/** CPU seconds (user + system, all threads) the process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

Deno.test({
  ...needs("htpasswd", "curl"),
  name: "a 1 MB gzip bomb passes through as 1 MB: promgate's CPU and memory stay flat, " +
    "and other users' queries are not held up",
  async fn() {
    const bomb = await gzipBomb(GiB);
    let bombsAsked = 0;
    const upstream = startUpstream((req) => {
      if (new URL(req.url).pathname === "/bomb") {
        bombsAsked++;
        return new Response(bomb, {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      }
      return Response.json({ status: "success", data: { resultType: "vector", result: [] } });
    });
    // One server thread: the bombs and the small queries share it, as they would on one core.
    const gate = await startGate({ admin: PASSWORD }, [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
    ], { accessLog: false, workers: 1 });
    const auth = basic("admin", PASSWORD);
    try {
      const warm = await fetch(`${gate.url}/prometheus/api/v1/query`, {
        headers: { authorization: auth },
      });
      assertEquals(warm.status, 200);
      await warm.body?.cancel();
      const cpuBefore = cpuSeconds(gate.pid);
      const rssBefore = rssMiB(gate.pid);
      // Two clients that take gzip (as every browser and Go client does), reading raw bytes.
      const bombs = [1, 2].map(() =>
        run("curl", [
          ...["-sS", "-o", "/dev/null", "-m", "60", "-w", "%{http_code} %{size_download}"],
          ...["-H", `Authorization: ${auth}`, "-H", "Accept-Encoding: gzip"],
          `${gate.url}/prometheus/bomb`,
        ])
      );
      let finished = false;
      const outs = Promise.all(bombs).finally(() => finished = true);
      const asked = performance.now() + 10_000;
      while (bombsAsked < 2 && performance.now() < asked) {
        await new Promise((r) => setTimeout(r, 5));
      }
      // Small queries for as long as the bombs are in flight (at least ten).
      let slowest = 0;
      let peakRss = rssBefore;
      for (let i = 0; i < 10 || (!finished && i < 1000); i++) {
        const started = performance.now();
        const r = await fetch(`${gate.url}/prometheus/api/v1/query?query=up`, {
          headers: { authorization: auth },
        });
        assertEquals(r.status, 200);
        await r.arrayBuffer();
        slowest = Math.max(slowest, performance.now() - started);
        peakRss = Math.max(peakRss, rssMiB(gate.pid));
      }
      await outs;
      peakRss = Math.max(peakRss, rssMiB(gate.pid));
      const cpu = cpuSeconds(gate.pid) - cpuBefore;
      console.log(
        `two ${(bomb.byteLength / 1e6).toFixed(1)} MB gzip bombs (1 GiB of zeros each): ` +
          `promgate used ${cpu.toFixed(2)} CPU-s, RSS ${rssBefore.toFixed(0)} -> ` +
          `${peakRss.toFixed(0)} MiB, slowest concurrent small query ${slowest.toFixed(0)} ms`,
      );
      // Generous bounds for a loaded 2-core machine; decoding one bomb took 7.4 CPU-s.
      for (const out of await outs) {
        assertEquals(out.code, 0, out.stderr);
        const [status, size] = out.stdout.split(" ").map(Number);
        assertEquals(status, 200);
        // Whatever promgate sends, it is no bigger than what the upstream sent.
        assert(size <= bomb.byteLength, `sent ${size} bytes for ${bomb.byteLength}`);
      }
      assert(cpu < 1.5, `promgate used ${cpu.toFixed(2)} CPU-s for two bombs`);
      assert(peakRss - rssBefore < 25, `RSS grew ${(peakRss - rssBefore).toFixed(0)} MiB`);
      assert(slowest < 500, `a small query took ${slowest.toFixed(0)} ms beside the bombs`);
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});
