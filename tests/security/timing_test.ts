/**
 * Issue 6 item 3: an unknown user costs what a known user with a wrong password costs (so
 * response times do not reveal which user names exist), a cached login is cheap, and the cache
 * can never be used to log in with anything but the password itself (CVE-2022-46146 class:
 * the exporter-toolkit cache let a client that knew the bcrypt hash log in with the hash).
 *
 * Timing is measured on the real Authenticator with the real off-thread bcrypt verifier and
 * users made by Apache's htpasswd (bcrypt cost 5), samples interleaved so machine load hits
 * every kind alike. The check: the two medians within 25% of each other, and the cached median
 * under a quarter of either.
 */
import { assert, assertEquals } from "../_assert.ts";
import { basic, makeHtpasswd, needs } from "../_util.ts";
import { Authenticator } from "../../lib/auth.ts";
import { parseHtpasswd } from "../../lib/htpasswd.ts";
import { createVerifier } from "../../lib/password/mod.ts";
import {
  median,
  percentile,
  secret,
  secretBasic,
  startGate,
  startRecorder,
  tempDir,
} from "./_helpers.ts";

const SAMPLES = 150;
const PASSWORD = secret("timing-Secr3t-pw");

async function htpasswdText(users: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  try {
    await makeHtpasswd(`${dir}/.htpasswd`, users);
    return await Deno.readTextFile(`${dir}/.htpasswd`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

Deno.test({
  ...needs("htpasswd"),
  name: "an unknown user costs what a wrong password costs; a cached login costs little",
  async fn() {
    const text = await htpasswdText({ admin: PASSWORD, viewer: secret("timing-Viewer-pw") });
    const verifier = createVerifier();
    const auth = new Authenticator(parseHtpasswd(text, "timing.htpasswd"), verifier);
    try {
      const valid = secretBasic("admin", PASSWORD);
      assertEquals((await auth.check(valid)).ok, true);
      for (let i = 0; i < 10; i++) { // warm up the worker and the JIT
        await auth.check(basic(`warm${i}`, `w${i}`));
        await auth.check(basic("admin", `w${i}`));
      }
      const unknown: number[] = [];
      const wrong: number[] = [];
      const cached: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        // Fresh names and passwords each time, so no in-flight sharing or caching helps.
        const kinds: [number[], string][] = [
          [unknown, basic(`nobody-${i}`, `guess-${i}-x`)],
          [wrong, basic("admin", `guess-${i}-x`)],
          [cached, valid],
        ];
        if (i % 2) kinds.reverse();
        for (const [samples, header] of kinds) {
          let result;
          samples.push(await timed(async () => result = await auth.check(header)));
          assertEquals(result!.ok, header === valid);
        }
      }
      const [mu, mw, mc] = [median(unknown), median(wrong), median(cached)];
      const spread = (xs: number[]) =>
        `median ${median(xs).toFixed(3)} ms (p25 ${percentile(xs, 25).toFixed(3)}, p75 ${
          percentile(xs, 75).toFixed(3)
        })`;
      console.log(
        `timing, ${SAMPLES} samples each, bcrypt cost 5:\n` +
          `  unknown user:        ${spread(unknown)}\n` +
          `  known, wrong pw:     ${spread(wrong)}\n` +
          `  cached valid login:  ${spread(cached)}\n` +
          `  unknown/wrong ratio: ${(mu / mw).toFixed(3)}`,
      );
      assert(
        Math.abs(mu - mw) <= 0.25 * Math.max(mu, mw),
        `medians ${mu} vs ${mw} differ by > 25%`,
      );
      assert(mc < 0.25 * Math.min(mu, mw), `cached ${mc} ms is not much cheaper than ${mu}/${mw}`);
    } finally {
      verifier.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "the credential cache admits only the password itself, never the hash (CVE-2022-46146)",
  async fn() {
    const text = await htpasswdText({ admin: PASSWORD, ab: secret("timing-Ab-pw") });
    const users = parseHtpasswd(text, "cve.htpasswd");
    const hash = secret(users.get("admin")!.encoded);
    const verifier = createVerifier();
    const auth = new Authenticator(users, verifier);
    try {
      // The hash as the password: refused before and after the real password was cached.
      assertEquals((await auth.check(basic("admin", hash))).ok, false, "hash before caching");
      assertEquals(await auth.check(basic("admin", PASSWORD)), {
        ok: true,
        user: "admin",
        cached: false,
      });
      assertEquals(await auth.check(basic("admin", PASSWORD)), {
        ok: true,
        user: "admin",
        cached: true,
      });
      assertEquals((await auth.check(basic("admin", hash))).ok, false, "hash after caching");
      // Near misses of the cached credential, and splits of "user:password" at other places.
      const nearMisses: [string, string][] = [
        ["admin", PASSWORD + " "],
        ["admin", PASSWORD.slice(0, -1)],
        ["admin", PASSWORD + "\u0000"],
        ["admin", PASSWORD.toUpperCase()],
        ["admin", ""],
        ["Admin", PASSWORD],
        ["admin ", PASSWORD],
        ["admin\u0000", PASSWORD],
        ["admi", "n:" + PASSWORD],
        ["", "admin:" + PASSWORD],
        ["a", "b:" + PASSWORD],
        ["ab", PASSWORD],
        ["admin", "admin:" + PASSWORD],
        ["admin", users.get("ab")!.encoded],
        ["ab", hash],
      ];
      for (const [user, password] of nearMisses) {
        const r = await auth.check(basic(user, password));
        assertEquals(r.ok, false, `near miss #${nearMisses.findIndex((n) => n[1] === password)}`);
      }
      // Replacing the user's hash (htpasswd changed) revokes the cached login at once.
      const changed = parseHtpasswd(await htpasswdText({ admin: secret("timing-New-pw") }), "new");
      auth.setUsers(changed);
      assertEquals((await auth.check(basic("admin", PASSWORD))).ok, false, "revoked by a new hash");
    } finally {
      verifier.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "the real process refuses the bcrypt hash as a password, before and after a valid login",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ admin: PASSWORD }, [{
      path: "/p/",
      upstream: `${recorder.url}/`,
    }]);
    try {
      const text = await Deno.readTextFile(`${gate.dir}/.htpasswd`);
      const hash = text.trim().slice("admin:".length);
      const get = async (header: string) => {
        const r = await fetch(`${gate.url}/p/x`, { headers: { authorization: header } });
        await r.body?.cancel();
        return r.status;
      };
      assertEquals(await get(secretBasic("admin", hash)), 401);
      assertEquals(await get(secretBasic("admin", PASSWORD)), 200);
      assertEquals(await get(secretBasic("admin", PASSWORD)), 200);
      assertEquals(await get(secretBasic("admin", hash)), 401);
      assertEquals(recorder.seen.length, 2);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});
