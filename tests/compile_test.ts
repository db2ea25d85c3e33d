/**
 * What a built promgate (deno task compile, or any PROMGATE_CMD) must keep: the commit in
 * --version, and the password worker (an extra entry point of the bundle) for every slow scheme.
 */
import { assertEquals, assertMatch } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import {
  basic,
  freePort,
  makeHtpasswd,
  needs,
  REPO,
  run,
  runPromgate,
  startPromgate,
  tempDir,
} from "./_util.ts";

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

/** The single-file binary, when that is what the suite runs (deno task test:binary). */
const BINARY = (Deno.env.get("PROMGATE_CMD") ?? "").split(" ")[0].endsWith("dist/promgate");

Deno.test({
  // The container runs the binary as uid 65532 with read-only files; as root, setpriv can too.
  ignore: !BINARY || Deno.uid() !== 0,
  name: "the binary serves as the container's non-root user 65532 from read-only files",
  async fn() {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    try {
      await makeHtpasswd(`${dir}/.htpasswd`, { admin: "nonroot-pw" });
      const port = freePort();
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          listen: { hostname: "127.0.0.1", port },
          tls: { selfSigned: true },
          auth: { htpasswdFile: ".htpasswd" },
          routes: [{ path: "/", upstream: `${upstream.url}/echo/` }],
        }),
      );
      await Deno.chmod(dir, 0o755);
      for (const f of ["config.json", ".htpasswd"]) await Deno.chmod(`${dir}/${f}`, 0o444);
      const binary = `${REPO}dist/promgate`;
      const child = new Deno.Command("setpriv", {
        args: [
          "--reuid=65532",
          "--regid=65532",
          "--clear-groups",
          binary,
          "--config",
          `${dir}/config.json`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        // Wait until it serves (curl -k: the generated certificate is not in any trust store).
        for (let i = 0; i < 100; i++) {
          const probe = await run("curl", ["-sk", "-o", "/dev/null", `https://127.0.0.1:${port}/`]);
          if (probe.code === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const out = await run("curl", [
          "-sk",
          "-u",
          "admin:nonroot-pw",
          `https://127.0.0.1:${port}/x`,
        ]);
        assertEquals(JSON.parse(out.stdout).path, "/echo/x", out.stderr);
        const ps = await run("ps", ["-o", "uid=", "-p", String(child.pid)]);
        assertEquals(ps.stdout.trim(), "65532");
      } finally {
        child.kill("SIGTERM");
        const result = await child.output();
        assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
