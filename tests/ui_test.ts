/**
 * The web UIs behind promgate in a real browser: Debian's Chromium, driven by playwright-core,
 * answers promgate's basic-auth challenge (httpCredentials), uses HTTP/2 where promgate offers it
 * (Deno does; Bun offers HTTP/1.1), and trusts exactly promgate's test key
 * (`--ignore-certificate-errors-spki-list`: any other certificate still fails). Screenshots land in
 * tests/artifacts/ (gitignored).
 */
import type { Browser, Page } from "playwright-core";
import { launchTrusting, loggedInPage as loggedInAs } from "./_chromium.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { startPrometheus } from "./_prometheus.ts";
import {
  type Gate,
  PASSWORD,
  reservePort,
  startAlertmanager,
  startGate,
  USER,
  waitForQuery,
  workDir,
} from "./_stack.ts";
import { needs, REPO } from "./_util.ts";

const ARTIFACTS = `${REPO}tests/artifacts`;
const UI_FIXTURE = `${REPO}tests/testdata/alertmanager-ui`;

/** Chromium's flags: no sandbox (root in CI), and no background traffic to the closed network. */

/**
 * Launches headless Chromium trusting `gate`'s key. Playwright gives it a fresh temporary
 * --user-data-dir and removes it on close.
 */
function launch(gate: Gate): Promise<Browser> {
  return launchTrusting(gate.certFile);
}

/** A page logged in as admin (Chromium answers the 401 challenge), failing on page errors. */
function loggedInPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  return loggedInAs(browser, USER, PASSWORD);
}

