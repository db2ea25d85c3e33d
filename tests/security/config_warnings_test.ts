/**
 * Issue 12 items 1 and 11: what `--check` warns about a config that loads — routes whose
 * restrictions another route walks around (lib/http/policy.ts policyWarnings) and unsafe file modes —
 * start-up prints too, before it listens, and so does every SIGHUP that loads such a config.
 * Real promgate processes.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_assert.ts";
import { configWith } from "../_config.ts";
import { ssoWarnings } from "../../lib/service/warnings.ts";
import {
  makeHtpasswd,
  needs,
  runPromgate,
  startPromgate,
  startUpstream,
  tempDir,
} from "../_util.ts";

const BYPASS =
  /warning: routes "\/prometheus\/" and "\/raw\/" reach the same upstream .*"readOnly"/;

Deno.test({
  ...needs("htpasswd"),
  name: "a readOnly route another route walks around is warned about by --check, at start-up " +
    "and on the SIGHUP that adds it",
  async fn() {
    const dir = await tempDir();
    const upstream = startUpstream(() => new Response("ok\n"));
    try {
      await makeHtpasswd(`${dir}/.htpasswd`, { admin: "warnings-admin-pw" });
      const readOnly = { path: "/prometheus/", upstream: `${upstream.url}/`, readOnly: true };
      const raw = { path: "/raw/", upstream: `${upstream.url}/` };
      const config = (routes: unknown[]) => ({
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: { htpasswdFile: ".htpasswd" },
        routes,
        accessLog: false,
      });
      const gate = await startPromgate(dir, config([readOnly]));
      try {
        assert(!gate.stderr().includes("warning:"), gate.stderr());
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config([readOnly, raw])));
        Deno.kill(gate.pid, "SIGHUP");
        const deadline = Date.now() + 10_000;
        while (!BYPASS.test(gate.stderr()) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assertMatch(gate.stderr(), new RegExp(`promgate: ${BYPASS.source}`));
      } finally {
        assertEquals(await gate.stop(), 0);
      }

      const check = await runPromgate(["--check", "--config", `${dir}/config.json`]);
      assertEquals(check.code, 0, check.stderr);
      assertMatch(check.stdout, new RegExp(`^${BYPASS.source}`, "m"));

      const again = await startPromgate(dir, config([readOnly, raw]));
      try {
        const lines = again.stderr().split("\n");
        const warned = lines.findIndex((l) => BYPASS.test(l));
        assert(warned >= 0, again.stderr());
        assert(lines[warned].startsWith("promgate: warning: "), lines[warned]);
        assert(warned < lines.findIndex((l) => l.includes("listening on")), again.stderr());
      } finally {
        assertEquals(await again.stop(), 0);
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("single sign-on over plain HTTP is warned about: its session cookies would not be Secure", () => {
  const oidc = (externalOrigin: string | null) => ({
    issuer: "https://idp.example.com",
    clientId: "promgate",
    clientSecret: "x",
    clientSecretFile: "/s/client",
    cookieSecretFile: "/s/cookie",
    cookieSecret: new Uint8Array(32),
    scopes: ["openid"],
    sessionHours: 8,
    userClaim: "sub",
    groupsClaim: null,
    externalOrigin,
    loginPath: "/-/promgate/oidc/login",
    callbackPath: "/-/promgate/oidc/callback",
    logoutPath: "/-/promgate/oidc/logout",
  });
  const plainHttp = configWith([], {
    auth: { realm: "Prometheus", htpasswdFile: "/h", throttle: null, oidc: oidc(null) },
  });
  assertEquals(ssoWarnings(plainHttp).length, 1);
  assertStringIncludes(ssoWarnings(plainHttp)[0], "auth.oidc: promgate serves plain HTTP");
  const behindTls = configWith([], {
    auth: {
      realm: "Prometheus",
      htpasswdFile: "/h",
      throttle: null,
      oidc: oidc("https://prom.example.com"),
    },
  });
  assertEquals(ssoWarnings(behindTls), []);
});
