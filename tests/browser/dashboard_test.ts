/**
 * The dashboard end to end, in headless Chromium: `createDashboard()`
 * served by `Deno.serve` on Postgres and on a SQLite file, with a real
 * client and worker making real runs (some succeed, one fails after two
 * attempts, some wait for a signal). Signing in through the form, filtering
 * runs (with the mouse and with the keyboard), a run's step timeline, and a
 * cancel (through the API, and with another tab's "Cancel run" button) that
 * the open run page shows live, without a reload.
 *
 * Screenshots of the runs list and of a run go to
 * `tests/browser/artifacts/`; with `UPDATE_SCREENSHOTS=1`, the Postgres
 * ones are also copied to `docs/dashboard-runs.png` and
 * `docs/dashboard-run.png`, which the README shows.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createDashboard } from "../../dashboard.ts";
import {
  OpenWorkflow,
  type WorkflowDefinition,
  type WorkflowRunHandle,
} from "../../mod.ts";
import type { Worker } from "../../mod.ts";
import {
  type BackendTarget,
  delay,
  postgresTarget,
  randomNamespace,
  sqliteFileTarget,
  type TestStore,
} from "../helpers.ts";
import { type BrowserSession, browserTest, launchBrowser } from "./browser.ts";

const TOKEN = "correct-horse-battery-staple";
const ARTIFACTS = new URL("./artifacts/", import.meta.url);
const DOCS = new URL("../../docs/", import.meta.url);

/** What every step of a target's test works with. */
interface Fixture {
  ow: OpenWorkflow;
  url: string;
  browser: BrowserSession;
  succeeded: WorkflowRunHandle<unknown>[];
  failed: WorkflowRunHandle<unknown>;
  /** Runs waiting for a signal, one for each cancel test. */
  waiting: WorkflowRunHandle<unknown>[];
  /** The workflow of the succeeded runs. */
  greet: WorkflowDefinition<{ name: string }, string>;
}

/** Waits until `check` holds, up to 10 s. */
async function until(
  check: () => Promise<boolean>,
  what: string,
): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await delay(20);
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** Makes the runs: three succeed, one fails, two wait for a signal. */
async function makeRuns(ow: OpenWorkflow) {
  const greet = ow.defineWorkflow<{ name: string }, string>(
    { name: "greet" },
    async ({ input, step }) => {
      const name = await step.run({ name: "normalize" }, () => input.name);
      return await step.run({ name: "compose" }, () => `Hello, ${name}!`);
    },
  );
  const charge = ow.defineWorkflow<{ cents: number }, string>(
    { name: "charge-card" },
    async ({ input, step }) => {
      await step.run({ name: "reserve" }, () => input.cents);
      return await step.run(
        { name: "capture", retry: { maxAttempts: 2, initialIntervalMs: 10 } },
        () => {
          throw new Error(`card declined for ${input.cents} cents`);
        },
      );
    },
  );
  const approval = ow.defineWorkflow<{ id: string }, string>(
    { name: "await-approval" },
    async ({ input, step }) => {
      await step.run({ name: "request" }, () => input.id);
      const reply = await step.waitForSignal<{ by: string }>({
        signal: "approval",
        timeout: "1h",
      });
      return reply === null ? "timed out" : `approved by ${reply.data.by}`;
    },
  );
  const succeeded = [];
  for (const name of ["Ada", "Grace", "Edsger"]) {
    const handle = await greet.run({ name });
    await handle.result({ timeoutMs: 20_000 });
    succeeded.push(handle);
  }
  const failed = await charge.run({ cents: 4200 });
  await assert.rejects(failed.result({ timeoutMs: 20_000 }));
  const waiting = [
    await approval.run({ id: "EXP-1" }),
    await approval.run({ id: "EXP-2" }),
  ];
  for (const handle of waiting) {
    await until(
      async () => (await handle.refresh()).status === "sleeping",
      `run ${handle.id} to wait for its signal`,
    );
  }
  return { succeeded, failed, waiting, greet };
}

