/**
 * Part 2, long workflows: does a step cost more late in a 1,000-step run
 * than early, and does a worker that resumes such a run mid-way load its
 * history once?
 *
 * 1. One uninterrupted run of 1,000 sequential steps: the time between
 *    step calls, last 100 against first 100.
 * 2. The same workflow in a child process (lease 2 s), killed with SIGKILL
 *    once step ~500 has started; after the lease lapses, a worker in this
 *    process resumes the run. Its backend is wrapped in a Proxy that counts
 *    `listStepAttempts` calls; the resume time is from the claim to the
 *    first step that runs again (history read plus replay).
 *
 * @module
 */

import { OpenWorkflow, type WorkflowRun } from "../../mod.ts";
import {
  type BackendKind,
  CallStats,
  Disturbed,
  instrument,
  mean,
  percentile,
  printSummary,
  printTable,
  ratio,
  round,
  sleep,
  withStore,
} from "./common.ts";
import { openBackend } from "./harness.ts";
import { defineLong } from "./workflows.ts";

/** Sizes of the long-workflow part. */
export interface LongOptions {
  databaseUrl: string;
  backends: readonly BackendKind[];
  /** Steps of the run. */
  steps: number;
  /** Kill the child once this step has started. */
  killAt: number;
  /** The child's lease. */
  leaseMs: number;
  log: (line: string) => void;
}

/** Late steps may cost this much more than early ones. */
const MAX_RATIO = 1.5;
const WINDOW = 100;

interface LongResult {
  steps: number;
  /** Uninterrupted run: time between step calls, ms. */
  firstP50: number;
  lastP50: number;
  firstMean: number;
  lastMean: number;
  ratioP50: number | null;
  ratioMean: number | null;
  /** A fresh 100-step run's steps, alongside the first window. */
  freshEarlyP50: number;
  /** A fresh 100-step run's steps, alongside the last window. */
  freshLateP50: number;
  /** The ratio, each window divided by its fresh run first. */
  driftCorrected: number | null;
  totalSeconds: number;
  /** `listStepAttempts` calls of the uninterrupted run (first claim). */
  uninterruptedHistoryReads: number;
  resume: ResumeResult;
  pass: boolean;
}

interface ResumeResult {
  /** The last step the killed child started. */
  killedAtStep: number;
  /** Attempts in the history when the new worker resumed. */
  historyAttempts: number;
  listStepAttemptsCalls: number;
  /** Claim to the first step that runs again. */
  resumeMs: number;
  /** Of which reading the history. */
  historyReadMs: number;
  /** The first step that ran again (earlier ones were replayed). */
  firstRerunStep: number;
  /** Steps the child had started that ran again (at least once delivery). */
  rerunSteps: number;
  /** Time between step calls after the resume, ms. */
  afterResumeP50: number;
  completed: boolean;
}

/** Runs part 2 on the chosen backends; prints a table and the JSON line. */
export async function runLong(o: LongOptions): Promise<void> {
  const results: Record<string, LongResult> = {};
  for (const kind of o.backends) {
    results[kind] = await withStore(
      kind,
      o,
      "long",
      (location) => longOn(kind, location, o),
    );
  }
  printTable(
    `Long workflows: ${o.steps} sequential steps (ms between step calls; ratio = last ${WINDOW} / first ${WINDOW}, each window with a fresh ${WINDOW}-step run alongside; drift-corrected = each window / its fresh run; target <= ${MAX_RATIO}); resume after SIGKILL at step ~${o.killAt}`,
    [
      "backend",
      `first ${WINDOW} p50`,
      `last ${WINDOW} p50`,
      "ratio p50",
      "ratio mean",
      "fresh runs alongside",
      "drift-corrected",
      "run s",
      "killed at",
      "history rows",
      "listStepAttempts",
      "resume ms",
      "of which read",
      "re-run steps",
      "after resume p50",
      "verdict",
    ],
    Object.entries(results).map(([kind, r]) => [
      kind,
      r.firstP50,
      r.lastP50,
      r.ratioP50,
      r.ratioMean,
      `${r.freshEarlyP50} / ${r.freshLateP50}`,
      r.driftCorrected,
      r.totalSeconds,
      r.resume.killedAtStep,
      r.resume.historyAttempts,
      r.resume.listStepAttemptsCalls,
      r.resume.resumeMs,
      r.resume.historyReadMs,
      r.resume.rerunSteps,
      r.resume.afterResumeP50,
      r.pass ? "PASS" : "FAIL",
    ]),
  );
  printSummary("long", {
    steps: o.steps,
    killAt: o.killAt,
    maxRatio: MAX_RATIO,
    pass: Object.fromEntries(
      Object.entries(results).map(([kind, r]) => [kind, r.pass]),
    ),
    ...results,
  });
}

