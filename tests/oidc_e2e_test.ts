/**
 * Single sign-on end to end: the real promgate process (Deno, Bun or the binary, by
 * PROMGATE_CMD) over TLS in front of the real Debian `prometheus`, with a real OpenID provider
 * (oidc-provider and its development login form, tests/_oidc_login_provider.ts) as auth.oidc's
 * issuer, and headless Chromium as the browser: it logs in at the provider, lands on the page it
 * asked for and runs a query. Then what must not work: a user without @ops on the admin API, a
 * forged or tampered session cookie, a session too large for a cookie, an API client (it gets 401, never a redirect), open
 * redirects after login, the session cookie reaching an upstream, a session after logout.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchTrusting } from "./_chromium.ts";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { LOGIN_CLIENT_SECRET, startLoginIdp } from "./_oidc_login_provider.ts";
import { startPrometheus } from "./_prometheus.ts";
import { reservePort, waitForQuery, workDir } from "./_stack.ts";
import { startTestUpstream } from "./_upstream.ts";
import { basic, makeCert, makeHtpasswd, needs, type Promgate, startPromgate } from "./_util.ts";

/** crowd's groups do not fit in a cookie: its login must fail clearly, not half-work. */
const CROWD = Array.from({ length: 300 }, (_, i) => `team-with-a-long-name-${i}`);
const USERS = { alice: ["ops"], bob: ["viewers"], crowd: CROWD };
const COOKIE_SECRET = "sso-e2e-cookie-secret-0123456789abcdef0123456789";

/** Logs `user` in at the provider's development form (any password), as a person would. */
async function logIn(page: Page, issuer: string, user: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(issuer));
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill("any password");
  await page.locator('button[type="submit"]').click();
}

/** A context whose session cookie for `base` has one byte changed, or is made up. */
async function withSession(browser: Browser, base: string, value: string) {
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  await context.addCookies([{ name: "promgate_session", value, url: base }]);
  return context;
}

/** The status of a POST the page itself sends (same origin, its cookies). */
function postStatus(page: Page, url: string): Promise<number> {
  return page.evaluate(async (u) => (await fetch(u, { method: "POST" })).status, url);
}

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies()).find((c) => c.name === "promgate_session");
}