/** The runs table's rows (those with a status cell). */
function runRows(page: Page) {
  return page.getByRole("table", { name: "Runs" }).locator(
    "tr:has(td[data-status])",
  );
}

/**
 * The Status filter. By role: its label wraps the options, whose text
 * Playwright's label matching would count, while its accessible name is
 * "Status".
 */
function statusSelect(page: Page) {
  return page.getByRole("combobox", { name: "Status", exact: true });
}

/** Submits the filter form with its button, and waits for the new page. */
async function applyFilters(page: Page): Promise<URL> {
  const before = page.url();
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForURL((u) => u.href !== before);
  await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
  return new URL(page.url());
}

/** The status of each row of the runs table. */
async function rowStatuses(page: Page): Promise<string[]> {
  return await runRows(page).locator("td[data-status]").evaluateAll(
    (cells) => cells.map((cell) => cell.getAttribute("data-status") ?? ""),
  );
}

/** Writes a screenshot artifact, and the docs' copy when asked. */
async function screenshot(
  page: Page,
  target: BackendTarget,
  name: "runs" | "run",
): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const file = new URL(
    `dashboard-${name}-${target.name.replace(/\W+/g, "-")}.png`,
    ARTIFACTS,
  );
  const png = await page.screenshot({ fullPage: true });
  await Deno.writeFile(file, png);
  if (
    Deno.env.get("UPDATE_SCREENSHOTS") === "1" && target === postgresTarget
  ) {
    await Deno.mkdir(DOCS, { recursive: true });
    await Deno.writeFile(new URL(`dashboard-${name}.png`, DOCS), png);
  }
}

/**
 * Marks the page's window; the mark survives only if the page is never
 * reloaded or navigated away.
 */
async function markWindow(page: Page): Promise<string> {
  const mark = crypto.randomUUID();
  await page.evaluate((value) => {
    (globalThis as unknown as { __dashboardMark: string }).__dashboardMark =
      value;
  }, mark);
  return mark;
}

async function windowMark(page: Page): Promise<string | undefined> {
  return await page.evaluate(() =>
    (globalThis as unknown as { __dashboardMark?: string }).__dashboardMark
  );
}

/** Counts the page's main-frame navigations from now on. */
function countNavigations(page: Page): { count: number } {
  const seen = { count: 0 };
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) seen.count++;
  });
  return seen;
}

/** Waits until the run page's status element says `status`. */
async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.locator(
    `[data-testid="run-status"][data-status="${status}"]`,
  ).waitFor({ timeout: 10_000 });
  assert.equal(
    (await page.getByTestId("run-status").textContent())?.trim(),
    status,
  );
}

