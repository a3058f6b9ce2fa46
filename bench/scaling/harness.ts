/**
 * A client and a worker on one backend kind, with the two workflows the
 * latency measurements use, and every backend call counted and timed.
 *
 * @module
 */

import {
  type Backend,
  OpenWorkflow,
  type Worker,
  type WorkflowDefinition,
  type WorkflowSelector,
} from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import {
  type BackendKind,
  CallStats,
  instrument,
  percentile,
} from "./common.ts";

/** Options of {@linkcode openBackend}. */
export interface OpenBackendOptions {
  /** Postgres: LISTEN for notifications. */
  listen?: boolean;
  /** Postgres: the pool size. */
  maxConnections?: number;
}

/** Connects a backend: `location` is a Postgres URL or a SQLite path. */
export async function openBackend(
  kind: BackendKind,
  location: string,
  options: OpenBackendOptions = {},
): Promise<Backend> {
  if (kind === "sqlite") return await BackendSqlite.connect(location);
  return await BackendPostgres.connect(location, {
    ...(options.listen === undefined ? {} : { listen: options.listen }),
    ...(options.maxConnections === undefined
      ? {}
      : { maxConnections: options.maxConnections }),
  });
}

/** The workflow of one step (run → result latency). */
export const ONE_STEP = "scale-one-step";
/** The workflow of `input` sequential steps (per-step latency). */
export const MANY_STEPS = "scale-steps";

/** A client, and workers made on demand, sharing call statistics. */
export interface Harness {
  kind: BackendKind;
  /** Every call of the client's and the workers' backends. */
  stats: CallStats;
  one: WorkflowDefinition<null, number>;
  steps: WorkflowDefinition<number, number>;
  /** `performance.now()` at each step function call of `steps`. */
  stepTimes: number[];
  /** The workers' backend, not instrumented (for probes). */
  rawWorkerBackend: Backend;
  /** What the workers claim. */
  selectors: WorkflowSelector[];
  /** A new worker (concurrency 10); start it, and stop it when done. */
  newWorker(): Worker;
  /** Closes the backends. */
  stop(): Promise<void>;
}

/**
 * Opens a client and the backend of its workers. On Postgres they have
 * separate backends (separate pools), as in separate processes; on SQLite
 * they share one (one connection per process), so wake-ups stay local.
 */
export async function openHarness(
  kind: BackendKind,
  location: string,
): Promise<Harness> {
  const stats = new CallStats();
  const rawWorkerBackend = await openBackend(kind, location);
  const rawClientBackend = kind === "sqlite"
    ? rawWorkerBackend
    : await openBackend(kind, location);
  const workerBackend = instrument(rawWorkerBackend, stats);
  const clientBackend = kind === "sqlite"
    ? workerBackend
    : instrument(rawClientBackend, stats);
  const stepTimes: number[] = [];
  const define = (ow: OpenWorkflow) => ({
    one: ow.defineWorkflow<null, number>(
      { name: ONE_STEP },
      async ({ step }) => await step.run({ name: "only" }, () => 1),
    ),
    steps: ow.defineWorkflow<number, number>(
      { name: MANY_STEPS },
      async ({ input, step }) => {
        for (let i = 0; i < input; i++) {
          await step.run({ name: `step-${i}` }, () => {
            stepTimes.push(performance.now());
            return i;
          });
        }
        return input;
      },
    ),
  });
  const client = define(new OpenWorkflow({ backend: clientBackend }));
  const workerSide = new OpenWorkflow({ backend: workerBackend });
  define(workerSide);
  return {
    kind,
    stats,
    one: client.one,
    steps: client.steps,
    stepTimes,
    rawWorkerBackend,
    selectors: [
      { name: ONE_STEP, version: null },
      { name: MANY_STEPS, version: null },
    ],
    newWorker: () => workerSide.newWorker({ concurrency: 10 }),
    async stop() {
      if (rawClientBackend !== rawWorkerBackend) await rawClientBackend.stop();
      await rawWorkerBackend.stop();
    },
  };
}

