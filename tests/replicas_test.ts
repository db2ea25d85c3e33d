/**
 * Two promgate replicas sharing one real Redis (issue 16, part 1): replica A on Deno (with two
 * server threads), replica B on Bun or as PROMGATE_CMD says (tests/_replicas.ts).
 * Failed logins spread over both block the attacker on both; with Redis killed mid-run no request
 * fails and each replica counts alone (the switch logged once); with Redis back they share again.
 */
import { assert, assertEquals } from "./_assert.ts";
import { NEEDS_REDIS, startRedis } from "./_redis.ts";
import { replicaB, startWith } from "./_replicas.ts";
import { basic, makeHtpasswd, needs, type Promgate, startUpstream, tempDir } from "./_util.ts";

const NEEDS = { ignore: NEEDS_REDIS.ignore || needs("htpasswd").ignore };

/** Failures of one (address, user) pair before it is blocked. */
const PAIR_FAILURES = 5;
const REDIS_PASSWORD = "replicas-share-this";

/** The status of GET / on `gate` as `user`. */
async function login(gate: Promgate, user: string, password: string): Promise<number> {
  const res = await fetch(`${gate.url}/`, { headers: { authorization: basic(user, password) } });
  await res.body?.cancel();
  return res.status;
}

/** A metric's value in `gate`'s /metrics. */
async function metric(gate: Promgate, name: string): Promise<number> {
  const text = await (await fetch(`${gate.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics:\n${text}`);
  return Number(line.split(" ")[1]);
}

/**
 * Guesses `user`'s password on A and B in turn until both answer 429; resolves the 401s each
 * answered before its first 429.
 */
async function attack(a: Promgate, b: Promgate, user: string): Promise<[number, number]> {
  const failures: [number, number] = [0, 0];
  const blocked = [false, false];
  for (let i = 0; i < 40 && !(blocked[0] && blocked[1]); i++) {
    const which = i % 2;
    const status = await login([a, b][which], user, `guess-${i}`);
    if (status === 401 && !blocked[which]) failures[which]++;
    else if (status === 429) blocked[which] = true;
    else throw new Error(`guess ${i} on replica ${"AB"[which]}: ${status}`);
  }
  assert(blocked[0] && blocked[1], `not blocked on both after 40 guesses: ${failures}`);
  return failures;
}

/** Waits until `gate`'s stderr matches `pattern`. */
async function logged(gate: Promgate, pattern: RegExp, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(gate.stderr())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${gate.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (text: string, pattern: RegExp) =>
  text.split("\n").filter((l) => pattern.test(l)).length;

Deno.test({
  name: "two replicas share one Redis: failures spread over both block on both; Redis down " +
    "fails no request; back, shared again",
  ...NEEDS,
}, async () => {
  const redis = await startRedis({ password: REDIS_PASSWORD });
  const upstream = startUpstream(() => new Response("ok\n"));
  const dirs = [await tempDir(), await tempDir()];
  const gates: Promgate[] = [];
  try {
    const config = async (dir: string, workers: number) => {
      await makeHtpasswd(`${dir}/users`, { alice: "alice-pass", admin: "admin-pass" });
      await Deno.writeTextFile(`${dir}/redis.password`, REDIS_PASSWORD + "\n");
      return {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: {
          htpasswdFile: "users",
          throttle: {
            clientFailures: PAIR_FAILURES,
            userFailures: 1000,
            clientUsers: 1000,
            baseDelaySeconds: 60,
            maxDelaySeconds: 60,
          },
        },
        routes: [{ path: "/", upstream: upstream.url + "/" }],
        metrics: { path: "/metrics", auth: false },
        accessLog: false,
        workers,
        state: { redis: redis.url, passwordFile: "redis.password" },
      };
    };
    gates.push(await startWith(null, dirs[0], await config(dirs[0], 2)));
    gates.push(await startWith(replicaB(), dirs[1], await config(dirs[1], 1)));
    const [a, b] = gates;
    for (const gate of gates) {
      assertEquals(count(gate.stderr(), /state: sharing failed-login counts in redis/), 1);
      assertEquals(await metric(gate, "promgate_state_redis_up"), 1);
    }

    // 1. Shared: the pair's failures count on both replicas together.
    const shared = await attack(a, b, "admin");
    console.log(`shared: 401s before both blocked: A ${shared[0]}, B ${shared[1]}`);
    assertEquals(shared[0] + shared[1], PAIR_FAILURES, `A ${shared[0]} + B ${shared[1]}`);
    assertEquals(await login(a, "alice", "alice-pass"), 200);

    // 2. Redis killed: no request fails; each replica counts alone, saying so once.
    await redis.stop();
    const statuses: number[] = [];
    let slowest = 0;
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      statuses.push(await login(gates[i % 2], "alice", "alice-pass"));
      slowest = Math.max(slowest, performance.now() - t0);
    }
    const alone = await attack(a, b, "bob");
    console.log(
      `Redis down: ${statuses.filter((s) => s === 200).length}/40 correct logins answered 200 ` +
        `(slowest ${slowest.toFixed(0)} ms); 401s before both blocked: A ${alone[0]}, B ${
          alone[1]
        }`,
    );
    assertEquals(statuses.filter((s) => s !== 200), []);
    assertEquals(alone, [PAIR_FAILURES, PAIR_FAILURES], "each replica counts alone");
    for (const gate of gates) {
      assertEquals(count(gate.stderr(), /state: redis \S+ unreachable \(.+\); using local/), 1);
      assertEquals(await metric(gate, "promgate_state_redis_up"), 0);
      assert(await metric(gate, "promgate_state_redis_fallbacks_total") > 0);
      assert(!gate.stderr().includes(REDIS_PASSWORD), "the password is never logged");
    }

    // 3. Redis back (empty): shared again.
    await redis.start();
    for (const gate of gates) await logged(gate, /reachable again; sharing failed-login counts/);
    const again = await attack(a, b, "carol");
    console.log(`Redis back: 401s before both blocked: A ${again[0]}, B ${again[1]}`);
    assertEquals(again[0] + again[1], PAIR_FAILURES);
    for (const gate of gates) {
      assertEquals(count(gate.stderr(), /reachable again/), 1);
      assertEquals(await metric(gate, "promgate_state_redis_up"), 1);
    }
    assertEquals(await login(b, "alice", "alice-pass"), 200);
  } finally {
    for (const gate of gates) await gate.stop();
    await upstream.close();
    await redis.stop();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
});
