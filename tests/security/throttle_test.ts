/**
 * Failed-login throttling (issue 6 item 4, redesigned by issue 12 item 3): failures count per
 * (address, user) pair, per user and per address by distinct names, each with its own rule, so
 * guesses stay bounded while a targeted guess at one user does not block the address's other
 * users, and guesses from other addresses do not keep a user out where they logged in before.
 * A blocked attempt costs no hash; Retry-After does not tell when the block ends.
 *
 * Every end-to-end client is on 127.0.0.0/8 (curl --interface picks the source address), so the
 * cases with hundreds of addresses run on the Throttle itself with a fake clock.
 */
import { configWith, routeConfig } from "../_config.ts";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { basic, makeHtpasswd, needs, run } from "../_util.ts";
import type { AccessLog } from "../../lib/http/access_log.ts";
import { Authenticator } from "../../lib/auth/basic.ts";
import { createHandler } from "../../lib/http/handler.ts";
import { parseHtpasswd } from "../../lib/auth/htpasswd.ts";
import { createVerifier } from "../../lib/auth/password/verifier.ts";
import { denoRuntime } from "../../lib/runtime/deno/adapter.ts";
import { clientKey, DEFAULT_THROTTLE, Throttle } from "../../lib/auth/throttle.ts";
import { LocalStore } from "../../lib/state/local.ts";
import { StoreBroker, ThreadStore } from "../../lib/state/threads.ts";
import { type Gate, median, secret, secretBasic, startGate, startRecorder } from "./_helpers.ts";

const DAY_MS = 86_400_000;

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** A Throttle with `options` over a store of its own on clock `c`. */
function throttle(
  c: ReturnType<typeof clock>,
  options: ConstructorParameters<typeof Throttle>[1] = {},
  log: (line: string) => void = () => {},
) {
  return new Throttle(new LocalStore({ now: c.now }), options, log);
}

/** How long (ms, to the millisecond) `client` stays blocked for `user`, probing with the clock. */
async function blockLength(t: Throttle, c: ReturnType<typeof clock>, client: string, user: string) {
  let waited = 0;
  while (await t.retryAfter(client, user) > 0) {
    c.advance(1);
    waited++;
  }
  return waited;
}

// ---------------------------------------------------------------------------------------------
// The rules, on the Throttle with a fake clock.

Deno.test("one address guessing one user is blocked for 1 s, 2 s, 4 s … 60 s; its other users are not", async () => {
  const c = clock();
  const lines: string[] = [];
  const t = throttle(c, {}, (l) => void lines.push(l));
  for (let i = 1; i <= 4; i++) {
    await t.failed("192.0.2.1", "alice");
    assertEquals(await t.retryAfter("192.0.2.1", "alice"), 0, `after ${i} failures`);
  }
  await t.failed("192.0.2.1", "alice");
  assert(await t.retryAfter("192.0.2.1", "alice") > 0, "the 5th failure blocks the pair");
  assertEquals(
    await t.retryAfter("192.0.2.1", "bob"),
    0,
    "the same address as another user is not",
  );
  assertEquals(await t.retryAfter("192.0.2.2", "alice"), 0, "the same user from elsewhere is not");
  assertEquals(await blockLength(t, c, "192.0.2.1", "alice"), 1000);
  const expected = [2, 4, 8, 16, 32, 60, 60];
  for (const seconds of expected) {
    await t.failed("192.0.2.1", "alice");
    assertEquals(await blockLength(t, c, "192.0.2.1", "alice"), seconds * 1000);
  }
  const pairLines = lines.filter((l) => l.includes('for user "alice"'));
  assertEquals(pairLines.length, 1 + expected.length, "one line per block");
  assertMatch(
    lines[0],
    /^login throttled: client 192\.0\.2\.1 waits 1 s for user "alice" after 5 failed logins$/,
  );
  c.advance(DEFAULT_THROTTLE.forgetAfterSeconds * 1000 + 1);
  await t.failed("192.0.2.1", "alice");
  assertEquals(await t.retryAfter("192.0.2.1", "alice"), 0, "forgotten after forgetAfterSeconds");
});