for (const target of [postgresTarget, sqliteFileTarget]) {
  browserTest(
    target.unavailable,
    `[${target.name}] the dashboard in Chromium: sign in, filter runs, a run's timeline, a cancel seen live`,
    async (t) => {
      const store: TestStore = await target.open();
      let worker: Worker | null = null;
      let server: Deno.HttpServer<Deno.NetAddr> | null = null;
      let browser: BrowserSession | null = null;
      try {
        const backend = await store.connect(randomNamespace());
        const ow = new OpenWorkflow({ backend });
        const runs = await (async () => {
          const made = makeRuns(ow);
          worker = ow.newWorker({ concurrency: 10 });
          await worker.start();
          return await made;
        })();
        server = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          createDashboard({ backend, token: TOKEN }),
        );
        browser = await launchBrowser();
        const fixture: Fixture = {
          ow,
          url: `http://127.0.0.1:${server.addr.port}/`,
          browser,
          ...runs,
        };
        await t.step(
          "signing in: a wrong token is refused (401), the right one opens the runs list with a strict session cookie",
          async () => {
            await signInStep(fixture);
          },
        );
        await t.step(
          "filters: status and workflow, counts per status",
          async () => {
            await filterStep(fixture, target);
          },
        );
        await t.step(
          "keyboard: tab to the filter form and submit it with Enter",
          async () => {
            await keyboardStep(fixture);
          },
        );
        await t.step(
          "a run's page: its error and its step timeline, one item per attempt, failures marked",
          async () => {
            await runPageStep(fixture, target);
          },
        );
        await t.step(
          "a cancel through the API shows on the open run page live, without a reload",
          async () => {
            await cancelThroughApiStep(fixture);
          },
        );
        await t.step(
          "a cancel with another tab's 'Cancel run' button shows on the open run page live, without a reload",
          async () => {
            await cancelWithButtonStep(fixture);
          },
        );
        await t.step("schedules: Pause and Resume", async () => {
          await schedulesStep(fixture);
        });
        await t.step(
          "the Metrics link shows the Prometheus text to the signed-in browser",
          async () => {
            await metricsStep(fixture);
          },
        );
        await t.step(
          "pages: a Next page link when more runs match than a page shows",
          async () => {
            await pagesStep(fixture);
          },
        );
        await t.step("signing out ends the session", async () => {
          await signOutStep(fixture);
        });
      } finally {
        await browser?.close();
        await server?.shutdown();
        await (worker as Worker | null)?.stop();
        await store.close();
      }
    },
  );
}

