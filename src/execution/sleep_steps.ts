/**
 * The durable sleep steps: `step.sleep()` and `step.sleepUntil()`. A sleep
 * records when it ends in its attempt, parks the run until then, and is
 * never slept twice.
 *
 * @module
 */

import type { StepAttempt } from "../core/backend.ts";
import type { RunState } from "./run_state.ts";
import { hasCome, type StepOutcome, SUSPENDED } from "./step_outcome.ts";

/** Sleeps until `resumeAt()` (computed once, when the sleep begins). */
export async function sleep(
  s: RunState,
  name: string,
  resumeAt: () => number,
): Promise<StepOutcome> {
  const last = s.history.get(name)?.at(-1);
  if (last?.status === "succeeded") return { kind: "value", value: null };
  if (s.unwinding) s.unwind();
  if (s.suspension !== null) return SUSPENDED;
  const { backend, workerId } = s.options;
  const workflowRunId = s.run.id;
  let attemptId: string;
  let resumeAtMs: number;
  const stored = last?.status === "running" ? resumeAtOf(last) : null;
  if (last !== undefined && stored !== null) {
    attemptId = last.id;
    resumeAtMs = stored;
  } else {
    resumeAtMs = resumeAt();
    const attempt = await s.io(backend.createStepAttempt({
      workflowRunId,
      workerId,
      stepName: name,
      kind: "sleep",
      config: {},
      context: { resumeAt: new Date(resumeAtMs).toISOString() },
    }));
    s.noteAttempt(attempt);
    s.startStepSpan(attempt, 1);
    attemptId = attempt.id;
  }
  if (!hasCome(s, resumeAtMs, stored !== null)) {
    s.park(resumeAtMs, "sleeping");
    return SUSPENDED;
  }
  s.endStepSpan(attemptId, "succeeded");
  await s.io(backend.markStepAttemptSucceeded({
    workflowRunId,
    stepAttemptId: attemptId,
    workerId,
    output: null,
  }));
  return { kind: "value", value: null };
}

/** When a sleep's attempt says it ends, or `null`. */
function resumeAtOf(attempt: StepAttempt): number | null {
  const context = attempt.context;
  if (
    attempt.kind !== "sleep" || context === null ||
    typeof context !== "object" ||
    Array.isArray(context) || typeof context.resumeAt !== "string"
  ) return null;
  const ms = Date.parse(context.resumeAt);
  return Number.isNaN(ms) ? null : ms;
}
