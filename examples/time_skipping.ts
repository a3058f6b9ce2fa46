/**
 * Testing with time skipped: a 30-day trial that charges at its end unless
 * canceled, a reminder that waits a week for a reply, and a daily report,
 * all run through in milliseconds by a test environment's virtual clock.
 * The workflows, the engine and the SQLite backend are the production
 * ones; only the clock is virtual.
 *
 *   deno run -A examples/time_skipping.ts
 */

import { createTestEnvironment } from "../testing.ts";

/** What the example observed. */
export interface TimeSkippingOutcome {
  /** What the trial returned. */
  trial: string;
  /** What the reminder returned. */
  reminder: string;
  /** The days (since the start) on which the daily report ran. */
  reportDays: number[];
  /** How many virtual days passed. */
  days: number;
  /** How long it took in real time, in milliseconds. */
  realMs: number;
}

const DAY = 86_400_000;

/** Runs the example in a fresh test environment. */
export async function main(): Promise<TimeSkippingOutcome> {
  const startedAt = performance.now();
  const start = new Date("2030-01-01T00:00:00Z");
  await using env = await createTestEnvironment({ now: start });
  const day = () => Math.floor((env.now().getTime() - start.getTime()) / DAY);
  const reports: number[] = [];

  const trial = env.ow.defineWorkflow({ name: "trial" }, async ({ step }) => {
    await step.sleep("trial-period", "30d");
    return await step.run({ name: "charge" }, () => `charged on day ${day()}`);
  });
  const reminder = env.ow.defineWorkflow(
    { name: "reminder" },
    async ({ step }) => {
      const reply = await step.waitForSignal({
        signal: "reply",
        timeout: "7d",
      });
      return reply === null ? `no reply by day ${day()}` : "replied";
    },
  );
  const report = env.ow.defineWorkflow(
    { name: "daily-report" },
    async ({ step }) => {
      await step.run({ name: "report" }, () => void reports.push(day()));
    },
  );
  await env.ow.createSchedule({
    id: "daily-report",
    workflow: report,
    cron: "0 6 * * *",
    timezone: "UTC",
  });
  await env.ow.newWorker().start();

  const trialRun = await trial.run();
  const reminderRun = await reminder.run();
  await env.advance("3d");
  await env.advance("27d");
  return {
    trial: await trialRun.result(),
    reminder: await reminderRun.result(),
    reportDays: reports,
    days: day(),
    realMs: Math.round(performance.now() - startedAt),
  };
}

if (import.meta.main) {
  console.log(await main());
  // {
  //   trial: "charged on day 30",
  //   reminder: "no reply by day 7",
  //   reportDays: [ 0, 1, 2, …, 29 ],
  //   days: 30,
  //   realMs: 400
  // }
}