Deno.test("Retry-After is always the longest delay, so it does not tell when a block ends", async () => {
  const c = clock();
  const t = throttle(c, {});
  for (let i = 0; i < 5; i++) await t.failed("192.0.2.1", "alice");
  assertEquals(await t.retryAfter("192.0.2.1", "alice"), 60, "a 1 s block answers 60");
  c.advance(999);
  assertEquals(await t.retryAfter("192.0.2.1", "alice"), 60, "and 60 until its last millisecond");
  c.advance(1);
  assertEquals(await t.retryAfter("192.0.2.1", "alice"), 0);
  const short = throttle(c, { maxDelaySeconds: 2.5 });
  for (let i = 0; i < 5; i++) await short.failed("192.0.2.1", "alice");
  assertEquals(await short.retryAfter("192.0.2.1", "alice"), 3, "whole seconds, rounded up");
});

Deno.test(
  "the issue's attack: 16 addresses, then a guess every 0.25 s from 60 rotating ones, do not " +
    "keep a user out where they logged in; the guesses stay bounded",
  async () => {
    const c = clock();
    const t = throttle(c, {});
    await t.succeeded("203.0.113.7", "alice"); // alice's usual address
    let guesses = 0;
    const guess = async (address: string) => {
      if (await t.retryAfter(address, "alice") > 0) return;
      guesses++;
      await t.failed(address, "alice");
    };
    for (let i = 0; i < 16; i++) await guess(`198.51.100.${i}`);
    let refused = 0;
    let asked = 0;
    for (let tick = 1; tick <= 400; tick++) { // 100 s
      c.advance(250);
      await guess(`192.0.2.${tick % 60}`);
      if (tick % 8 === 0) { // alice logs in every 2 s, her credential not cached
        asked++;
        if (await t.retryAfter("203.0.113.7", "alice") > 0) refused++;
        else await t.succeeded("203.0.113.7", "alice");
      }
    }
    assertEquals(asked, 50);
    assertEquals(refused, 0, `${refused} of ${asked} logins of alice refused`);
    // 10 free, then blocks of 1, 2, 4, 8, 16, 32 s (63 s) and 60 s each: 16 guesses in 100 s.
    assert(guesses <= 16, `the attacker made ${guesses} guesses in 100 s`);
    assert(await t.retryAfter("192.0.2.200", "alice") > 0, "a new address for alice still waits");
    assertEquals(await t.retryAfter("192.0.2.200", "bob"), 0, "other users are not affected");
  },
);

Deno.test("behind one address (a load balancer), guesses at one user lock out no other user", async () => {
  const c = clock();
  const t = throttle(c, {});
  for (let i = 0; i < 30; i++) {
    if (await t.retryAfter("10.0.0.1", "alice") === 0) await t.failed("10.0.0.1", "alice");
    c.advance(500);
  }
  assert(await t.retryAfter("10.0.0.1", "alice") > 0, "alice's guesser waits");
  assertEquals(await t.retryAfter("10.0.0.1", "never-used"), 0, "a never-used user logs in");
  assertEquals(await t.retryAfter("10.0.0.1", "bob"), 0);
});

Deno.test("password spraying: 10 names failing from one address block it, except for its known users", async () => {
  const c = clock();
  const lines: string[] = [];
  const t = throttle(c, {}, (l) => void lines.push(l));
  await t.succeeded("192.0.2.1", "dave"); // dave works from this address
  for (let i = 0; i < 9; i++) await t.failed("192.0.2.1", `user${i}`);
  assertEquals(await t.retryAfter("192.0.2.1", "carol"), 0, "9 names: not yet");
  await t.failed("192.0.2.1", "user0");
  assertEquals(await t.retryAfter("192.0.2.1", "carol"), 0, "a repeated name is not a new one");
  await t.failed("192.0.2.1", "user9");
  assert(await t.retryAfter("192.0.2.1", "carol") > 0, "the 10th name blocks the address");
  assert(await t.retryAfter("192.0.2.1", "user3") > 0);
  assertEquals(
    await t.retryAfter("192.0.2.1", "dave"),
    0,
    "a user known at the address is not blocked",
  );
  assertEquals(await t.retryAfter("192.0.2.2", "carol"), 0, "another address is not");
  assertEquals(await blockLength(t, c, "192.0.2.1", "carol"), 1000);
  await t.failed("192.0.2.1", "user10");
  assertEquals(await blockLength(t, c, "192.0.2.1", "carol"), 2000, "and it doubles");
  assertMatch(
    lines.join("\n"),
    /login throttled: client 192\.0\.2\.1 waits 1 s after failed logins as 10 user names/,
  );
});

