/**
 * The workflows of the chaos harness, shared by the worker processes (which
 * execute them) and the orchestrator (which starts runs and knows what each
 * run must end with).
 *
 * Every step function first records a side effect (through an
 * {@linkcode EffectRecorder}), then "works" for a short, deterministic
 * time, then returns a value computed from the run's input and earlier step
 * results. A run's outcome is therefore a pure function of its input,
 * whatever crashed on the way, and can be checked exactly.
 */

import type {
  OpenWorkflow,
  RetryPolicy,
  WorkflowDefinition,
} from "../../mod.ts";

/** Records that a step function was invoked, before it does anything else. */
export interface EffectRecorder {
  /**
   * Stores one side effect of the step `stepName` of run `runId`. Throws
   * when the side effect could not be stored: the step attempt then fails.
   */
  record(effect: SideEffect): Promise<void>;
}

/** One invocation of a step function. */
export interface SideEffect {
  /** The run's id. */
  runId: string;
  /** The step's name. */
  stepName: string;
  /** The attempt number the engine passed to the step function. */
  attempt: number;
}

/** The input of both chaos workflows. */
export interface ChaosInput {
  /** Makes each run's values and step timings its own. */
  seed: number;
  /** How many sequential steps. */
  depth: number;
  /** How many parallel steps. */
  width: number;
  /** The longest simulated work of one step, in milliseconds. */
  maxStepDelayMs: number;
  /** The durable sleep in the middle of the run, in milliseconds. */
  napMs: number;
}

/** What a `chaos-pipeline` run returns. */
export interface PipelineOutput {
  base: number;
  acc: number;
  parallel: number[];
  flaky: string;
  handled: string;
  total: number;
}

/** The names of the chaos workflows. */
export const PIPELINE = "chaos-pipeline";
/** A workflow whose runs fail on purpose, after a few steps. */
export const DOOMED_RUN = "chaos-doomed-run";

/**
 * Steps retry generously: a step attempt may also fail because the
 * harness dropped the side-effect connection, and that must not change the
 * run's outcome.
 */
const RETRY: RetryPolicy = {
  maxAttempts: 25,
  initialIntervalMs: 20,
  backoffCoefficient: 2,
  maxIntervalMs: 400,
};

/** The error a `chaos-doomed-run` run fails with. */
export class ChaosRunError extends Error {
  override name = "ChaosRunError";
}

class DoomedStepError extends Error {
  override name = "DoomedStepError";
}

/** A stable number in [0, 1) from a string (FNV-1a). */
export function hashUnit(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}

/** Waits `ms`, or rejects with `signal.reason` once `signal` aborts. */
export function work(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The chaos workflows, as defined on one client. */
export interface ChaosWorkflows {
  pipeline: WorkflowDefinition<ChaosInput, PipelineOutput>;
  doomedRun: WorkflowDefinition<ChaosInput, never>;
}

/**
 * Defines the chaos workflows on `ow`. `effects` receives every step
 * function invocation.
 */
export function defineChaosWorkflows(
  ow: OpenWorkflow,
  effects: EffectRecorder,
): ChaosWorkflows {
  const pipeline = ow.defineWorkflow<ChaosInput, PipelineOutput>(
    { name: PIPELINE },
    async ({ input, step, run }) => {
      const fx = <T>(name: string, value: () => T): Promise<T> =>
        step.run({ name, retry: RETRY }, async ({ signal, attempt }) => {
          await effects.record({ runId: run.id, stepName: name, attempt });
          await work(stepDelayMs(input, name), signal);
          return value();
        });
      const base = await fx("init", () => input.seed * 2);
      let acc = base;
      for (let i = 0; i < input.depth; i++) {
        const previous = acc;
        acc = await fx(`seq-${i}`, () => previous + i);
      }
      const before = acc;
      const parallel = await Promise.all(
        Array.from(
          { length: input.width },
          (_, j) => fx(`par-${j}`, () => before * 10 + j),
        ),
      );
      // Fails twice, then succeeds.
      const flaky = await step.run(
        { name: "flaky", retry: RETRY },
        async ({ signal, attempt }) => {
          await effects.record({ runId: run.id, stepName: "flaky", attempt });
          await work(stepDelayMs(input, "flaky"), signal);
          if (attempt <= 2) throw new Error(`flaky attempt ${attempt}`);
          return "flaky-ok";
        },
      );
      // Fails for good; the workflow handles it.
      let handled: string;
      try {
        await step.run(
          { name: "doomed", retry: { ...RETRY, maxAttempts: 2 } },
          async ({ signal, attempt }) => {
            await effects.record({
              runId: run.id,
              stepName: "doomed",
              attempt,
            });
            await work(stepDelayMs(input, "doomed"), signal);
            throw new DoomedStepError(`doomed attempt ${attempt}`);
          },
        );
        handled = "unreachable";
      } catch {
        handled = await fx("compensate", () => "compensated");
      }
      await step.sleep("nap", input.napMs);
      const total = await fx(
        "total",
        () => before + parallel.reduce((sum, value) => sum + value, 0),
      );
      return { base, acc, parallel, flaky, handled, total };
    },
  );
  const doomedRun = ow.defineWorkflow<ChaosInput, never>(
    { name: DOOMED_RUN },
    async ({ input, step, run }) => {
      const fx = <T>(name: string, value: () => T): Promise<T> =>
        step.run({ name, retry: RETRY }, async ({ signal, attempt }) => {
          await effects.record({ runId: run.id, stepName: name, attempt });
          await work(stepDelayMs(input, name), signal);
          return value();
        });
      const first = await fx("first", () => input.seed);
      await Promise.all([fx("left", () => first + 1), fx("right", () => 2)]);
      throw new ChaosRunError(`run ${input.seed} gave up`);
    },
  );
  return { pipeline, doomedRun };
}

/** The simulated work of one step: deterministic per run and step. */
function stepDelayMs(input: ChaosInput, name: string): number {
  return Math.floor(hashUnit(`${input.seed}:${name}`) * input.maxStepDelayMs);
}

/** How a run must end. */
export type ExpectedOutcome =
  | { status: "succeeded"; output: PipelineOutput }
  | { status: "failed"; errorName: string; errorMessage: string };

/** The outcome a run of `workflowName` with `input` must end with. */
export function expectedOutcome(
  workflowName: string,
  input: ChaosInput,
): ExpectedOutcome {
  if (workflowName === DOOMED_RUN) {
    return {
      status: "failed",
      errorName: "ChaosRunError",
      errorMessage: `run ${input.seed} gave up`,
    };
  }
  const base = input.seed * 2;
  let acc = base;
  for (let i = 0; i < input.depth; i++) acc += i;
  const parallel = Array.from({ length: input.width }, (_, j) => acc * 10 + j);
  return {
    status: "succeeded",
    output: {
      base,
      acc,
      parallel,
      flaky: "flaky-ok",
      handled: "compensated",
      total: acc + parallel.reduce((sum, value) => sum + value, 0),
    },
  };
}

/** The step names a successful run of `workflowName` records. */
export function expectedSteps(
  workflowName: string,
  input: ChaosInput,
): string[] {
  if (workflowName === DOOMED_RUN) return ["first", "left", "right"];
  return [
    "init",
    ...Array.from({ length: input.depth }, (_, i) => `seq-${i}`),
    ...Array.from({ length: input.width }, (_, j) => `par-${j}`),
    "flaky",
    "doomed",
    "compensate",
    "nap",
    "total",
  ];
}
