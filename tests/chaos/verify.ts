/**
 * The checks a chaos run ends with, as pure functions of what the database
 * holds once every run is terminal.
 */

import { isDeepStrictEqual } from "node:util";
import type { AttemptRow, EffectRow } from "./store.ts";
import {
  type ChaosInput,
  DOOMED_RUN,
  expectedOutcome,
  expectedSteps,
} from "./workflows.ts";

/** How a run ended, as its `result()` caller saw it. */
export type ActualOutcome =
  | { status: "succeeded"; output: unknown }
  | { status: "failed"; errorName: string; errorMessage: string }
  | { status: "other"; detail: string };

/** One run the harness started. */
export interface RunRecord {
  id: string;
  workflowName: string;
  input: ChaosInput;
  /** `null` when the run never reached a terminal status. */
  outcome: ActualOutcome | null;
}

/** What the checks found. */
export interface Verification {
  /** Every broken guarantee, one line each. Empty when all held. */
  violations: string[];
  /** Step attempts recorded by the engine. */
  stepAttempts: number;
  /** Side effects recorded by step functions. */
  sideEffects: number;
  /**
   * Steps (other than the ones that fail by design) whose function ran
   * more than once: re-executions of a step whose earlier owner died
   * before its success was recorded. Allowed (at-least-once), reported.
   */
  reexecutedSteps: number;
}

/** Steps that fail on purpose and so run more than once. */
const FAILING_BY_DESIGN = new Set(["flaky", "doomed"]);

/**
 * Checks every run's outcome, and every step's attempts and side effects:
 * - each run ended with exactly the outcome its input determines;
 * - no step has two succeeded attempts, nor any attempt after its
 *   succeeded one (a completed step never executes again);
 * - no side effect was committed after its step had been recorded as
 *   succeeded: neither by the database's own judgement at insert time
 *   (`afterSuccess`) nor by the timestamps (`insertedAt` later than the
 *   succeeded attempt's `completedAt`);
 * - a step function ran at most once per attempt (no invocation without an
 *   attempt), and every succeeded step did run.
 */
export function verifyChaos(
  runs: readonly RunRecord[],
  attempts: readonly AttemptRow[],
  effects: readonly EffectRow[],
): Verification {
  const violations: string[] = [];
  const byStep = new Map<
    string,
    { attempts: AttemptRow[]; effects: EffectRow[] }
  >();
  const entry = (runId: string, stepName: string) => {
    const key = `${runId} ${stepName}`;
    let value = byStep.get(key);
    if (value === undefined) {
      value = { attempts: [], effects: [] };
      byStep.set(key, value);
    }
    return value;
  };
  for (const attempt of attempts) {
    entry(attempt.runId, attempt.stepName).attempts.push(attempt);
  }
  for (const effect of effects) {
    entry(effect.runId, effect.stepName).effects.push(effect);
  }

  for (const run of runs) {
    const expected = expectedOutcome(run.workflowName, run.input);
    const actual = run.outcome;
    if (actual === null) {
      violations.push(`run ${run.id} (${run.workflowName}) never finished`);
      continue;
    }
    const matches = expected.status === "succeeded"
      ? actual.status === "succeeded" &&
        isDeepStrictEqual(actual.output, expected.output)
      : actual.status === "failed" &&
        actual.errorName === expected.errorName &&
        actual.errorMessage === expected.errorMessage;
    if (!matches) {
      violations.push(
        `run ${run.id} (${run.workflowName}) ended with ${
          JSON.stringify(actual)
        }, expected ${JSON.stringify(expected)}`,
      );
    }
    for (const stepName of expectedSteps(run.workflowName, run.input)) {
      const step = byStep.get(`${run.id} ${stepName}`);
      const shouldSucceed = !(run.workflowName !== DOOMED_RUN &&
        stepName === "doomed");
      const succeeded = step?.attempts.some((a) => a.status === "succeeded");
      if (shouldSucceed && !succeeded) {
        violations.push(
          `run ${run.id}: step ${stepName} has no succeeded attempt`,
        );
      }
    }
  }

  let reexecutedSteps = 0;
  for (const [key, step] of byStep) {
    const succeeded = step.attempts.filter((a) => a.status === "succeeded");
    if (succeeded.length > 1) {
      violations.push(`step ${key} succeeded ${succeeded.length} times`);
    }
    const success = succeeded[0];
    if (success !== undefined) {
      const later = step.attempts.filter((a) => a.seq > success.seq);
      if (later.length > 0) {
        violations.push(
          `step ${key} was attempted ${later.length} more time(s) after it succeeded`,
        );
      }
    }
    for (const effect of step.effects) {
      if (effect.afterSuccess) {
        violations.push(
          `step ${key}: side effect by ${effect.workerId} (attempt ${effect.attempt}) committed after the step was recorded as succeeded`,
        );
      } else if (
        success?.completedAtMs != null &&
        effect.insertedAtMs > success.completedAtMs
      ) {
        violations.push(
          `step ${key}: side effect by ${effect.workerId} inserted ${
            (effect.insertedAtMs - success.completedAtMs).toFixed(3)
          } ms after the step's success was recorded`,
        );
      }
    }
    const runAttempts = step.attempts.filter((a) => a.kind === "run");
    if (step.effects.length > runAttempts.length) {
      violations.push(
        `step ${key}: ${step.effects.length} side effects for ${runAttempts.length} attempts`,
      );
    }
    if (success?.kind === "run" && step.effects.length === 0) {
      violations.push(`step ${key} succeeded without running`);
    }
    const stepName = key.slice(key.indexOf(" ") + 1);
    if (!FAILING_BY_DESIGN.has(stepName) && step.effects.length > 1) {
      reexecutedSteps++;
    }
  }
  return {
    violations,
    stepAttempts: attempts.length,
    sideEffects: effects.length,
    reexecutedSteps,
  };
}
