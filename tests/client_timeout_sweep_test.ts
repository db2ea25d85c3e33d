/**
 * The client timeouts' parts: the sweep's decisions (a table of connection histories), the
 * shared connection table, and the parsing of what the kernel reports. The whole, against the
 * real process and real sockets, is tests/security/client_timeouts_test.ts.
 */
import { assertEquals } from "./_assert.ts";
import { configWith } from "./_config.ts";
import { capsNotes, clientTimeouts } from "../lib/slow_clients/client_timeouts.ts";
import type { Runtime } from "../lib/runtime/types.ts";
import type { ClientInfo } from "../lib/http/types.ts";
import { planReload } from "../lib/service/reload.ts";
import { ConnectionTable, trackConnections } from "../lib/slow_clients/connection_table.ts";
import { closeDecision, type SweepInput, type Watched } from "../lib/slow_clients/sweep.ts";
import { parseTcpInfo } from "../lib/runtime/linux_sockets.ts";
import { parseSockaddr } from "../lib/runtime/libc.ts";

const limits = { headerMs: 10_000, idleMs: 75_000 };
const NONE = { active: 0, startedMs: -1, endedMs: -1 };

function watched(firstSeenMs: number): Watched {
  return { peer: "127.0.0.1:40000", firstSeenMs, trickle: null };
}

/** Input at `nowMs` where the client last sent `recvAgo` ms ago and the server `sentAgo`. */
function at(
  nowMs: number,
  recvAgo: number,
  sentAgo: number,
  activity: SweepInput["activity"] = NONE,
): SweepInput {
  return { socket: { lastReceivedMs: recvAgo, lastSentMs: sentAgo }, activity, nowMs, limits };
}

Deno.test("a connection that never completes a request head is closed after the header timeout", () => {
  const w = watched(100_000);
  assertEquals(closeDecision(w, at(109_000, 9_000, 9_000)), null);
  assertEquals(closeDecision(w, at(110_000, 10_000, 10_000)), "header");
  // Trickling bytes do not help: no request ever began.
  assertEquals(closeDecision(w, at(110_000, 100, 10_000)), "header");
});

Deno.test("a request that began on another connection from the same port does not count", () => {
  const w = watched(100_000);
  const old = { active: 0, startedMs: 50_000, endedMs: 50_500 };
  assertEquals(closeDecision(w, at(110_000, 10_000, 10_000, old)), "header");
  // A table made less than two intervals ago: no request at all is not "one at time 0".
  assertEquals(closeDecision(watched(500), at(10_500, 10_000, 10_000)), "header");
});

Deno.test("a request in flight keeps any connection, however long", () => {
  const w = watched(0);
  const busy = { active: 1, startedMs: 1_000, endedMs: -1 };
  assertEquals(closeDecision(w, at(500_000, 499_000, 499_000, busy)), null);
});

Deno.test("an idle keep-alive connection is closed after the idle timeout, not before", () => {
  const w = watched(0);
  const done = { active: 0, startedMs: 1_000, endedMs: 2_000 };
  assertEquals(closeDecision(w, at(76_000, 75_000, 74_000, done)), null);
  assertEquals(closeDecision(w, at(77_000, 76_000, 75_000, done)), "idle");
  // Bytes still going out (a body the runtime sends after the handler returned) keep it open.
  assertEquals(closeDecision(w, at(200_000, 198_000, 10, done)), null);
});

Deno.test("the next head sent a byte at a time is cut after the header timeout", () => {
  const w = watched(0);
  const done = { active: 0, startedMs: 1_000, endedMs: 2_000 };
  // The client starts sending at 5 s and keeps sending; the server says nothing.
  assertEquals(closeDecision(w, at(6_000, 1_000, 4_000, done)), null);
  assertEquals(closeDecision(w, at(7_000, 200, 5_000, done)), null);
  assertEquals(closeDecision(w, at(14_000, 300, 12_000, done)), null);
  assertEquals(closeDecision(w, at(15_100, 100, 13_100, done)), "header");
});

Deno.test("one client frame after a response, or one the server answered, is no trickle", () => {
  const done = { active: 0, startedMs: 1_000, endedMs: 2_000 };
  // HTTP/2: a window update just after the last data frame, then silence.
  const update = watched(0);
  for (let now = 3_000; now < 70_000; now += 1_000) {
    assertEquals(closeDecision(update, at(now, now - 2_100, now - 2_050, done)), null);
  }
  // A ping every 5 s that the server answers at once.
  const pings = watched(0);
  for (let now = 3_000; now < 70_000; now += 1_000) {
    const ping = now - (now % 5_000) - 100;
    assertEquals(closeDecision(pings, at(now, now - ping, now - ping - 2, done)), null);
  }
});

Deno.test("the connection table counts requests per client port and never goes below zero", () => {
  const table = ConnectionTable.create();
  assertEquals(table.read(40_000), NONE);
  table.begin(40_000);
  table.begin(40_000);
  table.end(40_000);
  assertEquals(table.read(40_000).active, 1);
  table.end(40_000);
  table.end(40_000); // a stray end
  assertEquals(table.read(40_000).active, 0);
  table.begin(40_000);
  assertEquals(table.read(40_000).active, 1);
  // Another thread sees the same table through the same buffer.
  assertEquals(new ConnectionTable(table.buffer).read(40_000).active, 1);
  assertEquals(table.read(40_001), NONE);
});

