/**
 * The dashboard's browser test, continued: a cancel seen live (through
 * the API, and with another tab's "Cancel run" button), schedules paused
 * and resumed, the Metrics link, and the runs list's pages.
 */

import assert from "node:assert/strict";
import {
  assertCanceledLive,
  type Fixture,
  openWaitingRun,
  runRows,
  waitForStatus,
} from "./dashboard_fixture.ts";

export async function cancelThroughApiStep(fixture: Fixture): Promise<void> {
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

export async function cancelWithButtonStep(fixture: Fixture): Promise<void> {
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

export async function schedulesStep(
  { ow, url, browser, greet }: Fixture,
): Promise<void> {
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

export async function metricsStep({ url, browser }: Fixture): Promise<void> {
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

export async function pagesStep({ ow, url, browser }: Fixture): Promise<void> {
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
