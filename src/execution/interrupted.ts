/**
 * Step attempts cut off by a crash or a lost lease: the next claim of the
 * run records them failed, so that they count against the step's retries.
 *
 * @module
 */

import type { StepAttempt } from "../core/backend.ts";
import { StepInterruptedError } from "../core/errors.ts";
import { serializeError } from "../core/json.ts";
import type { RunState } from "./run_state.ts";

/**
 * Records as failed (`StepInterruptedError`) a `run` attempt left `running`
 * by an earlier claim of the run. Such an attempt was cut off: the history
 * is read when the run is claimed, before the execution creates any
 * attempt (and a step name is used once per execution), and this claim
 * means the earlier owner's lease lapsed, so that every write of its own is
 * fenced (a worker that claims a run it held before executes it only once
 * its previous execution has ended). A sleep's attempt stays `running`
 * until the sleep ends, by design, and is never passed here.
 *
 * @returns The attempt as now stored, its `completedAt` as late as the
 * database clock may read (as for any failure an execution records), so
 * that the retry's due time computed from it is never early; and the error
 * it was recorded with.
 */
export async function failInterrupted(
  state: RunState,
  attempt: StepAttempt,
): Promise<{ attempt: StepAttempt; error: StepInterruptedError }> {
  const { backend, workerId } = state.options;
  const interrupted = new StepInterruptedError(
    state.run.id,
    attempt.stepName,
    attempt.id,
  );
  const error = serializeError(interrupted);
  delete error.stack; // where the cut was found says nothing of the cut
  await state.io(backend.markStepAttemptFailed({
    workflowRunId: state.run.id,
    stepAttemptId: attempt.id,
    workerId,
    error,
  }));
  return {
    attempt: {
      ...attempt,
      status: "failed",
      error,
      completedAt: new Date(state.latest()),
    },
    error: interrupted,
  };
}