async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}/${name}`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The browser's requests in promgate's access log, as "METHOD path STATUS" for admin. */
function adminRequests(gate: Gate): string[] {
  return gate.gate.stdout().split("\n").flatMap((line) => {
    const m = /^\S+ - admin \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d+) /.exec(line);
    return m ? [`${m[1]} ${m[2]} ${m[3]}`] : [];
  });
}

const browserDeps = needs("chromium", "prometheus", "htpasswd", "openssl");
const amDeps = needs("chromium", "prometheus-alertmanager", "htpasswd", "openssl");

Deno.test(
  "Chromium runs the query `up` in Prometheus' UI under /prometheus/ through promgate",
  browserDeps,
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const prometheus = await startPrometheus(w.dir, `${base}/prometheus`);
    let gate: Gate | undefined;
    let browser: Browser | undefined;
    try {
      gate = await startGate(w.dir, port, [
        { path: "/prometheus/", upstream: `${prometheus.url}/` },
      ]);
      const g = gate;
      browser = await launch(gate);

      // With a wrong password the browser's answer to the challenge is refused, so it shows
      // promgate's 401 (with the challenge) and none of the UI.
      const intruder = await browser.newContext({
        httpCredentials: { username: USER, password: "wrong" },
      });
      intruder.setDefaultTimeout(10_000);
      try {
        const wrongPage = await intruder.newPage();
        const denied = await wrongPage.goto(`${base}/prometheus/`);
        assertEquals(denied?.status(), 401);
        assertMatch(
          (await denied?.headerValue("www-authenticate")) ?? "",
          /^Basic realm="Prometheus"/,
        );
        assertEquals(await wrongPage.locator("textarea.expression_input").count(), 0);
      } finally {
        await intruder.close();
      }

      // Prometheus scrapes itself ~5 s after it starts (its scrape manager's first reload), so
      // wait for that sample: then the UI's query has something to show.
      await waitForQuery("up", (p) => g.fetch(`/prometheus${p}`), (r) => r.length > 0);

      const { page, errors } = await loggedInPage(browser);
      const landing = await page.goto(`${base}/prometheus/`);
      assertEquals(landing?.status(), 200);
      // Prometheus' redirect (to its external URL) kept the browser under /prometheus/.
      assertEquals(new URL(page.url()).pathname, "/prometheus/classic/graph");
      assertMatch(await page.title(), /Prometheus/);

      await page.locator("textarea.expression_input").first().fill("up");
      await page.locator("input.execute_btn").first().click();
      const row = page.locator(".console_table tbody tr", { hasText: "up{" }).first();
      await row.waitFor();
      const [series, value] = await row.locator("td").allTextContents();
      assertStringIncludes(series, `instance="${new URL(prometheus.url).host}"`);
      assertStringIncludes(series, `job="self"`);
      assertEquals(value, "1");
      const shot = await screenshot(page, "ui-prometheus-graph.png");
      console.log(`screenshot: ${shot}`);

      // Debian's libjs-popper.js ships popper.min.js as an ES module, which the classic UI loads
      // as a plain script: the same error appears with no proxy in between.
      assertEquals(errors.filter((e) => e !== "page error: Unexpected token 'export'"), []);
      const requests = adminRequests(gate);
      // The UI's own assets and its XHR query went through promgate as admin.
      assert(
        requests.some((r) => /^GET \/prometheus\/classic\/static\/\S+\.js\S* 200$/.test(r)),
        requests.join("\n"),
      );
      assert(
        requests.some((r) => /^GET \/prometheus\/api\/v1\/query\?query=up&\S* 200$/.test(r)),
        requests.join("\n"),
      );
    } finally {
      await browser?.close();
      await gate?.close();
      await prometheus.stop();
      await w.remove();
    }
  },
);

Deno.test(
  "Chromium loads Debian's Alertmanager page under /alertmanager/ and follows its links",
  amDeps,
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    const alertmanager = await startAlertmanager(w.dir, `${base}/alertmanager`);
    let gate: Gate | undefined;
    let browser: Browser | undefined;
    try {
      gate = await startGate(w.dir, port, [
        { path: "/alertmanager/", upstream: `${alertmanager.url}/` },
      ]);
      browser = await launch(gate);
      const { page, errors } = await loggedInPage(browser);
      // The bare prefix redirects to the route (promgate's 301), then the page loads.
      const landing = await page.goto(`${base}/alertmanager`);
      assertEquals(landing?.status(), 200);
      assertEquals(new URL(page.url()).pathname, "/alertmanager/");
      assertEquals(await page.title(), "Alertmanager");
      assertEquals(await page.locator("h1").textContent(), "Alertmanager");
      // Debian ships no web application; its page says so and links the special handlers.
      assertStringIncludes(await page.locator("body").innerText(), "amtool");
      const shot = await screenshot(page, "ui-alertmanager-debian.png");
      console.log(`screenshot: ${shot}`);

      // Its relative links resolve under /alertmanager/ and reach Alertmanager.
      await page.getByRole("link", { name: "/-/healthy" }).click();
      await page.waitForURL(`${base}/alertmanager/-/healthy`);
      assertEquals((await page.locator("body").innerText()).trim(), "OK");
      await page.goBack();
      await page.getByRole("link", { name: "/metrics" }).click();
      await page.waitForURL(`${base}/alertmanager/metrics`);
      assertStringIncludes(await page.locator("body").innerText(), "alertmanager_build_info");
      assertEquals(errors, []);
    } finally {
      await browser?.close();
      await gate?.close();
      await alertmanager.stop();
      await w.remove();
    }
  },
);

Deno.test(
  "a JavaScript UI served by Alertmanager lists and silences an alert through promgate",
  amDeps,
  async () => {
    const w = await workDir();
    const { port, base } = reservePort();
    // Debian's Alertmanager has no UI of its own: serve a small one
    // (tests/testdata/alertmanager-ui) from --web.ui-path; it uses the v2 API by relative URLs,
    // as the real Elm UI does.
    const alertmanager = await startAlertmanager(w.dir, `${base}/alertmanager`, {
      uiPath: UI_FIXTURE,
    });
    let gate: Gate | undefined;
    let browser: Browser | undefined;
    try {
      gate = await startGate(w.dir, port, [
        { path: "/alertmanager/", upstream: `${alertmanager.url}/` },
      ]);
      const posted = await gate.fetch("/alertmanager/api/v2/alerts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{
          labels: { alertname: "PromgateUiTest", severity: "page" },
          annotations: { summary: "posted through promgate" },
        }]),
      });
      assertEquals(posted.status, 200, await posted.text());

      browser = await launch(gate);
      const { page, errors } = await loggedInPage(browser);
      await page.goto(`${base}/alertmanager/`);
      const alert = page.locator("#alerts tr.alert", { hasText: "PromgateUiTest" });
      await alert.waitFor();
      assertStringIncludes(await alert.innerText(), `severity="page"`);
      assertStringIncludes(await alert.innerText(), "active");
      assertMatch(
        await page.locator("#status").innerText(),
        /^version 0\.\d+\.\d+, cluster disabled/,
      );

      // A POST from the browser (JSON body, cached credentials) creates a silence.
      await alert.getByRole("button", { name: "Silence" }).click();
      const silence = page.locator("#silences tr.silence", { hasText: "promgate-ui-test" });
      await silence.waitFor();
      assertStringIncludes(await silence.innerText(), `alertname="PromgateUiTest"`);
      assertStringIncludes(await silence.innerText(), "active");
      await page.locator("#alerts tr.alert", { hasText: "suppressed" }).waitFor();
      const shot = await screenshot(page, "ui-alertmanager-api.png");
      console.log(`screenshot: ${shot}`);
      assertEquals(errors, []);

      // Alertmanager really holds the silence the browser created.
      const silences = await (await gate.fetch("/alertmanager/api/v2/silences")).json();
      assertEquals(
        silences.map((s: { createdBy: string }) => s.createdBy),
        ["promgate-ui-test"],
      );
      const requests = adminRequests(gate);
      assert(requests.includes("GET /alertmanager/script.js 200"), requests.join("\n"));
      assert(requests.includes("GET /alertmanager/lib/ui.css 200"), requests.join("\n"));
      assert(requests.includes("POST /alertmanager/api/v2/silences 200"), requests.join("\n"));
    } finally {
      await browser?.close();
      await gate?.close();
      await alertmanager.stop();
      await w.remove();
    }
  },
);
