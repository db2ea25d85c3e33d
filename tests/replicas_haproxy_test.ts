/**
 * Two replicas behind one real HAProxy, as deploy/compose runs them (issue 16, part 2): HAProxy
 * in HTTP mode sends each request on a new connection to the next replica, round robin, with a
 * PROXY protocol v2 header and X-Forwarded-For; replica A runs on Deno, replica B on Bun or as
 * PROMGATE_CMD says (tests/_replicas.ts); both share one real Redis. The failed-login throttle,
 * the per-user rate limit and both access logs see the clients' own addresses (each client a
 * loopback address of its own), never HAProxy's; an X-Forwarded-For a client made up changes
 * nothing.
 */
import { assert, assertEquals } from "./_assert.ts";
import { curlFrom, NEEDS_HAPROXY, startHaProxy } from "./_haproxy.ts";
import { NEEDS_REDIS, startRedis } from "./_redis.ts";
import { replicaB, startWith } from "./_replicas.ts";
import { basic, makeHtpasswd, type Promgate, startUpstream, tempDir } from "./_util.ts";

const NEEDS = { ignore: NEEDS_REDIS.ignore || NEEDS_HAPROXY.ignore };
const USERS = { admin: "admin-pass", grafana: "grafana-pass" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The client address of each access log line (combined format: the first field). */
function loggedClients(gate: Promgate): string[] {
  return gate.stdout().split("\n").filter(Boolean).map((line) => line.split(" ")[0]);
}

/** Waits until the two replicas have logged `n` requests between them. */
async function untilLogged(gates: Promgate[], n: number): Promise<string[][]> {
  for (let i = 0; i < 250; i++) {
    const logs = gates.map(loggedClients);
    if (logs.flat().length >= n) return logs;
    await sleep(20);
  }
  return gates.map(loggedClients);
}

Deno.test({
  name: "two replicas behind a real HAProxy (PROXY v2 and X-Forwarded-For) throttle, rate-limit " +
    "and log each client by its own address, shared in Redis",
  ...NEEDS,
}, async () => {
  const redis = await startRedis();
  const upstream = startUpstream(() => new Response("ok\n"));
  const dirs = [await tempDir(), await tempDir()];
  const gates: Promgate[] = [];
  let stopHaProxy = async () => {};
  try {
    for (const dir of dirs) await makeHtpasswd(`${dir}/users`, USERS);
    const config = {
      listen: {
        hostname: "127.0.0.1",
        port: 0,
        trustedProxies: ["127.0.0.1"],
        proxyProtocol: true,
      },
      auth: {
        htpasswdFile: "users",
        throttle: {
          clientFailures: 5,
          userFailures: 1000,
          clientUsers: 1000,
          baseDelaySeconds: 60,
          maxDelaySeconds: 60,
        },
      },
      limits: [{ name: "grafana-rate", who: ["grafana"], perSecond: 0.5, burst: 3 }],
      routes: [{ path: "/", upstream: upstream.url + "/" }],
      workers: 1, // proxyProtocol reads the header in one thread
      state: { redis: redis.url },
    };
    gates.push(await startWith(null, dirs[0], config));
    gates.push(await startWith(replicaB(), dirs[1], config));
    const haproxy = await startHaProxy(dirs[0], gates.map((g) => g.port), "http+proxy-v2");
    stopHaProxy = haproxy.stop;
    const via = `${haproxy.url}/`;
    const admin = basic("admin", USERS.admin);

    // The throttle: five wrong passwords from 127.0.0.2, spread over both replicas, block it on
    // both (the next two requests go one to each), even with the right password.
    for (let i = 0; i < 5; i++) {
      assertEquals(await curlFrom("127.0.0.2", via, basic("admin", `guess-${i}`)), 401);
    }
    for (let i = 0; i < 2; i++) {
      assertEquals(await curlFrom("127.0.0.2", via, admin), 429, "127.0.0.2 blocked");
    }
    // Another client naming 127.0.0.2 in a made-up X-Forwarded-For is itself, on both.
    for (let i = 0; i < 2; i++) {
      assertEquals(await curlFrom("127.0.0.4", via, admin, "127.0.0.2"), 200);
    }

    // The rate limit, counted once for both replicas: a burst of 3, then 429. Not within the
    // last second of its 6 s window (windows follow the wall clock), so none ends mid-burst.
    const left = 6000 - Date.now() % 6000;
    if (left < 1000) await sleep(left + 50);
    const grafana = basic("grafana", USERS.grafana);
    const rated = [];
    for (let i = 0; i < 4; i++) rated.push(await curlFrom("127.0.0.5", via, grafana));
    assertEquals(rated, [200, 200, 200, 429]);

    const [a, b] = await untilLogged(gates, 13);
    console.log(`access log of replica A: ${a.join(" ")}\naccess log of replica B: ${b.join(" ")}`);
    const all = [...a, ...b];
    const times = (address: string) => all.filter((c) => c === address).length;
    assertEquals(all.length, 13, all.join(" "));
    assertEquals([times("127.0.0.2"), times("127.0.0.4"), times("127.0.0.5")], [7, 2, 4]);
    assert(a.length >= 6 && b.length >= 6, "HAProxy spread the requests over both replicas");
    assert(a.includes("127.0.0.2") && b.includes("127.0.0.2"), "the attacker reached both");
  } finally {
    await stopHaProxy();
    for (const gate of gates) await gate.stop();
    await upstream.close();
    await redis.stop();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
});