Deno.test("a success clears the pair's count but not the user's, which would reset the attacker's budget", async () => {
  const c = clock();
  const t = throttle(c, {});
  for (let i = 0; i < 4; i++) await t.failed("203.0.113.7", "alice"); // alice mistypes
  await t.succeeded("203.0.113.7", "alice");
  for (let i = 0; i < 4; i++) await t.failed("203.0.113.7", "alice");
  assertEquals(await t.retryAfter("203.0.113.7", "alice"), 0, "4 + 4 with a success between");
  await t.failed("203.0.113.7", "alice");
  assert(
    await t.retryAfter("203.0.113.7", "alice") > 0,
    "5 in a row block the pair, even a known one",
  );

  const u = throttle(c, {});
  for (let i = 0; i < 9; i++) await u.failed(`198.51.100.${i}`, "bob");
  await u.succeeded("203.0.113.8", "bob"); // the real bob logs in meanwhile
  await u.failed("198.51.100.99", "bob");
  assert(
    await u.retryAfter("192.0.2.9", "bob") > 0,
    "the 10th failure blocks bob at unknown addresses",
  );
  assertEquals(await u.retryAfter("203.0.113.8", "bob"), 0, "and not where bob logged in");
});

Deno.test("known addresses come from every thread's successes and expire after knownAddressDays", async () => {
  const c = clock();
  // Two threads' throttles over one store, served by a broker as the main thread serves it.
  const broker = new StoreBroker(new LocalStore({ now: c.now }));
  const s1 = new ThreadStore(broker.connect()), s2 = new ThreadStore(broker.connect());
  const t1 = new Throttle(s1), t2 = new Throttle(s2);
  await t1.succeeded("203.0.113.7", "alice");
  for (let i = 0; i < 10; i++) await t2.failed(`198.51.100.${i}`, "alice");
  for (const t of [t1, t2]) {
    assertEquals(await t.retryAfter("203.0.113.7", "alice"), 0, "known on both threads");
    assert(await t.retryAfter("192.0.2.1", "alice") > 0, "failures counted on both threads");
  }
  c.advance(31 * DAY_MS);
  for (let i = 0; i < 10; i++) await t2.failed(`198.51.100.${i}`, "alice");
  assert(
    await t1.retryAfter("203.0.113.7", "alice") > 0,
    "forgotten after 30 days without a login",
  );
  await Promise.all([s1.close(), s2.close(), broker.close()]);

  const off = throttle(c, { knownAddressDays: 0 });
  await off.succeeded("203.0.113.7", "alice");
  for (let i = 0; i < 10; i++) await off.failed(`198.51.100.${i}`, "alice");
  assert(await off.retryAfter("203.0.113.7", "alice") > 0, "knownAddressDays: 0 knows no address");
});

Deno.test("with the defaults, an attacker gets about 60 guesses per hour at one user, from one address or many", async () => {
  /** Guesses admitted per hour over two hours, the attacker trying every 0.25 s. */
  const perHour = async (addresses: (i: number) => string[]) => {
    const c = clock();
    const t = throttle(c, {});
    await t.succeeded("203.0.113.7", "alice");
    const hours = [0, 0];
    for (let i = 0; i < 2 * 14_400; i++, c.advance(250)) {
      for (const address of addresses(i)) {
        if (await t.retryAfter(address, "alice") > 0) continue;
        await t.failed(address, "alice");
        hours[i < 14_400 ? 0 : 1]++;
      }
    }
    return hours;
  };
  const rotating = (i: number) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
  const one = await perHour(() => ["192.0.2.1"]);
  const many = await perHour((i) => [rotating(i)]);
  const withKnown = await perHour((i) => [rotating(i), "203.0.113.7"]);
  console.log(
    `guesses per hour (first, second): one address ${one}, rotating ${many}, ` +
      `rotating + an address where alice logged in ${withKnown}`,
  );
  // Rule 1 from one address: 5 free, then 1 … 32 s, then one per 60 s.
  assertEquals(one, [69, 60]);
  // Rule 2 from any addresses: 9 free, then 1 … 32 s, then one per 60 s.
  assertEquals(many, [74, 60]);
  // An attacker sharing alice's address (a NAT) also gets rule 1's budget there.
  assertEquals(withKnown, [133, 120]);
});

