/**
 * Debian's Chromium, headless, for the tests that load pages (tests/ui_test.ts,
 * tests/tenancy/e2e_ui_test.ts), started with the flags this machine needs: without the
 * background-networking ones its connections to Google's hosts are refused, many at a time.
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { spkiSha256 } from "./_stack.ts";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium trusting the key of the certificate in `certFile`. Playwright gives
 * it a fresh temporary --user-data-dir and removes it on close.
 */
export async function launchTrusting(certFile: string): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: [
      ...CHROMIUM_ARGS,
      `--ignore-certificate-errors-spki-list=${await spkiSha256(certFile)}`,
    ],
  });
}

/**
 * A page whose context answers basic-auth challenges as `username`, collecting page errors,
 * failed requests and 4xx/5xx answers (but a missing favicon) in `errors`.
 */
export async function loggedInPage(
  browser: Browser,
  username: string,
  password: string,
  height = 800,
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({
    httpCredentials: { username, password },
    viewport: { width: 1280, height },
  });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on(
    "requestfailed",
    (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
  );
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) {
      errors.push(`HTTP ${r.status()} for ${r.url()}`);
    }
  });
  return { page, errors };
}
