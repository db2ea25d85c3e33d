/** The command line as an operator meets it: help, version, and exit code 2 with a clear message. */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import {
  curlStatus,
  freePort,
  needs,
  promgateCommand,
  run,
  runPromgate,
  tempDir,
} from "./_util.ts";

Deno.test("--help prints usage and exits 0", async () => {
  const r = await runPromgate(["--help"]);
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, "Usage: promgate [--config FILE]");
});

Deno.test("--version prints the version and runtime", async () => {
  const r = await runPromgate(["--version"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^promgate \d+\.\d+\.\d+ \((deno|bun) [\d.]+/);
});

Deno.test("an unknown option exits 2 and points at --help", async () => {
  const r = await runPromgate(["--confg", "x.json"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "--help");
});

Deno.test("a missing config file exits 2 naming the file", async () => {
  const dir = await tempDir();
  try {
    const r = await runPromgate(["-c", `${dir}/nope.json`]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "nope.json");
    const byDefault = await runPromgate([], dir);
    assertEquals(byDefault.code, 2, "the default is ./config.json");
    assertStringIncludes(byDefault.stderr, "config.json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const BAD_CONFIGS: [string, unknown, string[]][] = [
  ["an unknown key", { routes: [{ path: "/", upstream: "http://localhost:9090/", auht: false }] }, [
    "routes[0]",
    "auht",
  ]],
  ["a bad upstream URL", { routes: [{ path: "/", upstream: "ftp://x", auth: false }] }, [
    "routes[0].upstream",
  ]],
  ["a bad port", {
    listen: { port: 70000 },
    routes: [{ path: "/", upstream: "http://h/", auth: false }],
  }, [
    "listen.port",
  ]],
  ["a missing certificate", {
    tls: { certFile: "missing.crt", keyFile: "missing.key" },
    routes: [{ path: "/", upstream: "http://h/", auth: false }],
  }, ["tls.certFile", "missing.crt"]],
];

for (const [what, config, fragments] of BAD_CONFIGS) {
  Deno.test(`a config with ${what} exits 2 naming the JSON path`, async () => {
    const dir = await tempDir();
    try {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
      const r = await runPromgate(["--config", `${dir}/config.json`]);
      assertEquals(r.code, 2, r.stderr);
      for (const fragment of fragments) assertStringIncludes(r.stderr, fragment);
      assertEquals(r.stderr.includes("    at "), false, "no stack trace");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test(
  "an htpasswd line with DES crypt exits 2 naming the line and -B",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    try {
      await Deno.writeTextFile(`${dir}/.htpasswd`, "# users\nadmin:rqXexS6ZhobKA\n");
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          auth: { htpasswdFile: ".htpasswd" },
          routes: [{ path: "/", upstream: "http://localhost:9090/" }],
        }),
      );
      const r = await runPromgate(["--config", `${dir}/config.json`]);
      assertEquals(r.code, 2, r.stderr);
      assertStringIncludes(r.stderr, ".htpasswd:2");
      assertStringIncludes(r.stderr, "-B");
      assertEquals(r.stderr.includes("rqXexS6ZhobKA"), false, "the hash is not printed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  ...needs("curl"),
  name: "promgate demo serves a protected page with nothing else installed, and says how to log in",
  async fn() {
    const port = freePort();
    const [program, ...args] = promgateCommand();
    const child = new Deno.Command(program, {
      args: [...args, "demo", "--port", String(port)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    let stderr = "";
    const reading = (async () => {
      for await (const chunk of child.stderr) stderr += decoder.decode(chunk);
    })();
    const stdout = new Response(child.stdout).text();
    try {
      const deadline = performance.now() + 20_000;
      let m: RegExpExecArray | null = null;
      while (!(m = /log in as demo \/ (\S+) /.exec(stderr)) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert(m, stderr);
      const url = `https://127.0.0.1:${port}/demo/`;
      assertStringIncludes(stderr, `open ${url}`);
      const page = await run("curl", ["-sk", "-u", `demo:${m[1]}`, url]);
      assertStringIncludes(page.stdout, "You are in.");
      const anonymous = await curlStatus("-k", url);
      assertEquals(anonymous.stdout, "401");
      const wrong = await curlStatus("-k", "-u", "demo:x", url);
      assertEquals(wrong.stdout, "401");
    } finally {
      child.kill("SIGINT");
      assertEquals((await child.status).code, 0, stderr);
      await reading;
      await stdout;
    }
    const dir = /promgate-demo-[A-Za-z0-9]+/.exec(stderr);
    assertEquals(dir, null, "the temporary directory's name is not printed");
  },
});
