/**
 * The child-workflow steps: `step.runWorkflow()` (start a child run and wait
 * for its output, durably) and `step.startWorkflow()` (start a detached
 * child run). A replay never starts a second child: each is created under
 * an idempotency key of the parent run and step.
 *
 * @module
 */

import { MAX_TIME_MS } from "../core/duration.ts";
import {
  StepTimeoutError,
  WorkflowCanceledError,
  WorkflowFailedError,
} from "../core/errors.ts";
import {
  deserializeError,
  type JsonValue,
  serializeError,
} from "../core/json.ts";
import type { StepAttempt, WorkflowRun } from "../core/records.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import type { flowParams } from "../core/flow_control.ts";
import { childTraceContext } from "../telemetry/tracing.ts";
import type { RunState } from "./run_state.ts";
import {
  failForGood,
  hasCome,
  openAttempt,
  standing,
  stepKey,
  type StepOutcome,
  storedTime,
  succeed,
  SUSPENDED,
  timeoutAt,
} from "./step_outcome.ts";

/** A child step, as checked by the step API. */
export interface ChildStart {
  name: string;
  workflowName: string;
  version: string | null;
  input: JsonValue;
  timeoutMs: number | undefined;
  /** The child's priority and flow-control keys. */
  flow: ReturnType<typeof flowParams>;
}

/** Creates the child run (or finds the one a former execution created). */
function createChild(
  s: RunState,
  child: ChildStart,
  detached: boolean,
): Promise<WorkflowRun> {
  return s.io(s.options.backend.createWorkflowRun({
    workflowName: child.workflowName,
    version: child.version,
    config: {},
    // The child continues the parent's trace.
    context: childTraceContext(s.options.span, s.run),
    input: child.input,
    availableAt: null,
    deadlineAt: null,
    idempotencyKey: stepKey(s, child.name),
    parentWorkflowRunId: s.run.id,
    detached,
    ...child.flow,
  }));
}

function childIdOf(attempt: StepAttempt): string | null {
  const context = attempt.context;
  return context !== null && typeof context === "object" &&
      !Array.isArray(context) && typeof context.childWorkflowRunId === "string"
    ? context.childWorkflowRunId
    : null;
}

/**
 * Runs a child workflow: starts it, parks the parent until it finishes
 * (its end wakes the parent) or the timeout passes, and returns its output
 * or its failure.
 */
export async function runWorkflow(
  s: RunState,
  child: ChildStart,
): Promise<StepOutcome> {
  const at = standing(s, child.name);
  if ("outcome" in at) return at.outcome;
  const { backend } = s.options;
  let run: WorkflowRun | null;
  let attempt = at.attempt;
  if (attempt === undefined) {
    run = await createChild(s, child, false);
    notifyAvailable(backend);
    attempt = await openAttempt(s, undefined, {
      stepName: child.name,
      kind: "workflow",
      config: {
        workflowName: child.workflowName,
        version: child.version,
        timeoutAt: timeoutAt(s, child.timeoutMs),
      },
      context: { childWorkflowRunId: run.id },
    });
  } else {
    const id = childIdOf(attempt);
    run = id === null ? null : await s.io(
      backend.getWorkflowRun({ workflowRunId: id }),
    );
  }
  if (run === null) {
    // The child is gone (deleted): the step cannot complete.
    return await failForGood(
      s,
      attempt.id,
      new WorkflowCanceledError(childIdOf(attempt) ?? ""),
    );
  }
  switch (run.status) {
    case "succeeded":
      return succeed(s, attempt.id, run.output);
    case "failed":
      return await failForGood(
        s,
        attempt.id,
        new WorkflowFailedError(run.id, deserializeError(run.error)),
      );
    case "canceled":
      return await failForGood(
        s,
        attempt.id,
        new WorkflowCanceledError(run.id),
      );
  }
  const timeoutAtMs = storedTime(attempt, "timeoutAt");
  if (
    timeoutAtMs !== null &&
    hasCome(s, timeoutAtMs, attempt === at.attempt)
  ) {
    await s.io(backend.cancelWorkflowRun({
      workflowRunId: run.id,
      error: serializeError(new WorkflowCanceledError(run.id)),
    }));
    return await failForGood(
      s,
      attempt.id,
      new StepTimeoutError(child.name, child.timeoutMs ?? 0),
    );
  }
  s.park(timeoutAtMs ?? MAX_TIME_MS, "sleeping");
  return SUSPENDED;
}

/** Starts a detached child run, once; returns its id. */
export async function startWorkflow(
  s: RunState,
  child: ChildStart,
): Promise<StepOutcome> {
  const at = standing(s, child.name);
  if ("outcome" in at) return at.outcome;
  const attempt = await openAttempt(s, at.attempt, {
    stepName: child.name,
    kind: "workflow",
    config: {
      workflowName: child.workflowName,
      version: child.version,
      detached: true,
    },
    context: null,
  });
  const run = await createChild(s, child, true);
  notifyAvailable(s.options.backend);
  return succeed(s, attempt.id, { workflowRunId: run.id });
}
