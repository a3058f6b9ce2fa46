/**
 * Headless Chromium for the browser tests, driven by Playwright
 * (`playwright-core` from npm, test-only) with Debian's `chromium` package
 * (`/usr/bin/chromium`, or `CHROMIUM_PATH`). `.ci/run` installs it when it
 * is missing; outside CI, the browser tests are skipped, saying why, when it
 * is absent.
 */

import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "playwright-core";

/** The Chromium the tests launch. */
export const CHROMIUM_PATH = Deno.env.get("CHROMIUM_PATH") ??
  "/usr/bin/chromium";

/**
 * Why the browser tests cannot run here (Chromium is not installed), or
 * `null` when they can. In CI a missing Chromium is an error, never a skip.
 */
export function chromiumUnavailable(): string | null {
  try {
    Deno.statSync(CHROMIUM_PATH);
    return null;
  } catch {
    if (Deno.env.get("CI") === "true") {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM_PATH}, and CI must run the browser tests: apt-get install chromium`,
      );
    }
    return `Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  }
}

/** A launched browser with one fresh context (its own cookies). */
export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  /** Opens a page in the context. */
  newPage(): Promise<Page>;
  /** Closes the context and the browser, ending the Chromium processes. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode launchBrowser}. */
export interface LaunchOptions {
  /** The viewport of the context's pages. Default: 1280×800. */
  viewport?: { width: number; height: number };
}

/**
 * Launches headless Chromium and opens a fresh context in it.
 *
 * @example
 * ```ts ignore
 * await using session = await launchBrowser();
 * const page = await session.newPage();
 * await page.goto(url);
 * ```
 */
export async function launchBrowser(
  options: LaunchOptions = {},
): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Root (as in CI) cannot use Chromium's sandbox; Playwright then passes
    // --no-sandbox itself. /dev/shm may be small in containers.
    chromiumSandbox: false,
    args: ["--disable-dev-shm-usage", "--disable-gpu"],
    timeout: 30_000,
  });
  let context: BrowserContext;
  try {
    context = await browser.newContext({
      viewport: options.viewport ?? { width: 1280, height: 800 },
      // Dates in the pages do not depend on the machine's zone.
      timezoneId: "UTC",
      locale: "en-US",
    });
  } catch (error) {
    await browser.close();
    throw error;
  }
  context.setDefaultTimeout(15_000);
  const close = async () => {
    try {
      await context.close();
    } finally {
      await browser.close();
    }
  };
  return {
    browser,
    context,
    newPage: () => context.newPage(),
    close,
    [Symbol.asyncDispose]: close,
  };
}

const unavailable = chromiumUnavailable();

/**
 * Registers a browser test: skipped (the reason in its name) only outside
 * CI when Chromium is absent, or for `otherReason` (e.g. the Postgres
 * target's `SKIP_POSTGRES=1`).
 */
export function browserTest(
  otherReason: string | null,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const reason = unavailable ?? otherReason;
  Deno.test({
    name: reason === null ? name : `${name} (skipped: ${reason})`,
    ignore: reason !== null,
    fn,
  });
}