async function signInStep({ url, browser }: Fixture): Promise<void> {
  const page = await browser.newPage();
  try {
    // Not signed in: no runs.
    const anonymous = await page.goto(url);
    assert.ok(
      anonymous !== null &&
        (anonymous.status() === 401 ||
          new URL(page.url()).pathname === "/login"),
      `an anonymous visit must not see the runs (status ${anonymous?.status()}, at ${page.url()})`,
    );
    assert.equal(
      await page.getByRole("table", { name: "Runs" }).count(),
      0,
    );

    await page.goto(`${url}login`);
    await page.getByLabel("Token").fill("not the token");
    const [refused] = await Promise.all([
      page.waitForResponse((r) =>
        new URL(r.url()).pathname === "/login" &&
        r.request().method() === "POST"
      ),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    assert.equal(refused.status(), 401);
    await page.getByText("Invalid token").waitFor();
    assert.equal(
      (await browser.context.cookies()).length,
      0,
      "no session for a wrong token",
    );

    await page.getByLabel("Token").fill(TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/");
    const cookies = await browser.context.cookies();
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    assert.equal(cookies[0].httpOnly, true);
    assert.equal(cookies[0].sameSite, "Strict");
    assert.ok(!cookies[0].value.includes(TOKEN), "the cookie is not the token");
    // The header.
    for (const name of ["Runs", "Schedules", "Metrics"]) {
      assert.equal(
        await page.getByRole("navigation").getByRole("link", {
          name,
          exact: true,
        })
          .count(),
        1,
        `nav link ${name}`,
      );
    }
    assert.equal(
      await page.getByRole("button", { name: "Sign out" }).count(),
      1,
    );
  } finally {
    await page.close();
  }
}

async function filterStep(
  { url, browser, failed, succeeded, waiting }: Fixture,
  target: BackendTarget,
): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    const table = page.getByRole("table", { name: "Runs" });
    await table.waitFor();
    assert.equal(await runRows(page).count(), 6);
    // Each row: the full run id linking to its page.
    const link = table.getByRole("link", { name: failed.id, exact: true });
    assert.equal(await link.getAttribute("href"), `/runs/${failed.id}`);
    // Counts per status, as links.
    for (
      const [status, n] of [["succeeded", 3], ["failed", 1], ["sleeping", 2]]
    ) {
      assert.equal(
        await page.getByRole("link", { name: `${status} ${n}`, exact: true })
          .count(),
        1,
        `the count link "${status} ${n}"`,
      );
    }
    await screenshot(page, target, "runs");

    await statusSelect(page).selectOption("failed");
    assert.equal(
      (await applyFilters(page)).searchParams.get("status"),
      "failed",
    );
    assert.deepEqual(await rowStatuses(page), ["failed"]);
    assert.equal(
      await page.getByRole("table", { name: "Runs" }).getByRole("link", {
        name: failed.id,
        exact: true,
      }).count(),
      1,
    );
    // The form shows the filter it applied.
    assert.equal(
      await statusSelect(page).inputValue(),
      "failed",
    );

    await statusSelect(page).selectOption("any");
    await page.getByLabel("Workflow").fill("greet");
    assert.equal(
      (await applyFilters(page)).searchParams.get("workflow"),
      "greet",
    );
    assert.deepEqual(await rowStatuses(page), [
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
    const ids = await runRows(page).getByRole("link").allTextContents();
    assert.deepEqual(
      ids.map((id) => id.trim()).sort(),
      succeeded.map((h) => h.id).sort(),
    );

    // A time range that ends before the first run: none.
    await page.getByLabel("Workflow").fill("");
    await page.getByLabel("Created before").fill("2001-01-01T00:00");
    await applyFilters(page);
    assert.equal(await runRows(page).count(), 0);
    // One that starts long before: all six.
    await page.getByLabel("Created before").fill("");
    await page.getByLabel("Created after").fill("2001-01-01T00:00");
    await applyFilters(page);
    assert.equal(await runRows(page).count(), 6);

    // The count link "sleeping 2" lists the waiting runs.
    await page.goto(url);
    await page.getByRole("link", { name: "sleeping 2", exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "sleeping");
    const waitingIds = await runRows(page).getByRole("link").allTextContents();
    assert.deepEqual(
      waitingIds.map((id) => id.trim()).sort(),
      waiting.map((h) => h.id).sort(),
    );
  } finally {
    await page.close();
  }
}

async function keyboardStep({ url, browser, failed }: Fixture): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByRole("table", { name: "Runs" }).waitFor();
    const focused = (control: ReturnType<Page["getByLabel"]>) =>
      control.evaluate((el) =>
        el === (el as unknown as { ownerDocument: { activeElement: unknown } })
          .ownerDocument.activeElement
      );
    let presses = 0;
    let sawStatus = false;
    while (!(await focused(page.getByLabel("Workflow")))) {
      assert.ok(presses++ < 60, "Tab never reached the Workflow filter");
      await page.keyboard.press("Tab");
      sawStatus ||= await focused(statusSelect(page));
    }
    assert.ok(sawStatus, "Tab passes the Status filter on the way");
    await page.keyboard.type("charge-card");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) =>
      u.searchParams.get("workflow") === "charge-card"
    );
    assert.deepEqual(await rowStatuses(page), ["failed"]);
    // And on to the run, by keyboard.
    const link = page.getByRole("link", { name: failed.id, exact: true });
    await link.focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(`${url}runs/${failed.id}`);
    await page.getByTestId("run-status").waitFor();
  } finally {
    await page.close();
  }
}

