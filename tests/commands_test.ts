/**
 * The operator's commands, run as the real process (any runtime: see promgateCommand):
 * `hash-password` checked by Apache's own `htpasswd -v`, and `--check` exiting 0/2 as `nginx -t`.
 */
import { assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { makeCert, makeHtpasswd, needs, run, runPromgate, tempDir } from "./_util.ts";

const PASSWORD = "corr3ct hörse-battery:staple";

for (
  const [algorithm, extra, pattern] of [
    ["bcrypt", ["--cost", "5"], /^\$2y\$05\$/],
    ["apr1", [], /^\$apr1\$/],
    ["sha512", [], /^\$6\$/],
    ["sha512", ["--cost", "2000"], /^\$6\$rounds=2000\$/],
  ] as const
) {
  Deno.test(
    `hash-password --algorithm ${[algorithm, ...extra].join(" ")} makes a line htpasswd -v accepts`,
    needs("htpasswd"),
    async () => {
      const dir = await tempDir();
      try {
        const r = await runPromgate(
          ["hash-password", "--algorithm", algorithm, ...extra, "admin"],
          undefined,
          PASSWORD + "\n",
        );
        assertEquals(r.code, 0, r.stderr);
        const line = r.stdout.trim();
        assertEquals(line.split("\n").length, 1, "one line");
        assertMatch(line.slice("admin:".length), pattern);
        assertEquals(r.stdout.includes(PASSWORD) || r.stderr.includes(PASSWORD), false);
        await Deno.writeTextFile(`${dir}/.htpasswd`, line + "\n");
        const ok = await run("htpasswd", ["-vb", `${dir}/.htpasswd`, "admin", PASSWORD]);
        assertEquals(ok.code, 0, ok.stderr);
        const wrong = await run("htpasswd", ["-vb", `${dir}/.htpasswd`, "admin", PASSWORD + "x"]);
        assertEquals(wrong.code, 3, "htpasswd -v exits 3 for a wrong password");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("hash-password without USER prints the hash alone; CRLF input is one line", async () => {
  const r = await runPromgate(["hash-password", "-a", "apr1"], undefined, "pw\r\nignored\n");
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout.trim(), /^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
});

Deno.test("hash-password refuses an empty password, a bad algorithm and a bad cost", async () => {
  for (
    const [args, fragment] of [
      [["hash-password", "admin"], "empty"],
      [["hash-password", "--algorithm", "md5", "admin"], "bcrypt, apr1, sha512"],
      [["hash-password", "--cost", "40", "admin"], "4 to 17"],
      [["hash-password", "--cost", "x", "admin"], "whole number"],
      [["hash-password", "-a", "apr1", "--cost", "5", "admin"], "no cost"],
      [["hash-password", "ad:min"], "':'"],
    ] as const
  ) {
    const r = await runPromgate([...args], undefined, args[1] === "admin" ? "\n" : "pw\n");
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, fragment);
  }
});

Deno.test(
  "--check accepts a good config with TLS and users and exits 0",
  needs("htpasswd", "openssl"),
  async () => {
    const dir = await tempDir();
    try {
      await makeCert(dir, "ec");
      await makeHtpasswd(`${dir}/.htpasswd`, { admin: "pw", other: "pw2" });
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          listen: { port: 1 }, // never bound: --check does not listen
          tls: { certFile: "cert.pem", keyFile: "key.pem" },
          auth: { htpasswdFile: ".htpasswd" },
          routes: [{ path: "/prometheus/", upstream: "http://localhost:9090/" }],
        }),
      );
      const r = await runPromgate(["--check", "--config", `${dir}/config.json`]);
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(r.stdout, "config.json: ok");
      assertStringIncludes(r.stdout, "2 user(s)");
      assertStringIncludes(r.stdout, "/prometheus/ -> http://localhost:9090/");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("--check exits 2 naming the problem: key mismatch, bad htpasswd, bad upstream", async () => {
  const dir = await tempDir();
  try {
    const cases: [string, unknown, string][] = [
      ["mismatch", {
        tls: { certFile: "ec.crt", keyFile: "ec_other.key" },
        routes: [{ path: "/", upstream: "http://h/", auth: false }],
      }, "does not belong to the certificate"],
      ["htpasswd", {
        auth: { htpasswdFile: "des.htpasswd" },
        routes: [{ path: "/", upstream: "http://h/" }],
      }, "des.htpasswd:"],
      ["upstream", { routes: [{ path: "/", upstream: "ftp://h/", auth: false }] }, "upstream"],
    ];
    const testdata = new URL("./testdata/", import.meta.url).pathname;
    await Deno.copyFile(`${testdata}config/ec.crt`, `${dir}/ec.crt`);
    await Deno.copyFile(`${testdata}config/ec_other.key`, `${dir}/ec_other.key`);
    await Deno.copyFile(`${testdata}htpasswd/des.htpasswd`, `${dir}/des.htpasswd`);
    for (const [name, config, fragment] of cases) {
      await Deno.writeTextFile(`${dir}/${name}.json`, JSON.stringify(config));
      const r = await runPromgate(["--check", "-c", `${dir}/${name}.json`]);
      assertEquals(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assertStringIncludes(r.stderr, fragment);
      assertEquals(r.stdout, "", `${name}: nothing on stdout`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
