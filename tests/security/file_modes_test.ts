/**
 * Issue 12 item 11: promgate warns when other users can change the files it trusts (a
 * world-writable config, htpasswd file or certificate) or read its private key — at start-up,
 * in `--check`, and on every reload that loads such a file (a chmod alone is noticed). The rules
 * are sshd's and PostgreSQL's (lib/service/file_modes.ts). Real promgate processes, real openssl keys.
 */
import { chmod, chown } from "node:fs/promises";
import { type CheckedFile, fileModeWarnings, modeProblem } from "../../lib/service/file_modes.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_assert.ts";
import {
  makeCert,
  makeHtpasswd,
  needs,
  runPromgate,
  startPromgate,
  startUpstream,
  tempDir,
} from "../_util.ts";

const KEY: CheckedFile = { what: "tls.keyFile", path: "/etc/promgate/key.pem" };
const HTPASSWD: CheckedFile = { what: "auth.htpasswdFile", path: "/etc/promgate/.htpasswd" };
const ROOT = 0;
const USER = 1000;

Deno.test("a private key others can read or write is unsafe; 0600, or 0640 owned by root, is not", () => {
  assertEquals(modeProblem(KEY, 0o100600, USER, USER), null);
  assertEquals(modeProblem(KEY, 0o100400, USER, USER), null);
  assertEquals(modeProblem(KEY, 0o100640, ROOT, 109), null, "Debian's root:ssl-cert 0640");
  assertMatch(
    modeProblem(KEY, 0o100644, ROOT, ROOT)!,
    /^tls\.keyFile: \/etc\/promgate\/key\.pem has mode 0644: every user on this machine can read the private key and pose as this server\. Fix: chmod 600 \/etc\/promgate\/key\.pem/,
  );
  assertMatch(
    modeProblem(KEY, 0o100640, USER, 50)!,
    /mode 0640: every user in group 50 can read the private key .*\(a key its group may read must be owned by root\)/,
  );
  assertMatch(modeProblem(KEY, 0o100660, ROOT, 50)!, /group 50 can read .* or replace the private/);
  assertMatch(modeProblem(KEY, 0o100602, USER, USER)!, /every user .* can replace the private key/);
});

Deno.test("a world-writable config, htpasswd file or certificate is unsafe; world-readable is not", () => {
  assertEquals(modeProblem(HTPASSWD, 0o100644, ROOT, ROOT), null);
  assertEquals(modeProblem(HTPASSWD, 0o100664, USER, USER), null);
  assertEquals(
    modeProblem(HTPASSWD, 0o100666, USER, USER),
    "auth.htpasswdFile: /etc/promgate/.htpasswd has mode 0666: every user on this machine can " +
      "add a user or change a password. Fix: chmod o-w /etc/promgate/.htpasswd",
  );
  assertMatch(
    modeProblem({ what: "config", path: "/c.json" }, 0o100646, ROOT, ROOT)!,
    /^config: \/c\.json has mode 0646: .* can change the routes and who may log in/,
  );
  assertMatch(
    modeProblem({ what: "tls.certFile", path: "/c.pem" }, 0o100777, ROOT, ROOT)!,
    /mode 0777: .* can replace the certificate\. Fix: chmod o-w \/c\.pem/,
  );
  assertEquals(
    modeProblem({ what: "auth.tokensFile", path: "/t" }, 0o100666, USER, USER),
    "auth.tokensFile: /t has mode 0666: every user on this machine can add an API token for " +
      "any user. Fix: chmod o-w /t",
  );
});

Deno.test("the SSO client and cookie secrets are private like a key: others may not read them", () => {
  const cookie: CheckedFile = { what: "auth.oidc.cookieSecretFile", path: "/s/cookie" };
  const client: CheckedFile = { what: "auth.oidc.clientSecretFile", path: "/s/client" };
  assertEquals(modeProblem(cookie, 0o100600, USER, USER), null);
  assertEquals(modeProblem(client, 0o100640, ROOT, 50), null);
  assertMatch(
    modeProblem(cookie, 0o100644, USER, USER)!,
    /^auth\.oidc\.cookieSecretFile: \/s\/cookie has mode 0644: every user on this machine can read the session cookie secret and forge a login as any user\. Fix: chmod 600/,
  );
  assertMatch(
    modeProblem(client, 0o100640, USER, 50)!,
    /every user in group 50 can read the OIDC client secret and pose as promgate to the provider \(a secret its group may read must be owned by root\)/,
  );
});

