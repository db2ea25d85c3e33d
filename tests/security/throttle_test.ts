/**
 * Issue 6 item 4: failed logins are throttled per client address and per user name with a
 * doubling block answered by 429 + Retry-After, on by default, logged without the password,
 * and without slowing other clients, other users, or a user whose login is already cached.
 */
import { configWith, routeConfig } from "../_config.ts";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { basic, makeHtpasswd, needs, run } from "../_util.ts";
import type { AccessLog } from "../../lib/access_log.ts";
import { Authenticator } from "../../lib/auth.ts";
import { createHandler } from "../../lib/handler.ts";
import { parseHtpasswd } from "../../lib/htpasswd.ts";
import { createVerifier } from "../../lib/password/mod.ts";
import { denoRuntime } from "../../lib/runtime/deno.ts";
import { clientKey, DEFAULT_THROTTLE, Throttle } from "../../lib/throttle.ts";
import { median, secret, secretBasic, startGate, startRecorder } from "./_helpers.ts";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

Deno.test("a client is blocked after 5 failures, for 1 s, 2 s, 4 s … up to 60 s", () => {
  const c = clock();
  const lines: string[] = [];
  const t = new Throttle({}, (l) => void lines.push(l), c.now);
  for (let i = 1; i <= 4; i++) {
    t.failed("192.0.2.1", `user${i}`);
    assertEquals(t.retryAfter("192.0.2.1", "x"), 0, `after ${i} failures`);
  }
  t.failed("192.0.2.1", "user5");
  assertEquals(t.retryAfter("192.0.2.1", "x"), 1);
  assertEquals(t.retryAfter("192.0.2.2", "x"), 0, "another client is not affected");
  c.advance(1000);
  assertEquals(t.retryAfter("192.0.2.1", "x"), 0, "the block has passed");
  const expected = [2, 4, 8, 16, 32, 60, 60];
  for (const seconds of expected) {
    t.failed("192.0.2.1", "u");
    assertEquals(t.retryAfter("192.0.2.1", "x"), seconds);
    c.advance(seconds * 1000);
  }
  assertEquals(lines.length, 1 + expected.length, "one line per block");
  assertMatch(lines[0], /^login throttled: client 192\.0\.2\.1 waits 1 s after 5 failed logins$/);
  c.advance(DEFAULT_THROTTLE.forgetAfterSeconds * 1000 + 1);
  t.failed("192.0.2.1", "u");
  assertEquals(
    t.retryAfter("192.0.2.1", "x"),
    0,
    "failures are forgotten after forgetAfterSeconds",
  );
});

Deno.test("a user name is blocked after 10 failures from any clients; a login clears it", () => {
  const c = clock();
  const t = new Throttle({}, () => {}, c.now);
  for (let i = 0; i < 9; i++) t.failed(`198.51.100.${i}`, "admin");
  assertEquals(t.retryAfter("203.0.113.9", "admin"), 0);
  t.failed("198.51.100.99", "admin");
  assertEquals(t.retryAfter("203.0.113.9", "admin"), 1, "any client, as admin");
  assertEquals(t.retryAfter("203.0.113.9", "viewer"), 0, "other users are not affected");
  assertEquals(t.retryAfter("203.0.113.9", null), 0);
  t.succeeded("203.0.113.9", "admin");
  assertEquals(t.retryAfter("203.0.113.9", "admin"), 0);
});

Deno.test("IPv6 clients are keyed by /64, IPv4-mapped ones as IPv4; memory is bounded", () => {
  assertEquals(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(clientKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  assertEquals(clientKey("::1"), "0:0:0:0::/64");
  assertEquals(clientKey("::ffff:192.0.2.1"), "192.0.2.1");
  assertEquals(clientKey("192.0.2.1"), "192.0.2.1");
  const c = clock();
  const t = new Throttle({ clientFailures: 1, maxTracked: 100 }, () => {}, c.now);
  t.failed("2001:db8:1:2::1", null);
  assertEquals(t.retryAfter("2001:db8:1:2::ffff", null), 1, "same /64");
  assertEquals(t.retryAfter("2001:db8:1:3::1", null), 0, "another /64");
  for (let i = 0; i < 1000; i++) t.failed(`10.0.${i >> 8}.${i & 255}`, `u${i}`);
  assert(t.tracked.clients <= 100 && t.tracked.users <= 100, JSON.stringify(t.tracked));
  const off = new Throttle({ enabled: false }, () => {}, c.now);
  for (let i = 0; i < 100; i++) off.failed("192.0.2.1", "admin");
  assertEquals(off.retryAfter("192.0.2.1", "admin"), 0, "enabled: false turns it off");
});

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
      throttle: new Throttle({ baseDelaySeconds: 30 }, (l) => void events.push(l)),
    });
    const get = async (addr: string, header: string) => {
      const started = performance.now();
      const r = await handler(
        new Request("http://promgate.test/p/x", { headers: { authorization: header } }),
        { remoteAddr: addr, protocol: "HTTP/1.1" },
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
      // One client guessing: 5 × 401, then 429 with Retry-After and no verification.
      for (let i = 0; i < 5; i++) {
        assertEquals((await get("192.0.2.66", secretBasic("admin", `guess-A-${i}`))).status, 401);
      }
      const before = verifications;
      const blocked = await get("192.0.2.66", secretBasic("viewer", "guess-B-0"));
      assertEquals([blocked.status, blocked.retryAfter], [429, "30"]);
      assertEquals(verifications, before, "a throttled attempt computes no hash");
      assertEquals((await get("192.0.2.66", adminOk)).status, 200, "a cached login passes");
      assertEquals(
        (await get("192.0.2.67", secretBasic("viewer", "throttle-Viewer-pw"))).status,
        200,
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
        events.some((l) => /^login throttled: client 192\.0\.2\.66 waits 30 s/.test(l)),
        events.join("\n"),
      );
      assert(
        events.some((l) =>
          /^login throttled: user "admin" waits 30 s after 10 failed logins$/.test(l)
        ),
      );
    } finally {
      verifier.close();
      await recorder.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd", "curl"),
  name: "the real process throttles by default, logs it, and serves another client meanwhile",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ admin: "throttle-Real-pw", viewer: "throttle-Real-Viewer" }, [
      { path: "/p/", upstream: `${recorder.url}/` },
    ]);
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 7; i++) {
        const r = await fetch(`${gate.url}/p/x`, {
          headers: { authorization: secretBasic("admin", `real-guess-${i}`) },
        });
        await r.body?.cancel();
        statuses.push(r.status);
        retryAfter ??= r.headers.get("retry-after");
      }
      assertEquals(statuses, [401, 401, 401, 401, 401, 429, 429]);
      assertEquals(retryAfter, "1");
      // Another client address (127.0.0.2) logs in while 127.0.0.1 is blocked.
      const other = await run("curl", [
        "-sS",
        "--interface",
        "127.0.0.2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        `Authorization: ${secretBasic("viewer", "throttle-Real-Viewer")}`,
        `${gate.url}/p/x`,
      ]);
      assertEquals(other.stdout, "200", other.stderr);
      await gate.waitForStdout(/ 429 /);
      assertMatch(
        gate.stderr(),
        /promgate: login throttled: client 127\.0\.0\.1 waits 1 s after 5 failed logins/,
      );
      assertMatch(gate.stdout(), /"GET \/p\/x HTTP\/1\.1" 429 /);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});