async function runPageStep(
  { ow, url, browser, failed, succeeded }: Fixture,
  target: BackendTarget,
): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByRole("link", { name: failed.id, exact: true }).click();
    await page.waitForURL(`${url}runs/${failed.id}`);
    assert.equal(
      (await page.getByRole("heading", { level: 1 }).textContent())?.trim(),
      "charge-card",
    );
    await waitForStatus(page, "failed");
    // The error, with its stack.
    await page.getByText("card declined for 4200 cents").first().waitFor();
    assert.match(await page.content(), /at .*\.ts:\d+/);
    // The timeline: each attempt an item.
    const attempts = await ow.listStepAttempts(failed.id);
    assert.deepEqual(
      attempts.map((a) => [a.stepName, a.status]),
      [["reserve", "succeeded"], ["capture", "failed"], ["capture", "failed"]],
    );
    const timeline = page.getByRole("region", { name: "Steps" }).getByRole(
      "list",
      { name: "Step timeline" },
    );
    const items = timeline.getByRole("listitem");
    assert.equal(await items.count(), attempts.length);
    for (let i = 0; i < attempts.length; i++) {
      const item = items.nth(i);
      assert.equal(await item.getAttribute("data-status"), attempts[i].status);
      const text = await item.textContent() ?? "";
      assert.ok(text.includes(attempts[i].stepName), text);
      assert.ok(text.includes(attempts[i].kind), text);
      assert.equal(await item.locator("svg").count(), 1, "a bar per attempt");
    }
    assert.equal(
      await timeline.locator('li[data-status="failed"]').count(),
      2,
    );
    // A failed run can be retried and forked, not canceled.
    assert.equal(
      await page.getByRole("button", { name: "Retry run" }).count(),
      1,
    );
    assert.equal(
      await page.getByRole("button", { name: "Fork run" }).count(),
      1,
    );
    assert.equal(
      await page.getByRole("button", { name: "Cancel run" }).count(),
      0,
    );
    await screenshot(page, target, "run");

    // A succeeded run: its output, its steps, no cancel or retry.
    const [ada] = succeeded;
    await page.goto(`${url}runs/${ada.id}`);
    await waitForStatus(page, "succeeded");
    assert.equal(
      (await page.getByRole("heading", { level: 1 }).textContent())?.trim(),
      "greet",
    );
    await page.getByText('"Hello, Ada!"').waitFor();
    assert.deepEqual(
      await page.getByRole("list", { name: "Step timeline" }).getByRole(
        "listitem",
      ).evaluateAll((items) =>
        items.map((item) => item.getAttribute("data-status"))
      ),
      ["succeeded", "succeeded"],
    );
    for (const name of ["Cancel run", "Retry run"]) {
      assert.equal(await page.getByRole("button", { name }).count(), 0, name);
    }

    const missing = await page.goto(`${url}runs/${crypto.randomUUID()}`);
    assert.equal(missing?.status(), 404);
  } finally {
    await page.close();
  }
}

/** Opens a waiting run's page, marked and counting navigations. */
async function openWaitingRun(
  { url, browser }: Fixture,
  run: WorkflowRunHandle<unknown>,
) {
  const page = await browser.newPage();
  await page.goto(`${url}runs/${run.id}`);
  await waitForStatus(page, "sleeping");
  assert.equal(
    await page.getByRole("button", { name: "Cancel run" }).count(),
    1,
  );
  assert.equal(
    await page.getByRole("button", { name: "Retry run" }).count(),
    0,
  );
  const mark = await markWindow(page);
  const navigations = countNavigations(page);
  const at = page.url();
  return {
    page,
    async assertNotReloaded() {
      assert.equal(page.url(), at);
      assert.equal(await windowMark(page), mark, "the page was not reloaded");
      assert.equal(navigations.count, 0, "no navigation");
    },
  };
}

/** The open page changed live: status, buttons. */
async function assertCanceledLive(page: Page): Promise<void> {
  await waitForStatus(page, "canceled");
  await page.getByRole("button", { name: "Retry run" }).waitFor();
  assert.equal(
    await page.getByRole("button", { name: "Cancel run" }).count(),
    0,
  );
}

async function cancelThroughApiStep(fixture: Fixture): Promise<void> {
  const run = fixture.waiting[0];
  const { page, assertNotReloaded } = await openWaitingRun(fixture, run);
  try {
    await fixture.ow.cancelRun(run.id);
    await assertCanceledLive(page);
    await assertNotReloaded();
  } finally {
    await page.close();
  }
}