Deno.test("a request is recorded while it runs, and a hold lasts until released once", async () => {
  const table = ConnectionTable.create();
  let resolve!: (r: Response) => void;
  let seen: ClientInfo | undefined;
  const handler = trackConnections(table, (_req, client) => {
    seen = client;
    return new Promise<Response>((r) => resolve = r);
  });
  const client = { address: "127.0.0.1", port: 50_000, protocol: "HTTP/1.1" };
  const running = handler(new Request("http://x/"), client);
  assertEquals(table.read(50_000).active, 1);
  assertEquals([seen?.address, seen?.port, seen?.protocol], ["127.0.0.1", 50_000, "HTTP/1.1"]);
  const release = seen!.hold!();
  resolve(new Response("x"));
  await running;
  assertEquals(table.read(50_000).active, 1); // the hold (a streaming body)
  release();
  release();
  assertEquals(table.read(50_000).active, 0);
  // A handler that throws ends its record too.
  const failing = trackConnections(table, () => Promise.reject(new Error("boom")));
  try {
    await failing(new Request("http://x/"), client);
  } catch { /* expected */ }
  assertEquals(table.read(50_000).active, 0);
  // A client whose port the server does not know is passed on as it is, untracked.
  const untracked = trackConnections(table, (_req, c) => {
    assertEquals([table.read(0).active, c.hold], [0, undefined]);
    return new Response("y");
  });
  await untracked(new Request("http://x/"), { address: "", protocol: "HTTP/1.1" });
});

Deno.test("socket addresses and TCP_INFO are read as Linux lays them out", () => {
  const v4 = new Uint8Array(16);
  v4.set([2, 0, 0x9c, 0x40, 127, 0, 0, 1]);
  assertEquals(parseSockaddr(v4), { address: "127.0.0.1", port: 40000 });
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0x30, 0x39]);
  v6[23] = 1;
  assertEquals(parseSockaddr(v6), { address: "0:0:0:0:0:0:0:1", port: 12345 });
  assertEquals(parseSockaddr(new Uint8Array(16)), null); // AF_UNSPEC
  // macOS: a length byte, then a one-byte family (AF_INET6 is 30 there).
  const bsd4 = new Uint8Array(16);
  bsd4.set([16, 2, 0x9c, 0x40, 10, 0, 0, 7]);
  assertEquals(parseSockaddr(bsd4), { address: "10.0.0.7", port: 40000 });
  const bsd6 = new Uint8Array(28);
  bsd6.set([28, 30, 0x30, 0x39]);
  bsd6[23] = 1;
  assertEquals(parseSockaddr(bsd6), { address: "0:0:0:0:0:0:0:1", port: 12345 });
  const info = new Uint8Array(104);
  const view = new DataView(info.buffer);
  view.setUint32(44, 1234, true);
  view.setUint32(52, 5678, true);
  assertEquals(parseTcpInfo(info), { lastSentMs: 1234, lastReceivedMs: 5678 });
});

Deno.test("SIGHUP applies new client timeouts, even when the new address waits for a restart", () => {
  const current = configWith([], {
    listen: { hostname: "127.0.0.1", port: 9000, headerTimeoutSeconds: 10, idleTimeoutSeconds: 75 },
  });
  const next = configWith([], {
    listen: { hostname: "0.0.0.0", port: 9001, headerTimeoutSeconds: 3, idleTimeoutSeconds: 30 },
  });
  const plan = planReload(current, next);
  assertEquals(plan.config.listen, {
    hostname: "127.0.0.1",
    port: 9000,
    headerTimeoutSeconds: 3,
    idleTimeoutSeconds: 30,
  });
  assertEquals(plan.needRestart.length, 1);
  assertEquals(clientTimeouts(plan.config), { headerMs: 3000, idleMs: 30_000 });
  assertEquals(clientTimeouts(current), { headerMs: 10_000, idleMs: 75_000 });
});

Deno.test("promgate warns when the runtime closes clients sooner than the config says", () => {
  const runtime = { name: "bun", clientTimeoutCaps: { headerSeconds: 10, idleSeconds: 255 } };
  const within = configWith([], {
    listen: { hostname: "::", port: 1, headerTimeoutSeconds: 10, idleTimeoutSeconds: 75 },
  });
  assertEquals(capsNotes(within, runtime as unknown as Runtime), []);
  const beyond = configWith([], {
    listen: { hostname: "::", port: 1, headerTimeoutSeconds: 30, idleTimeoutSeconds: 300 },
  });
  const notes = capsNotes(beyond, runtime as unknown as Runtime);
  assertEquals(notes.length, 2);
  assertEquals(notes[0].includes("headerTimeoutSeconds is 30"), true);
  assertEquals(notes[1].includes("silent for 255 s"), true);
});