Deno.test("IPv6 clients are keyed by /64, IPv4-mapped ones as IPv4; memory is bounded", async () => {
  assertEquals(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(clientKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  assertEquals(clientKey("::1"), "0:0:0:0::/64");
  assertEquals(clientKey("::ffff:192.0.2.1"), "192.0.2.1");
  assertEquals(clientKey("192.0.2.1"), "192.0.2.1");
  const c = clock();
  // At most 100 keys of each kind (pairs, users, addresses, their blocks, known addresses).
  const store = new LocalStore({ maxEntries: 100, now: c.now });
  const t = new Throttle(store, { clientFailures: 1 });
  await t.failed("2001:db8:1:2::1", "alice");
  assert(await t.retryAfter("2001:db8:1:2::ffff", "alice") > 0, "same /64");
  assertEquals(await t.retryAfter("2001:db8:1:3::1", "alice"), 0, "another /64");
  await t.succeeded("192.0.2.1", "carol");
  for (let i = 0; i < 1000; i++) {
    await t.failed(`10.0.${i >> 8}.${i & 255}`, `u${i}`);
    await t.succeeded(`10.1.${i >> 8}.${i & 255}`, "mallory"); // one account, many addresses
  }
  // 4,000 keys and names without the bound; with it, per kind 100 (names: 100 sets of one), and
  // two users' known addresses, mallory's capped at 64.
  assert(store.size <= 100 * 4 + 200 + 2 + 1 + 64, `${store.size} entries`);
  assertEquals(await t.retryAfter("10.1.3.231", "mallory"), 0, "mallory's latest address is known");
  for (let i = 0; i < 10; i++) await t.failed(`198.51.100.${i}`, "mallory");
  assert(await t.retryAfter("10.1.0.0", "mallory") > 0, "one user's addresses are capped");
  for (let i = 0; i < 10; i++) await t.failed(`198.51.100.${i}`, "carol");
  assertEquals(
    await t.retryAfter("192.0.2.1", "carol"),
    0,
    "mallory's addresses did not evict carol's",
  );
  const off = throttle(c, { enabled: false });
  for (let i = 0; i < 100; i++) await off.failed("192.0.2.1", "admin");
  assertEquals(await off.retryAfter("192.0.2.1", "admin"), 0, "enabled: false turns it off");
});

// ---------------------------------------------------------------------------------------------
// In the handler, with the real verifier.

Deno.test({
  ...needs("htpasswd"),
  name: "in the handler: an attacker gets 429 without a hash computed; others are not slowed",
  async fn() {
    const dir = await Deno.makeTempDir();
    await makeHtpasswd(`${dir}/.htpasswd`, {
      admin: secret("throttle-Admin-pw"),
      viewer: secret("throttle-Viewer-pw"),
    });
    const users = parseHtpasswd(await Deno.readTextFile(`${dir}/.htpasswd`), "t.htpasswd");
    await Deno.remove(dir, { recursive: true });
    const recorder = startRecorder();
    const verifier = createVerifier();
    let verifications = 0;
    const counting = {
      verify: (
        ...a: Parameters<typeof verifier.verify>
      ) => (verifications++, verifier.verify(...a)),
      close: () => verifier.close(),
    };
    const authenticator = new Authenticator(users, counting);
    const config = configWith([
      routeConfig("/p/", `${recorder.url}/`, { timeoutMs: 5000 }),
    ], {
      file: "/t/config.json",
      auth: { realm: "Prometheus", htpasswdFile: "/t/.htpasswd", throttle: null },
    });
    const accessLog: AccessLog = { write: () => {}, close: () => Promise.resolve() };
    const events: string[] = [];
    const handler = createHandler({
      state: () => ({ config, authenticator, accessLog }),
      client: denoRuntime,
      onSecurityEvent: (l) => void events.push(l),
      // Longer blocks than the default, so a loaded machine cannot outlast one mid-test.
      throttle: new Throttle(
        new LocalStore(),
        { baseDelaySeconds: 30 },
        (l) => void events.push(l),
      ),
    });
    const get = async (addr: string, header: string) => {
      const started = performance.now();
      const r = await handler(
        new Request("http://promgate.test/p/x", { headers: { authorization: header } }),
        { address: addr, protocol: "HTTP/1.1" },
      );
      await r.body?.cancel();
      return {
        status: r.status,
        retryAfter: r.headers.get("retry-after"),
        ms: performance.now() - started,
      };
    };
    try {
      const adminOk = secretBasic("admin", "throttle-Admin-pw");
      assertEquals((await get("192.0.2.50", adminOk)).status, 200, "admin's login is now cached");
      // One client guessing admin: 5 × 401, then 429 with Retry-After and no verification.
      for (let i = 0; i < 5; i++) {
        assertEquals((await get("192.0.2.66", secretBasic("admin", `guess-A-${i}`))).status, 401);
      }
      const before = verifications;
      const blocked = await get("192.0.2.66", secretBasic("admin", "guess-B-0"));
      assertEquals([blocked.status, blocked.retryAfter], [429, "60"]);
      assertEquals(verifications, before, "a throttled attempt computes no hash");
      assertEquals((await get("192.0.2.66", adminOk)).status, 200, "a cached login passes");
      assertEquals(
        (await get("192.0.2.66", secretBasic("viewer", "throttle-Viewer-pw"))).status,
        200,
        "another user at the guesser's address logs in",
      );
      // Many clients guessing one user: after 10 failures that user waits, others do not.
      for (let i = 0; i < 5; i++) {
        assertEquals(
          (await get(`198.51.100.${i}`, secretBasic("admin", `guess-C-${i}`))).status,
          401,
        );
      }
      const spread = await get("203.0.113.1", secretBasic("admin", "guess-D"));
      assertEquals(spread.status, 429, "the 10th failure as admin (5 earlier) blocked admin");
      assertEquals((await get("203.0.113.2", adminOk)).status, 200, "admin's cached login works");
      // Others' latency while one client floods: its attempts are answered at once.
      const others: number[] = [];
      const flood = Promise.all(
        Array.from({ length: 200 }, (_, i) => get("192.0.2.66", basic("admin", `f${i}`))),
      );
      for (let i = 0; i < 20; i++) {
        others.push((await get("192.0.2.80", secretBasic("viewer", "throttle-Viewer-pw"))).ms);
      }
      const flooded = await flood;
      assert(flooded.every((r) => r.status === 429), "the flood is throttled");
      console.log(
        `throttle: 200 flood attempts answered 429 in median ${
          median(flooded.map((r) => r.ms)).toFixed(2)
        } ms; ` +
          `another client's login meanwhile: median ${median(others).toFixed(2)} ms`,
      );
      assert(
        events.some((l) =>
          /^login throttled: client 192\.0\.2\.66 waits 30 s for user "admin"/.test(l)
        ),
        events.join("\n"),
      );
      assert(
        events.some((l) =>
          /^login throttled: user "admin" waits 30 s after 10 failed logins/.test(l)
        ),
        events.join("\n"),
      );
    } finally {
      verifier.close();
      await recorder.close();
    }
  },
});

// ---------------------------------------------------------------------------------------------
// The real process.

/** GET `url` from source address `from` with curl; returns the status and Retry-After. */
async function curlFrom(from: string, url: string, authorization: string) {
  const r = await run("curl", [
    "-sS",
    "--interface",
    from,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %header{retry-after}",
    "-H",
    `Authorization: ${authorization}`,
    url,
  ]);
  const [status, retryAfter] = r.stdout.split(" ");
  assertEquals(r.code, 0, r.stderr);
  return { status: Number(status), retryAfter: retryAfter || null };
}

Deno.test({
  ...needs("htpasswd", "curl"),
  name: "the real process: guesses at one user from an address do not lock out its other users",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({
      alice: "throttle-Real-Alice",
      bob: "throttle-Real-Bob",
    }, [{ path: "/p/", upstream: `${recorder.url}/` }]);
    const url = `${gate.url}/p/x`;
    try {
      const statuses: number[] = [];
      const retryAfters = new Set<string | null>();
      for (let i = 0; i < 7; i++) {
        const r = await fetch(url, {
          headers: { authorization: secretBasic("alice", `real-guess-${i}`) },
        });
        await r.body?.cancel();
        statuses.push(r.status);
        if (r.status === 429) retryAfters.add(r.headers.get("retry-after"));
      }
      assertEquals(statuses, [401, 401, 401, 401, 401, 429, 429]);
      // bob has never logged in; he shares the guesser's address (a load balancer, a NAT).
      const bob = await curlFrom("127.0.0.1", url, secretBasic("bob", "throttle-Real-Bob"));
      assertEquals(bob.status, 200, "bob from the guesser's address");
      const alice = await curlFrom("127.0.0.2", url, secretBasic("alice", "throttle-Real-Alice"));
      assertEquals(alice.status, 200, "alice from another address");
      assertEquals([...retryAfters], ["60"], "the longest delay, not when the block ends");
      await gate.waitForStdout(/ 429 /);
      assertMatch(
        gate.stderr(),
        /promgate: login throttled: client 127\.0\.0\.1 waits 1 s for user "alice" after 5 failed/,
      );
      assertMatch(gate.stdout(), /"GET \/p\/x HTTP\/1\.1" 429 /);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});

/** Rewrites the htpasswd file with fresh salts (as a re-run of htpasswd does), then SIGHUP. */
async function rehashUsers(gate: Gate, users: Record<string, string>): Promise<void> {
  const reloads = gate.stderr().match(/reload: config /g)?.length ?? 0;
  const next = `${gate.dir}/.htpasswd.new`;
  await makeHtpasswd(next, users);
  for (const line of (await Deno.readTextFile(next)).split("\n")) {
    if (line) secret(line.slice(line.indexOf(":") + 1));
  }
  await Deno.rename(next, `${gate.dir}/.htpasswd`);
  Deno.kill(gate.pid, "SIGHUP");
  const deadline = Date.now() + 10_000;
  while ((gate.stderr().match(/reload: config /g)?.length ?? 0) <= reloads) {
    assert(Date.now() < deadline, `no reload within 10 s:\n${gate.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const workers of [1, 2]) {
  Deno.test({
    ...needs("htpasswd", "curl"),
    name: `the real process (workers: ${workers}): a user logs in where they did before while ` +
      "36 addresses guess their name",
    async fn() {
      const recorder = startRecorder();
      const users = { alice: "throttle-Known-Alice", bob: "throttle-Known-Bob" };
      // Blocks of 30 s, so a loaded machine cannot outlast one while curl runs 36 times.
      const gate = await startGate(users, [{ path: "/p/", upstream: `${recorder.url}/` }], {
        auth: { htpasswdFile: ".htpasswd", throttle: { baseDelaySeconds: 30 } },
        workers,
      });
      const url = `${gate.url}/p/x`;
      const aliceOk = secretBasic("alice", users.alice);
      try {
        assertEquals((await curlFrom("127.0.0.1", url, aliceOk)).status, 200, "alice's address");
        // The operator re-creates the file: alice's login is no longer cached and needs a hash.
        await rehashUsers(gate, users);
        const attack: number[] = [];
        for (let i = 0; i < 36; i++) { // 16 addresses, then 20 rotating ones
          const guess = secretBasic("alice", `kg-${i}`);
          attack.push((await curlFrom(`127.0.${1 + (i >> 4)}.${i & 15}`, url, guess)).status);
        }
        // With two threads, a guess may reach one a moment before the other's failure does.
        const admitted = attack.filter((s) => s === 401).length;
        assert(admitted >= 10 && admitted <= 10 + workers - 1, `guesses admitted: ${attack}`);
        assertEquals(attack.filter((s) => s === 429).length, 36 - admitted, attack.join());
        const known = await curlFrom("127.0.0.1", url, aliceOk);
        assertEquals(known.status, 200, "alice where she logged in before");
        assertEquals(
          (await curlFrom("127.0.9.1", url, secretBasic("bob", users.bob))).status,
          200,
          "bob is not affected",
        );
        assertEquals(
          (await curlFrom("127.0.9.2", url, secretBasic("alice", "kg-late"))).status,
          429,
          "a guess at alice from a new address still waits",
        );
        assertMatch(gate.stderr(), /login throttled: user "alice" waits 30 s after 1\d failed/);
      } finally {
        await gate.close();
        await recorder.close();
      }
    },
  });
}