Deno.test(
  "single sign-on: Chromium logs in at a real OpenID provider and queries Prometheus",
  needs("chromium", "prometheus", "htpasswd", "openssl"),
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const idp = await startLoginIdp(base, USERS);
    const prometheus = await startPrometheus(w.dir, `${base}/prometheus`, {
      extraArgs: ["--web.enable-admin-api"],
    });
    const echo = startTestUpstream();
    let gate: Promgate | null = null;
    let browser: Browser | null = null;
    try {
      await makeHtpasswd(`${w.dir}/.htpasswd`, { admin: "secret" });
      const { certFile } = await makeCert(w.dir, "ec");
      await Deno.writeTextFile(`${w.dir}/client-secret`, LOGIN_CLIENT_SECRET + "\n");
      await Deno.writeTextFile(`${w.dir}/cookie-secret`, COOKIE_SECRET);
      gate = await startPromgate(w.dir, {
        listen: { hostname: "127.0.0.1", port },
        tls: { certFile: "cert.pem", keyFile: "key.pem" },
        auth: {
          htpasswdFile: ".htpasswd",
          oidc: {
            issuer: idp.issuer,
            clientId: "promgate",
            clientSecretFile: "client-secret",
            cookieSecretFile: "cookie-secret",
            scopes: ["openid", "profile", "groups"],
            userClaim: "preferred_username",
            groupsClaim: "groups",
          },
          throttle: false,
        },
        groups: { ops: [] },
        routes: [
          {
            path: "/prometheus/",
            upstream: `${prometheus.url}/`,
            readOnly: true,
            admins: ["@ops"],
          },
          { path: "/echo/", upstream: `${echo.url}/echo/` },
        ],
      });
      const g = gate;
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certFile)] });
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(base + path, { headers, client, redirect: "manual" });
      try {
        // API clients: 401 as before, never a redirect; basic auth still works beside SSO.
        for (const headers of [{}, { accept: "application/json" }] as Record<string, string>[]) {
          const r = await get("/prometheus/api/v1/query?query=up", headers);
          await r.body?.cancel();
          assertEquals([r.status, r.headers.get("location")], [401, null]);
        }
        const wrong = await get("/prometheus/graph", {
          accept: "text/html",
          authorization: basic("admin", "wrong"),
        });
        await wrong.body?.cancel();
        assertEquals(wrong.status, 401, "a browser with a wrong password is not redirected");
        const html = await get("/prometheus/graph", { accept: "text/html,*/*" });
        await html.body?.cancel();
        assertEquals(html.status, 302);
        assert(html.headers.get("location")!.startsWith(idp.issuer + "/auth?"));
        const forged = await get("/prometheus/graph", {
          accept: "text/html",
          cookie: "promgate_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        });
        await forged.body?.cancel();
        assertEquals(forged.status, 302, "a forged cookie gets the login redirect");
        const callback = await get("/-/promgate/oidc/callback?code=x&state=y");
        await callback.body?.cancel();
        assertEquals(callback.status, 400, "a callback without the state cookie is refused");
        await waitForQuery(
          "up",
          (p) =>
            fetch(`${base}/prometheus${p}`, {
              headers: { authorization: basic("admin", "secret") },
              client,
            }),
          (r) => r.length > 0,
        );

        browser = await launchTrusting(certFile);
        const alice = await browser.newContext();
        alice.setDefaultTimeout(15_000);
        const page = await alice.newPage();
        await page.goto(`${base}/prometheus/graph`);
        await logIn(page, idp.issuer, "alice");
        await page.waitForURL((url) => url.href.startsWith(`${base}/prometheus/`));
        assertEquals(new URL(page.url()).pathname, "/prometheus/classic/graph");
        const cookie = await sessionCookie(alice);
        assert(cookie, "a session cookie was set");
        assertEquals([cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path], [
          true,
          true,
          "Lax",
          "/",
        ]);
        await page.locator("textarea.expression_input").first().fill("up");
        await page.locator("input.execute_btn").first().click();
        const row = page.locator(".console_table tbody tr", { hasText: "up{" }).first();
        await row.waitFor();
        assertEquals((await row.locator("td").allTextContents())[1], "1");
        await g.waitForStdout(/ - alice \[[^\]]+\] "GET \/prometheus\/api\/v1\/query\?/);

        // alice is in @ops (from the provider's groups claim): the admin API is hers.
        const admin = "/prometheus/api/v1/admin/tsdb/clean_tombstones";
        assertEquals(await postStatus(page, base + admin), 204);
        // The session cookie stays at promgate; the upstream gets the other cookies.
        await alice.addCookies([{ name: "theme", value: "dark", url: base }]);
        const echoed = await page.evaluate(
          async (u) => await (await fetch(u)).json(),
          `${base}/echo/x`,
        );
        assertStringIncludes(echoed.headers.cookie, "theme=dark");
        assert(!echoed.headers.cookie.includes("promgate_session"), echoed.headers.cookie);

        // Open redirects after login land on / of this host (the provider session logs in).
        for (const rd of ["//evil.example/", "https://evil.example/", "/\\evil.example/"]) {
          const p = await alice.newPage();
          await p.goto(`${base}/-/promgate/oidc/login?rd=${encodeURIComponent(rd)}`);
          await p.waitForURL((url) => url.href.startsWith(base));
          assertEquals(new URL(p.url()).origin, base, `rd=${rd}`);
          assertEquals(new URL(p.url()).pathname, "/", `rd=${rd}`);
          await p.close();
        }

        // bob is not in @ops: promgate refuses the admin API before Prometheus sees it.
        const bob = await browser.newContext();
        bob.setDefaultTimeout(15_000);
        const bobPage = await bob.newPage();
        await bobPage.goto(`${base}/prometheus/graph`);
        await logIn(bobPage, idp.issuer, "bob");
        await bobPage.waitForURL((url) => url.href.startsWith(`${base}/prometheus/`));
        assertEquals(await postStatus(bobPage, base + admin), 403);
        assertStringIncludes(g.stderr(), "refused POST /prometheus/api/v1/admin");

        // A session too large for a cookie: 500 and a log line saying why, and no cookie.
        const crowd = await browser.newContext();
        crowd.setDefaultTimeout(15_000);
        const crowdPage = await crowd.newPage();
        await crowdPage.goto(`${base}/prometheus/graph`);
        await logIn(crowdPage, idp.issuer, "crowd");
        await crowdPage.waitForURL((url) => url.pathname === "/-/promgate/oidc/callback");
        assertStringIncludes(await crowdPage.locator("body").innerText(), "500 Internal Server");
        assertEquals(await sessionCookie(crowd), undefined);
        assertStringIncludes(g.stderr(), "the session of crowd (300 groups) would exceed");
        await crowd.close();

        // A cookie with one character changed, or one made up, gets the login redirect.
        const value = cookie.value;
        const flipped = value.slice(0, 20) + (value[20] === "A" ? "B" : "A") + value.slice(21);
        for (const v of [flipped, "bm90LWEtY29va2ll"]) {
          const context = await withSession(browser, base, v);
          const p = await context.newPage();
          await p.goto(`${base}/prometheus/graph`);
          await p.waitForURL((url) => url.href.startsWith(idp.issuer));
          await context.close();
        }

        // Logout ends the session: the cookie is gone and the page asks for a login again.
        // The provider then asks whether to end its own session too.
        await page.goto(`${base}/-/promgate/oidc/logout`);
        await page.waitForURL((url) => url.href.startsWith(idp.issuer));
        assertEquals(await sessionCookie(alice), undefined);
        await page.locator('button[name="logout"][value="yes"]').click();
        await page.waitForLoadState();
        await page.goto(`${base}/prometheus/graph`);
        await page.waitForURL((url) => url.href.startsWith(idp.issuer));
        await page.locator('input[name="login"]').waitFor();
        // The old cookie, replayed after logout, is still valid until it expires: logout ends
        // the browser's session; it is not a revocation list. Nothing logged a cookie value.
        for (const secret of [value, LOGIN_CLIENT_SECRET, COOKIE_SECRET]) {
          assert(!g.stderr().includes(secret) && !g.stdout().includes(secret));
        }
      } finally {
        client.close();
      }
    } finally {
      await browser?.close();
      if (gate) assertEquals(await gate.stop(), 0, gate.stderr());
      await echo.close();
      await prometheus.stop();
      await idp.close();
      await w.remove();
    }
  },
);
