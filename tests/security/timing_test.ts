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
import { basic, makeHtpasswd, needs, run } from "../_util.ts";
import { Authenticator } from "../../lib/auth/basic.ts";
import { parseHtpasswd } from "../../lib/auth/htpasswd.ts";
import { createVerifier, type PasswordHash } from "../../lib/auth/password/verifier.ts";
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

/**
 * An htpasswd mixing a slow and a fast hash, made by Apache's htpasswd:
 * `htpasswd -nbB -C 10 slow PASSWORD` (bcrypt, ~65 ms per check in JS) and
 * `htpasswd -nbs fast PASSWORD` ({SHA}, microseconds).
 */
async function mixedHtpasswd(): Promise<string> {
  const lines: string[] = [];
  for (const args of [["-nbB", "-C", "10", "slow"], ["-nbs", "fast"]]) {
    const r = await run("htpasswd", [...args, PASSWORD]);
    if (r.code !== 0) throw new Error(`htpasswd ${args.join(" ")} failed: ${r.stderr}`);
    lines.push(r.stdout.trim());
  }
  return lines.join("\n") + "\n";
}

Deno.test({
  ...needs("htpasswd"),
  name: "an unknown name is always checked against the same one of the file's hashes",
  async fn() {
    const text = await mixedHtpasswd();
    // Which of the file's hashes (by line number, so no hash is printed) each check used.
    const lines = text.split("\n").map((line) => line.slice(line.indexOf(":") + 1));
    const used: string[] = [];
    const spy = {
      verify: (_password: string, hash: PasswordHash) => {
        used.push(`line ${lines.indexOf(hash.encoded) + 1}`);
        return Promise.resolve(false);
      },
      close: () => {},
    };
    const secretKey = "a".repeat(64);
    const auth = new Authenticator(parseHtpasswd(text, "mixed.htpasswd"), spy, 10, secretKey);
    const decoyOf = async (a: Authenticator, name: string) => {
      used.length = 0;
      await a.check(basic(name, `pw-${Math.random()}`));
      return used[0];
    };
    const names = Array.from({ length: 40 }, (_, i) => `nobody-${i}`);
    const first = new Map<string, string>();
    for (const name of names) first.set(name, await decoyOf(auth, name));
    for (let round = 0; round < 5; round++) {
      for (const name of names) assertEquals(await decoyOf(auth, name), first.get(name), name);
    }
    assertEquals(new Set(first.values()).size, 2, "different names spread over the hashes");
    // A reload of the unchanged file, and another server thread (same secret): the same hash.
    auth.setUsers(parseHtpasswd(text, "mixed.htpasswd"));
    const thread = new Authenticator(parseHtpasswd(text, "mixed.htpasswd"), spy, 10, secretKey);
    for (const name of names) {
      assertEquals(await decoyOf(auth, name), first.get(name), `${name} after a reload`);
      assertEquals(await decoyOf(thread, name), first.get(name), `${name} on another thread`);
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "with bcrypt and {SHA} users, an unknown name answers at one speed, like a real user",
  async fn() {
    const verifier = createVerifier();
    const auth = new Authenticator(
      parseHtpasswd(await mixedHtpasswd(), "mixed.htpasswd"),
      verifier,
    );
    try {
      for (let i = 0; i < 3; i++) { // warm up the worker and the JIT
        await auth.check(basic("slow", `w${i}`));
        await auth.check(basic("fast", `w${i}`));
      }
      const tries = 60;
      const series: Record<"unknown" | "slow" | "fast", number[]> = {
        unknown: [],
        slow: [],
        fast: [],
      };
      for (let i = 0; i < tries; i++) {
        // Fresh passwords each time (nothing shared or cached), interleaved so load hits all alike.
        const kinds: [number[], string][] = [
          [series.unknown, basic("nobody-at-all", `guess-${i}-u`)],
          [series.slow, basic("slow", `guess-${i}-s`)],
          [series.fast, basic("fast", `guess-${i}-f`)],
        ];
        for (let k = 0; k < i % 3; k++) kinds.push(kinds.shift()!);
        for (const [samples, header] of kinds) {
          samples.push(await timed(() => auth.check(header)));
        }
      }
      // "Fast" is under half the bcrypt user's 10th percentile: a load stall that long is rare,
      // and bcrypt's own work cannot get shorter than that under any load.
      const threshold = percentile(series.slow, 10) / 2;
      const fast = (xs: number[]) => xs.filter((x) => x < threshold).length / xs.length;
      const [fu, fs, ff] = [fast(series.unknown), fast(series.slow), fast(series.fast)];
      const show = (name: string, xs: number[]) =>
        `  ${name}: median ${median(xs).toFixed(2)} ms, ${(100 * fast(xs)).toFixed(0)}% under ` +
        `${threshold.toFixed(1)} ms`;
      console.log(
        `timing, ${tries} tries each, bcrypt cost 10 and {SHA} users:\n` +
          [show("unknown name    ", series.unknown), show("bcrypt user     ", series.slow)]
            .join("\n") +
          "\n" + show("{SHA} user      ", series.fast),
      );
      assert(fs <= 0.05 && ff >= 0.8, `the real users are not two speed classes: ${fs} ${ff}`);
      // Like one of the real users: within 20 points of its fraction of fast answers. A random
      // decoy among two hashes gives about 50%.
      const nearest = Math.min(Math.abs(fu - fs), Math.abs(fu - ff));
      assert(nearest <= 0.2, `the unknown name is ${(100 * fu).toFixed(0)}% fast, like no user`);
    } finally {
      verifier.close();
    }
  },
});
