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
import {
  type BackendTarget,
  postgresTarget,
  sqliteFileTarget,
} from "../helpers.ts";
import { browserTest } from "./browser.ts";
import {
  cancelThroughApiStep,
  cancelWithButtonStep,
  metricsStep,
  pagesStep,
  schedulesStep,
} from "./dashboard_actions.ts";
import {
  applyFilters,
  type Fixture,
  openDashboard,
  rowStatuses,
  runRows,
  screenshot,
  statusSelect,
  TOKEN,
  waitForStatus,
} from "./dashboard_fixture.ts";
import type { Page } from "playwright-core";

for (const target of [postgresTarget, sqliteFileTarget]) {
  browserTest(
    target.unavailable,
    `[${target.name}] the dashboard in Chromium: sign in, filter runs, a run's timeline, a cancel seen live`,
    async (t) => {
      const fixture = await openDashboard(target);
      try {
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
        await fixture.close();
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