/** Samples of {@linkcode measureBlock}, accumulated over blocks. */
export class LatencySamples {
  readonly runToResult: number[] = [];
  readonly perStep: number[] = [];
  readonly claimProbe: number[] = [];
  /** Milliseconds spent on one-step runs so far. */
  runsMs = 0;
}

/** Sizes of one {@linkcode measureBlock}. */
export interface BlockOptions {
  /** Sequential one-step runs, each `run()` then `result()`. */
  runs: number;
  /** Stop starting one-step runs after this long. */
  maxRunsMs: number;
  /** Runs of the many-step workflow. */
  stepRuns: number;
  /** Steps of each. */
  steps: number;
  /** Direct claim probes. */
  probes: number;
}

/**
 * With a fresh worker: `runs` sequential one-step runs (run → result),
 * `stepRuns` runs of `steps` sequential steps (time between step calls),
 * and `probes` direct claims for the worker's workflows while none is due.
 */
export async function measureBlock(
  h: Harness,
  samples: LatencySamples,
  options: BlockOptions,
): Promise<void> {
  const worker = h.newWorker();
  await worker.start();
  try {
    const startedAt = performance.now();
    for (let i = 0; i < options.runs; i++) {
      if (performance.now() - startedAt > options.maxRunsMs) break;
      const runStartedAt = performance.now();
      await (await h.one.run(null)).result();
      samples.runToResult.push(performance.now() - runStartedAt);
    }
    samples.runsMs += performance.now() - startedAt;
    for (let r = 0; r < options.stepRuns; r++) {
      h.stepTimes.length = 0;
      await (await h.steps.run(options.steps)).result();
      for (let i = 1; i < h.stepTimes.length; i++) {
        samples.perStep.push(h.stepTimes[i] - h.stepTimes[i - 1]);
      }
    }
  } finally {
    await worker.stop();
  }
  for (let i = 0; i < options.probes; i++) await probeClaim(h, samples);
}

/** One claim for the workers' workflows while none is due, timed. */
export async function probeClaim(
  h: Harness,
  samples: LatencySamples,
): Promise<void> {
  const startedAt = performance.now();
  await h.rawWorkerBackend.claimWorkflowRuns({
    workerId: "scale-probe",
    leaseDurationMs: 30_000,
    workflows: h.selectors,
    limit: 10,
  });
  samples.claimProbe.push(performance.now() - startedAt);
}

/** The medians (and a few p95s) of samples and call statistics, in ms. */
export interface Latencies {
  runs: number;
  runToResultP50: number;
  runToResultP95: number;
  perStepP50: number;
  perStepP95: number;
  /** Direct claims for the worker's workflows while none is due. */
  claimProbeP50: number;
  /** The workers' claims (those that found a run and those that did not). */
  claimP50: number | null;
  createWorkflowRunP50: number | null;
  getWorkflowRunP50: number | null;
  createStepAttemptP50: number | null;
  markStepAttemptSucceededP50: number | null;
  markWorkflowRunSucceededP50: number | null;
}

/** Summarizes samples and the harness's call statistics. */
export function summarizeLatencies(
  h: Harness,
  samples: LatencySamples,
): Latencies {
  const p50 = (method: string) => h.stats.p50(method);
  return {
    runs: samples.runToResult.length,
    runToResultP50: percentile(samples.runToResult, 50),
    runToResultP95: percentile(samples.runToResult, 95),
    perStepP50: percentile(samples.perStep, 50),
    perStepP95: percentile(samples.perStep, 95),
    claimProbeP50: percentile(samples.claimProbe, 50),
    claimP50: p50("claimWorkflowRuns"),
    createWorkflowRunP50: p50("createWorkflowRun"),
    getWorkflowRunP50: p50("getWorkflowRun"),
    createStepAttemptP50: p50("createStepAttempt"),
    markStepAttemptSucceededP50: p50("markStepAttemptSucceeded"),
    markWorkflowRunSucceededP50: p50("markWorkflowRunSucceeded"),
  };
}