async function longOn(
  kind: BackendKind,
  location: string,
  o: LongOptions,
): Promise<LongResult> {
  o.log(`${kind}: one uninterrupted run of ${o.steps} steps`);
  // Step call times by run length. Each window of the long run is measured
  // with a fresh 100-step run alongside (so both windows share the worker
  // alike), whose own steps tell how fast the machine was just then.
  const times = new Map<number, number[]>();
  const stats = new CallStats();
  const raw = await openBackend(kind, location);
  let totalSeconds: number;
  let historyReads: number;
  try {
    const ow = new OpenWorkflow({ backend: instrument(raw, stats) });
    const long = defineLong(ow, (_, steps) => {
      let list = times.get(steps);
      if (list === undefined) times.set(steps, list = []);
      list.push(performance.now());
    });
    const worker = ow.newWorker({ concurrency: 2 });
    await worker.start();
    try {
      await (await long.run(5)).result(); // warm-up
      stats.reset();
      const startedAt = performance.now();
      const [handle, early] = await Promise.all([
        long.run(o.steps),
        long.run(WINDOW + 1),
      ]);
      while ((times.get(o.steps)?.length ?? 0) < o.steps - WINDOW - 1) {
        await sleep(5);
      }
      const late = await long.run(WINDOW + 2);
      for (const h of [early, late, handle]) {
        await h.result({ timeoutMs: 170_000 });
      }
      totalSeconds = round((performance.now() - startedAt) / 1000, 1)!;
      historyReads = stats.count("listStepAttempts");
    } finally {
      await worker.stop();
    }
  } finally {
    await raw.stop();
  }
  if (historyReads !== 0) {
    // Claimed again mid-run: its lease lapsed (a dropped connection).
    throw new Disturbed("the uninterrupted run was claimed twice");
  }
  const gapsOf = (list: number[] = []) =>
    list.slice(1).map((t, i) => t - list[i]).slice(0, WINDOW);
  const gaps = gapsOf(times.get(o.steps)?.slice(0, WINDOW + 1));
  const first = gaps;
  const lastTimes = times.get(o.steps) ?? [];
  const last = gapsOf(lastTimes.slice(-WINDOW - 1));
  const p50 = (list: number[]) => percentile(list, 50);
  const freshEarly = gapsOf(times.get(WINDOW + 1));
  const freshLate = gapsOf(times.get(WINDOW + 2));
  const resume = await resumeOn(kind, location, o);
  const ratioP50 = ratio(p50(last), p50(first));
  // (last / fresh run alongside) / (first / fresh run alongside).
  const driftCorrected = ratio(
    p50(last) / p50(freshLate),
    p50(first) / p50(freshEarly),
  );
  return {
    steps: o.steps,
    firstP50: round(p50(first))!,
    lastP50: round(p50(last))!,
    firstMean: round(mean(first))!,
    lastMean: round(mean(last))!,
    ratioP50,
    ratioMean: ratio(mean(last), mean(first)),
    freshEarlyP50: round(p50(freshEarly))!,
    freshLateP50: round(p50(freshLate))!,
    driftCorrected,
    totalSeconds,
    uninterruptedHistoryReads: historyReads,
    resume,
    // A real growth shows in both ratios; machine drift only in the first.
    pass: Math.min(ratioP50 ?? Infinity, driftCorrected ?? Infinity) <=
        MAX_RATIO &&
      resume.listStepAttemptsCalls === 1 && resume.completed,
  };
}