async function cancelWithButtonStep(fixture: Fixture): Promise<void> {
  const run = fixture.waiting[1];
  const watching = await openWaitingRun(fixture, run);
  const acting = await fixture.browser.newPage();
  try {
    await acting.goto(`${fixture.url}runs/${run.id}`);
    await acting.getByRole("button", { name: "Cancel run" }).click();
    // The acting tab ends on the run's page (redirected back), canceled.
    await waitForStatus(acting, "canceled");
    assert.equal(acting.url(), `${fixture.url}runs/${run.id}`);
    assert.equal((await run.refresh()).status, "canceled");
    // The watching tab saw it without a reload.
    await assertCanceledLive(watching.page);
    await watching.assertNotReloaded();
  } finally {
    await acting.close();
    await watching.page.close();
  }
}

async function signOutStep({ url, browser }: Fixture): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.pathname !== "/");
    const again = await page.goto(url);
    assert.ok(
      again !== null &&
        (again.status() === 401 || new URL(page.url()).pathname === "/login"),
      `signed out, the runs are not shown (status ${again?.status()}, at ${page.url()})`,
    );
    assert.equal(await page.getByRole("table", { name: "Runs" }).count(), 0);
  } finally {
    await page.close();
  }
}

async function schedulesStep({ ow, url, browser, greet }: Fixture) {
  await ow.createSchedule({
    id: "nightly-greeting",
    workflow: greet,
    cron: "0 3 * * *",
    timezone: "UTC",
    input: { name: "night" },
  });
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByRole("navigation").getByRole("link", {
      name: "Schedules",
      exact: true,
    }).click();
    await page.getByRole("heading", { level: 1, name: "Schedules" }).waitFor();
    const row = page.getByRole("table", { name: "Schedules" }).locator("tr", {
      hasText: "nightly-greeting",
    });
    assert.match(await row.textContent() ?? "", /greet.*0 3 \* \* \*/s);
    assert.match(await row.textContent() ?? "", /active/);
    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByRole("button", { name: "Resume" }).waitFor();
    assert.match(await row.textContent() ?? "", /paused/);
    assert.equal((await ow.getSchedule("nightly-greeting"))?.paused, true);
    await row.getByRole("button", { name: "Resume" }).click();
    await row.getByRole("button", { name: "Pause" }).waitFor();
    assert.equal((await ow.getSchedule("nightly-greeting"))?.paused, false);
  } finally {
    await page.close();
    await ow.deleteSchedule("nightly-greeting");
  }
}

async function metricsStep({ url, browser }: Fixture): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/metrics"),
      page.getByRole("navigation").getByRole("link", {
        name: "Metrics",
        exact: true,
      }).click(),
    ]);
    assert.equal(response.status(), 200);
    const text = await response.text();
    assert.match(text, /^# TYPE openworkflow_runs gauge$/m);
    assert.match(
      text,
      /^openworkflow_runs\{[^}]*workflow="greet"[^}]*status="succeeded"[^}]*\} 3$/m,
    );
  } finally {
    await page.close();
  }
}

async function pagesStep({ ow, url, browser }: Fixture): Promise<void> {
  const bulk = ow.defineWorkflow({ name: "bulk" }, () => Promise.resolve(1));
  // More than a page (50), none due for an hour: no worker takes them.
  for (let i = 0; i < 51; i++) await bulk.run(undefined, { availableAt: "1h" });
  const page = await browser.newPage();
  try {
    await page.goto(`${url}?workflow=bulk`);
    assert.equal(await runRows(page).count(), 50);
    const next = page.getByRole("link", { name: "Next page", exact: true });
    const firstPage = await runRows(page).getByRole("link").allTextContents();
    await next.click();
    await page.waitForURL((u) => u.searchParams.has("cursor"));
    assert.equal(await runRows(page).count(), 1);
    assert.equal(await next.count(), 0, "no Next page on the last page");
    const last = (await runRows(page).getByRole("link").textContent())?.trim();
    assert.ok(
      last !== undefined && !firstPage.map((id) => id.trim()).includes(last),
    );
    assert.equal(new URL(page.url()).searchParams.get("workflow"), "bulk");
  } finally {
    await page.close();
  }
}
