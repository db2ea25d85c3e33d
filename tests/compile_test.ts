/**
 * What a built promgate (deno task compile, or any PROMGATE_CMD) must keep: the commit in
 * --version, and the password worker (an extra entry point of the bundle) for every slow scheme.
 */
import { assertEquals, assertMatch } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import { basic, makeHtpasswd, needs, runPromgate, startPromgate, tempDir } from "./_util.ts";

Deno.test("--version names the version, the runtime and the commit", async () => {
  const r = await runPromgate(["--version"]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(
    r.stdout.trim(),
    /^promgate \d+\.\d+\.\d+ \((deno|bun) [\d.]+, commit ([0-9a-f]{7,40}|dev|unknown)\)$/,
  );
});

Deno.test(
  "logs in users with bcrypt, apr1, SHA-256 and SHA-512 hashes (worker and native bcrypt)",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    try {
      const lines: string[] = [];
      for (const [user, flag] of [["b", "-B"], ["m", "-m"], ["s2", "-2"], ["s5", "-5"]]) {
        await makeHtpasswd(`${dir}/${user}`, { [user]: `pw-${user}-ä` }, flag);
        lines.push((await Deno.readTextFile(`${dir}/${user}`)).trim());
      }
      await Deno.writeTextFile(`${dir}/.htpasswd`, lines.join("\n") + "\n");
      const gate = await startPromgate(dir, {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: { htpasswdFile: ".htpasswd" },
        routes: [{ path: "/", upstream: `${upstream.url}/echo/` }],
        accessLog: false,
      });
      try {
        for (const user of ["b", "m", "s2", "s5"]) {
          for (const [password, status] of [[`pw-${user}-ä`, 200], ["wrong", 401]] as const) {
            const r = await fetch(`${gate.url}/x`, {
              headers: { authorization: basic(user, password) },
            });
            await r.body?.cancel();
            assertEquals(r.status, status, `${user} with ${password}: ${gate.stderr()}`);
          }
        }
      } finally {
        assertEquals(await gate.stop(), 0);
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
