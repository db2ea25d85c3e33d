/**
 * Under Bun, bcrypt goes to Bun.password.verify through the runtime seam (Runtime.verifyBcrypt):
 * it must agree with htpasswd's bcrypt on long (> 72 bytes) and non-ASCII passwords and answer
 * false for a malformed hash. Runs the checks in a real Bun (deno task tools:bun installs it).
 */
import { assertEquals } from "./_assert.ts";
import { IN_CI, REPO, run } from "./_util.ts";

const BUN = `${REPO}.tools/node_modules/.bin/bun`;
const hasBun = (() => {
  try {
    Deno.statSync(BUN);
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "Bun.password.verify via createVerifier agrees with htpasswd -B",
  ignore: !hasBun || !hasHtpasswd(),
  async fn() {
    const long = "ü".repeat(40) + "tail"; // 84 UTF-8 bytes: only the first 72 count
    const cases: [string, string][] = [["pässwörd", "pässwörd"], [long, long]];
    const hashes: string[] = [];
    for (const [password] of cases) {
      const r = await run("htpasswd", ["-nbB", "-C", "5", "u", password]);
      hashes.push(r.stdout.trim().slice(2));
    }
    const script = `
      import { createVerifier, parseHash } from "./lib/password/mod.ts";
      import { bunRuntime } from "./lib/runtime/bun.ts";
      const used = [];
      const verifier = createVerifier({
        verifyBcrypt: (p, h) => { used.push(1); return bunRuntime.verifyBcrypt(p, h); },
      });
      const [h1, h2] = ${JSON.stringify(hashes)};
      const long = ${JSON.stringify(long)};
      const out = [
        await verifier.verify("pässwörd", parseHash(h1)),
        await verifier.verify("passwörd", parseHash(h1)),
        await verifier.verify(long, parseHash(h2)),
        await verifier.verify(long.slice(0, 35) + "xx" + "tail", parseHash(h2)),
        await verifier.verify(long.slice(0, 36) + "x", parseHash(h2)),
        await bunRuntime.verifyBcrypt("x", "$2y$05$garbage"),
      ];
      verifier.close();
      console.log(JSON.stringify({ out, native: used.length }));
    `;
    const r = await run(BUN, ["-e", script], { cwd: REPO });
    assertEquals(r.code, 0, r.stderr);
    // 35 "ü" + "xx" differs in bytes 71-72 (a mismatch); 36 "ü" + "x" only in byte 73 (ignored,
    // where Bun alone would pre-hash the whole 73 bytes and answer false).
    assertEquals(JSON.parse(r.stdout), {
      out: [true, false, true, false, true, false],
      native: 5,
    });
  },
});

function hasHtpasswd(): boolean {
  const ok = new Deno.Command("sh", { args: ["-c", "command -v htpasswd"], stdout: "null" })
    .outputSync().success;
  if (!ok && IN_CI) throw new Error("CI is set but htpasswd is missing");
  return ok;
}
