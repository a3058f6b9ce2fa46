/**
 * What the dashboard's browser tests share: a dashboard served by
 * `Deno.serve` on a fresh store with a real worker's runs (three succeed,
 * one fails after two attempts, two wait for a signal) and a browser
 * signed in nowhere yet, and helpers that read the pages by role, label
 * and test id.
 */

import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { createDashboard } from "../../dashboard.ts";
import {
  OpenWorkflow,
  type Worker,
  type WorkflowDefinition,
  type WorkflowRunHandle,
} from "../../mod.ts";
import {
  type BackendTarget,
  delay,
  postgresTarget,
  randomNamespace,
  type TestStore,
} from "../helpers.ts";
import { type BrowserSession, launchBrowser } from "./browser.ts";

export const TOKEN = "correct-horse-battery-staple";
export const ARTIFACTS = new URL("./artifacts/", import.meta.url);
export const DOCS = new URL("../../docs/", import.meta.url);

/** What every step of a target's test works with. */
export interface Fixture {
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
export async function until(
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
/** The runs {@linkcode makeRuns} makes. */
export interface Runs {
  succeeded: WorkflowRunHandle<unknown>[];
  failed: WorkflowRunHandle<unknown>;
  waiting: WorkflowRunHandle<unknown>[];
  greet: WorkflowDefinition<{ name: string }, string>;
}

export async function makeRuns(ow: OpenWorkflow): Promise<Runs> {
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
export function runRows(page: Page): Locator {
  return page.getByRole("table", { name: "Runs" }).locator(
    "tr:has(td[data-status])",
  );
}

/**
 * The Status filter. By role: its label wraps the options, whose text
 * Playwright's label matching would count, while its accessible name is
 * "Status".
 */
export function statusSelect(page: Page): Locator {
  return page.getByRole("combobox", { name: "Status", exact: true });
}

/** Submits the filter form with its button, and waits for the new page. */
export async function applyFilters(page: Page): Promise<URL> {
  const before = page.url();
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForURL((u) => u.href !== before);
  await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
  return new URL(page.url());
}

/** The status of each row of the runs table. */
export async function rowStatuses(page: Page): Promise<string[]> {
  return await runRows(page).locator("td[data-status]").evaluateAll(
    (cells) => cells.map((cell) => cell.getAttribute("data-status") ?? ""),
  );
}

/** Writes a screenshot artifact, and the docs' copy when asked. */
export async function screenshot(
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
export async function markWindow(page: Page): Promise<string> {
  const mark = crypto.randomUUID();
  await page.evaluate((value) => {
    (globalThis as unknown as { __dashboardMark: string }).__dashboardMark =
      value;
  }, mark);
  return mark;
}

export async function windowMark(page: Page): Promise<string | undefined> {
  return await page.evaluate(() =>
    (globalThis as unknown as { __dashboardMark?: string }).__dashboardMark
  );
}

/** Counts the page's main-frame navigations from now on. */
export function countNavigations(page: Page): { count: number } {
  const seen = { count: 0 };
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) seen.count++;
  });
  return seen;
}

/** Waits until the run page's status element says `status`. */
export async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.locator(
    `[data-testid="run-status"][data-status="${status}"]`,
  ).waitFor({ timeout: 10_000 });
  assert.equal(
    (await page.getByTestId("run-status").textContent())?.trim(),
    status,
  );
}

/**
 * Opens a fresh store on `target`, makes the runs with a running worker,
 * serves the dashboard on a free loopback port, and launches the browser.
 */
export async function openDashboard(
  target: BackendTarget,
): Promise<Fixture & { close(): Promise<void> }> {
  const store: TestStore = await target.open();
  let worker: Worker | null = null;
  let server: Deno.HttpServer<Deno.NetAddr> | null = null;
  let browser: BrowserSession | null = null;
  const close = async () => {
    await browser?.close();
    await server?.shutdown();
    await worker?.stop();
    await store.close();
  };
  try {
    const backend = await store.connect(randomNamespace());
    const ow = new OpenWorkflow({ backend });
    const made = makeRuns(ow);
    worker = ow.newWorker({ concurrency: 10 });
    await worker.start();
    const runs = await made;
    server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      createDashboard({ backend, token: TOKEN }),
    );
    browser = await launchBrowser();
    return {
      ow,
      url: `http://127.0.0.1:${server.addr.port}/`,
      browser,
      ...runs,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A page watched for reloads and navigations. */
export interface WatchedPage {
  page: Page;
  /** Fails if the page was reloaded or navigated since it was opened. */
  assertNotReloaded(): Promise<void>;
}

/** Opens a waiting run's page, marked and counting navigations. */
export async function openWaitingRun(
  { url, browser }: Fixture,
  run: WorkflowRunHandle<unknown>,
): Promise<WatchedPage> {
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
export async function assertCanceledLive(page: Page): Promise<void> {
  await waitForStatus(page, "canceled");
  await page.getByRole("button", { name: "Retry run" }).waitFor();
  assert.equal(
    await page.getByRole("button", { name: "Cancel run" }).count(),
    0,
  );
}