async function resumeOn(
  kind: BackendKind,
  location: string,
  o: LongOptions,
): Promise<ResumeResult> {
  const clientBackend = await openBackend(kind, location);
  try {
    const client = new OpenWorkflow({ backend: clientBackend });
    const handle = await defineLong(client, () => {}).run(o.steps);
    o.log(`${kind}: a child process runs it, killed at step ${o.killAt}`);
    const killedAtStep = await runChildUntil(kind, location, o);
    // Wait for the dead child's lease to lapse.
    const run = await handle.refresh();
    const lapseMs = run.availableAt.getTime() - Date.now();
    if (lapseMs > 0) await sleep(lapseMs + 50);
    const historyAttempts = (await handle.listStepAttempts()).length;
    o.log(
      `${kind}: a new worker resumes it (${historyAttempts} attempts stored)`,
    );
    const resumed = await resumeInThisProcess(kind, location, handle.id, o);
    return {
      killedAtStep,
      historyAttempts,
      ...resumed,
      rerunSteps: Math.max(0, killedAtStep - resumed.firstRerunStep + 1),
    };
  } finally {
    await clientBackend.stop();
  }
}

/** Runs the child worker until it starts step `killAt`; kills it. */
async function runChildUntil(
  kind: BackendKind,
  location: string,
  o: LongOptions,
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./child.ts", import.meta.url).pathname,
      "long",
      "--backend",
      kind,
      "--location",
      location,
      "--lease-ms",
      String(o.leaseMs),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let lastStep = -1;
  const watchdog = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    let buffer = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        const match = line.match(/^step (\d+)$/);
        if (match) lastStep = Math.max(lastStep, Number(match[1]));
      }
      if (lastStep >= o.killAt) {
        child.kill("SIGKILL");
        break;
      }
    }
  } finally {
    clearTimeout(watchdog);
    await child.status;
  }
  return lastStep;
}

async function resumeInThisProcess(
  kind: BackendKind,
  location: string,
  workflowRunId: string,
  o: LongOptions,
): Promise<
  Omit<ResumeResult, "killedAtStep" | "historyAttempts" | "rerunSteps">
> {
  const stats = new CallStats();
  let claimedAt: number | null = null;
  let historyReadMs = 0;
  const raw = await openBackend(kind, location);
  const backend = instrument(raw, stats, (method, value) => {
    if (
      method === "claimWorkflowRuns" && claimedAt === null &&
      (value as WorkflowRun[]).some((run) => run.id === workflowRunId)
    ) claimedAt = performance.now();
    if (method === "listStepAttempts") {
      historyReadMs = stats.durationsMs.get(method)!.at(-1)!;
    }
  });
  const times: number[] = [];
  let firstRerunStep = -1;
  try {
    const ow = new OpenWorkflow({ backend });
    defineLong(ow, (i) => {
      if (firstRerunStep < 0) firstRerunStep = i;
      times.push(performance.now());
    });
    const worker = ow.newWorker({ concurrency: 1 });
    await worker.start();
    let completed = false;
    try {
      const handle = await ow.getRun<number>(workflowRunId);
      completed = (await handle!.result({ timeoutMs: 120_000 })) === o.steps;
    } finally {
      await worker.stop();
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    return {
      listStepAttemptsCalls: stats.count("listStepAttempts"),
      resumeMs: claimedAt === null || times.length === 0
        ? NaN
        : round(times[0] - claimedAt)!,
      historyReadMs: round(historyReadMs)!,
      firstRerunStep,
      afterResumeP50: round(percentile(gaps, 50))!,
      completed,
    };
  } finally {
    await raw.stop();
  }
}
