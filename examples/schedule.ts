/**
 * Cron schedules: a report that runs every second, one run per slot however
 * many workers run; paused, triggered by hand and deleted. And a workflow
 * that declares its own schedule (03:00 in Berlin), which every worker
 * registering it creates, or updates, when it starts.
 *
 *   deno run -A examples/schedule.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/schedule.ts
 */

import { type Backend, OpenWorkflow, type WorkflowRun } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** What the example observed. */
export interface ScheduleOutcome {
  /** How many runs the schedule started in about 2.5 s (2 or 3, usually). */
  runs: number;
  /** Whether each slot started exactly one run. */
  oneRunPerSlot: boolean;
  /** Whether the slots follow each other a second apart, none skipped. */
  slotsOneSecondApart: boolean;
  /** The distinct outputs of the scheduled runs. */
  outputs: string[];
  /** The schedule once paused. */
  paused: {
    paused: boolean;
    /** Whether `lastRunAt` is the slot of the last run. */
    lastRunAtIsLastSlot: boolean;
    /** Whether `nextRunAt` comes after `lastRunAt`. */
    nextRunAtAfterLastRunAt: boolean;
  };
  /** The run started by hand: no slot. */
  triggered: { slot: string | null; output: string };
  /** Whether the schedule was deleted (its runs stay). */
  deleted: boolean;
  /** The schedule a workflow declared, as its worker created it. */
  declared: {
    id: string;
    cron: string;
    timezone: string;
    paused: boolean;
    /** Its next slot, read on a clock in Berlin. */
    berlinTime: string;
  };
}

const REPORT_SCHEDULE = "report-every-second";

/** The slot a scheduled run was started for, `null` for one by hand. */
function slotOf(run: WorkflowRun): string | null {
  return (run.context as { slot: string | null }).slot;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `date` on a wall clock in Berlin, `"HH:MM"`. */
function berlinTime(date: Date): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/Berlin",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(date);
}

/**
 * Runs the example on `backend` and returns what happened; `log` shows the
 * details that change from run to run (times, slots).
 */
export async function main(
  backend: Backend,
  log: (...data: unknown[]) => void = () => {},
): Promise<ScheduleOutcome> {
  const ow = new OpenWorkflow({ backend });

  const report = ow.defineWorkflow<{ kind: string }, string>(
    { name: "report" },
    async ({ input, step }) => {
      return await step.run(
        { name: "send" },
        () => `${input.kind} report sent`,
      );
    },
  );

  // A schedule declared with the workflow: created (or updated; its id is
  // the workflow's name) by every worker that registers the workflow, at
  // start(). A pause made with ow.pauseSchedule() survives the next deploy.
  ow.defineWorkflow(
    {
      name: "nightly-cleanup",
      schedule: { cron: "0 3 * * *", timezone: "Europe/Berlin" },
    },
    async ({ step }) => {
      return await step.run({ name: "purge" }, () => "expired sessions purged");
    },
  );

  // A schedule left by an interrupted earlier run of this example.
  await ow.deleteSchedule(REPORT_SCHEDULE);

  const worker = ow.newWorker();
  await worker.start();
  try {
    const nightly = (await ow.getSchedule("nightly-cleanup"))!;
    log(
      `declared: '${nightly.id}' (${nightly.cron}, ${nightly.timezone}), next run at`,
      nightly.nextRunAt.toISOString(),
      `(${berlinTime(nightly.nextRunAt)} in Berlin)`,
    );

    // Every second (6 fields: seconds first), with an input for every run.
    const schedule = await ow.createSchedule({
      id: REPORT_SCHEDULE,
      workflow: report,
      cron: "* * * * * *",
      input: { kind: "daily" },
    });
    log(`created: '${schedule.id}', first slot`, schedule.nextRunAt);
    // The runs the schedule started, oldest first.
    const started = async () =>
      (await ow.listRuns({
        workflowName: "report",
        createdAfter: schedule.createdAt,
        limit: 100,
      })).runs.reverse();
    // Let the worker run for about 2.5 s: two or three slots (on a loaded
    // machine, up to 10 s more for the second).
    await delay(2_500);
    for (let i = 0; i < 100 && (await started()).length < 2; i++) {
      await delay(100);
    }

    const paused = await ow.pauseSchedule(REPORT_SCHEDULE);
    const runs = await started();
    const slots = runs.map(slotOf).filter((slot) => slot !== null);
    const outputs = new Set<string>();
    for (const run of runs) {
      const output = await (await ow.getRun<string>(run.id))!.result({
        timeoutMs: 30_000,
      });
      outputs.add(output);
      log(`  run ${run.id} for slot ${slotOf(run)}: ${output}`);
    }
    log(
      `paused: ${paused.paused}, lastRunAt`,
      paused.lastRunAt,
      "nextRunAt",
      paused.nextRunAt,
    );

    // One run now, outside the slots (the schedule may be paused).
    const handle = await ow.triggerSchedule<string>(REPORT_SCHEDULE);
    const triggered = {
      slot: slotOf(handle.workflowRun),
      output: await handle.result({ timeoutMs: 30_000 }),
    };
    log("triggered by hand:", triggered);

    const deleted = await ow.deleteSchedule(REPORT_SCHEDULE);
    return {
      runs: runs.length,
      oneRunPerSlot: slots.length === runs.length &&
        new Set(slots).size === slots.length,
      slotsOneSecondApart: slots.every((slot, i) =>
        i === 0 || Date.parse(slot) - Date.parse(slots[i - 1]) === 1000
      ),
      outputs: [...outputs],
      paused: {
        paused: paused.paused,
        lastRunAtIsLastSlot: paused.lastRunAt?.toISOString() === slots.at(-1),
        nextRunAtAfterLastRunAt: paused.lastRunAt !== null &&
          paused.nextRunAt > paused.lastRunAt,
      },
      triggered,
      deleted,
      declared: {
        id: nightly.id,
        cron: nightly.cron,
        timezone: nightly.timezone,
        paused: nightly.paused,
        berlinTime: berlinTime(nightly.nextRunAt),
      },
    };
  } finally {
    await worker.stop();
    // A deployment keeps its declared schedule; the example leaves nothing.
    await ow.deleteSchedule(REPORT_SCHEDULE);
    await ow.deleteSchedule("nightly-cleanup");
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend, console.log));
    // declared: 'nightly-cleanup' (0 3 * * *, Europe/Berlin), next run at 2026-12-07T02:00:00.000Z (03:00 in Berlin)
    // created: 'report-every-second', first slot 2026-12-06T06:52:23.000Z
    //   run 1bfa7053-... for slot 2026-12-06T06:52:23.000Z: daily report sent
    //   run f33fcc81-... for slot 2026-12-06T06:52:24.000Z: daily report sent
    //   run 87c1d7e4-... for slot 2026-12-06T06:52:25.000Z: daily report sent
    // paused: true, lastRunAt 2026-12-06T06:52:25.000Z nextRunAt 2026-12-06T06:52:26.000Z
    // triggered by hand: { slot: null, output: "daily report sent" }
    // {
    //   runs: 3,
    //   oneRunPerSlot: true,
    //   slotsOneSecondApart: true,
    //   outputs: [ "daily report sent" ],
    //   paused: { paused: true, lastRunAtIsLastSlot: true, nextRunAtAfterLastRunAt: true },
    //   triggered: { slot: null, output: "daily report sent" },
    //   deleted: true,
    //   declared: { id: "nightly-cleanup", cron: "0 3 * * *", timezone: "Europe/Berlin", paused: false, berlinTime: "03:00" }
    // }
  } finally {
    await backend.stop();
  }
}