Deno.test("modes are read from the files (through symbolic links); a missing file is skipped", async () => {
  const dir = await tempDir();
  try {
    const key = `${dir}/key.pem`;
    await Deno.writeTextFile(key, "not a key\n");
    await Deno.symlink(key, `${dir}/link.pem`);
    await chmod(key, 0o600);
    const files: CheckedFile[] = [
      { what: "tls.keyFile", path: `${dir}/link.pem` },
      { what: "auth.htpasswdFile", path: `${dir}/missing` },
    ];
    assertEquals(await fileModeWarnings(files), []);
    await chmod(key, 0o644);
    const [warning, ...rest] = await fileModeWarnings(files);
    assertEquals(rest, []);
    assertStringIncludes(warning, `${dir}/link.pem has mode 0644: every user`);
    if (Deno.uid() === 0) {
      // 0640 is fine for a key root owns, not for one another user owns (PostgreSQL's rule).
      await chmod(key, 0o640);
      assertEquals(await fileModeWarnings(files), []);
      await chown(key, 65534, 65534);
      assertMatch((await fileModeWarnings(files))[0], /group 65534 can read the private key/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A TLS promgate in `dir` with an htpasswd file and one route; its config file's path. */
async function setUp(dir: string, upstreamUrl: string) {
  await makeHtpasswd(`${dir}/.htpasswd`, { admin: "modes-admin-pw" });
  await makeCert(dir);
  const config = {
    listen: { hostname: "127.0.0.1", port: 0 },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    routes: [{ path: "/prometheus/", upstream: `${upstreamUrl}/` }],
    accessLog: false,
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  return config;
}

async function waitForLog(gate: { stderr(): string }, pattern: RegExp, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(gate.stderr())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr:\n${gate.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  ...needs("htpasswd", "openssl"),
  name: "a world-writable htpasswd file and a key others can read are warned about at start-up " +
    "and by --check, which still succeeds",
  async fn() {
    const dir = await tempDir();
    const upstream = startUpstream(() => new Response("ok\n"));
    try {
      const config = await setUp(dir, upstream.url);
      await chmod(`${dir}/.htpasswd`, 0o666);
      await chmod(`${dir}/key.pem`, 0o644);
      await chmod(`${dir}/config.json`, 0o644);

      const check = await runPromgate(["--check", "--config", `${dir}/config.json`]);
      assertEquals(check.code, 0, check.stderr);
      const warnings = check.stdout.split("\n").filter((l) => l.startsWith("warning: "));
      assertEquals(warnings.length, 2, check.stdout);
      assertStringIncludes(warnings[0], `auth.htpasswdFile: ${dir}/.htpasswd has mode 0666`);
      assertStringIncludes(warnings[1], `tls.keyFile: ${dir}/key.pem has mode 0644`);

      const gate = await startPromgate(dir, config);
      try {
        const lines = gate.stderr().split("\n");
        const listening = lines.findIndex((l) => l.includes("listening on"));
        const shown = lines.filter((l) => l.startsWith("promgate: warning: "));
        assertEquals(shown, warnings.map((w) => `promgate: ${w}`));
        assert(lines.indexOf(shown[1]) < listening, "warnings come before 'listening on'");
      } finally {
        assertEquals(await gate.stop(), 0);
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs("htpasswd", "openssl"),
  name: "a reload warns again: a chmod of the key or htpasswd file, and SIGHUP with a " +
    "world-writable config",
  async fn() {
    const dir = await tempDir();
    const upstream = startUpstream(() => new Response("ok\n"));
    try {
      const config = await setUp(dir, upstream.url);
      await chmod(`${dir}/key.pem`, 0o600);
      await chmod(`${dir}/.htpasswd`, 0o644);
      const gate = await startPromgate(dir, config);
      try {
        assert(!gate.stderr().includes("warning:"), gate.stderr());
        await chmod(`${dir}/key.pem`, 0o604);
        await waitForLog(gate, /promgate: warning: tls\.keyFile: \S+key\.pem has mode 0604/);
        await chmod(`${dir}/.htpasswd`, 0o646);
        await waitForLog(gate, /promgate: reload: htpasswd \S+: 1 users/);
        await waitForLog(gate, /promgate: warning: auth\.htpasswdFile: \S+ has mode 0646/);
        await chmod(`${dir}/config.json`, 0o666);
        Deno.kill(gate.pid, "SIGHUP");
        await waitForLog(gate, /promgate: warning: config: \S+config\.json has mode 0666/);
        // The SIGHUP re-read every file, so it warns about all three.
        const after = gate.stderr().slice(gate.stderr().indexOf("SIGHUP"));
        assertMatch(after, /warning: auth\.htpasswdFile: .*\n(.*\n)*.*warning: tls\.keyFile/);
      } finally {
        assertEquals(await gate.stop(), 0);
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
