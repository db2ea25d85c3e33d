/**
 * The Prometheus UI as a restricted user: Debian's Chromium (driven by playwright-core, as
 * tests/ui_test.ts does) logs in to promgate as alice (tenant a) and uses the real Prometheus'
 * UI under /prometheus/ over the multi-tenancy fixture. The UI must load without an error, and a
 * query typed into it must show only alice's series and values.
 */
import type { Browser, Page } from "playwright-core";
import { launchTrusting, loggedInPage as loggedInAs } from "../_chromium.ts";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { needs, REPO } from "../_util.ts";
import { ANCHOR, bandOf } from "./_fixture.ts";
import { PASSWORDS, PREFIX, startTenancyStack, type TenancyStack } from "./_stack.ts";

const ARTIFACTS = `${REPO}tests/artifacts`;

function launch(s: TenancyStack): Promise<Browser> {
  return launchTrusting(s.certFile);
}

/** A page logged in as alice, collecting page errors and failed responses. */
function alicePage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  return loggedInAs(browser, "alice", PASSWORDS.alice, 900);
}

/** Types `query` into the classic UI's expression box, runs it, and returns the table rows. */
async function runQuery(page: Page, query: string): Promise<string[][]> {
  await page.locator("textarea.expression_input").first().fill(query);
  const answered = page.waitForResponse((r) =>
    new URL(r.url()).pathname.endsWith("/api/v1/query") &&
    new URL(r.url()).searchParams.get("query") === query
  );
  await page.locator("input.execute_btn").first().click();
  const response = await answered;
  assertEquals(response.status(), 200, `${query}: ${await response.text()}`);
  // The UI empties its statistics when it sends the query and writes them (after rendering the
  // table) when the answer is complete.
  await page.locator(".eval_stats", { hasText: "Total time series" }).first().waitFor();
  const rows = await page.locator(".console_table tbody").first().locator("tr").all();
  return await Promise.all(rows.map((r) => r.locator("td").allTextContents()));
}

const deps = needs("chromium", "prometheus", "promtool", "htpasswd", "openssl");

Deno.test("Prometheus' UI as tenant a loads and shows only tenant a's series", deps, async () => {
  const s = await startTenancyStack();
  let browser: Browser | undefined;
  try {
    browser = await launch(s);
    const { page, errors } = await alicePage(browser);
    const landing = await page.goto(`${s.base}${PREFIX}/`);
    assertEquals(landing?.status(), 200);
    assertMatch(await page.title(), /Prometheus/);
    await page.locator("textarea.expression_input").first().waitFor();

    // The metric-name picker (filled from /api/v1/label/__name__/values) lists a's names only.
    const picker = page.locator("select[name=insert_metric] option");
    await picker.filter({ hasText: "tenancy_temperature_celsius" }).first().waitFor({
      state: "attached",
    });
    const names = (await picker.allTextContents()).map((n) => n.trim());
    assert(names.includes("tenancy_queue_length"), names.join(", "));
    for (
      const hidden of ["tenancy_b_only_gauge", "tenancy_c_only_gauge", "tenancy_shared_info", "up"]
    ) {
      assert(!names.includes(hidden), `${hidden} in the picker: ${names.join(", ")}`);
    }

    // Every series of the fixture at its end: only a's 15 series come back, each with a's values.
    const rows = await runQuery(page, `{__name__=~"tenancy_.+"} @ ${ANCHOR}`);
    assertEquals(rows.length, 15, JSON.stringify(rows));
    for (const [series, value] of rows) {
      assertMatch(series, /tenant="a"/);
      assertEquals(bandOf(Number(value)), "a", `${series} ${value}`);
    }
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/ui-tenancy-graph.png`, fullPage: true });

    // b's own metric and the series without a tenant label find nothing.
    for (
      const query of [`tenancy_b_only_gauge @ ${ANCHOR}`, `tenancy_shared_info @ ${ANCHOR}`, "up"]
    ) {
      const none = await runQuery(page, query);
      assert(
        none.every((cells) => cells.join(" ").trim() === "no data" || cells.length < 2),
        `${query}: ${JSON.stringify(none)}`,
      );
    }
    // No error banner in the UI, no failed request, no script error (Debian's libjs-popper.js
    // ships an ES module the classic UI loads as a script: the same error shows without promgate).
    const banners = await page.locator(".alert-danger:visible").allTextContents();
    assertEquals(banners.filter((t) => t.trim() !== ""), []);
    assertEquals(errors.filter((e) => e !== "page error: Unexpected token 'export'"), []);
  } finally {
    await browser?.close();
    await s.close();
  }
});
