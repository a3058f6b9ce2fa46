/**
 * What operators do to runs: retry a failed or canceled run, fork a run
 * from one of its steps, delete finished runs. `OpenWorkflow.retryRun()`,
 * `forkRun()` and `deleteRuns()` call these.
 *
 * @module
 */

import {
  type Backend,
  TERMINAL_STATUSES,
  type WorkflowRun,
} from "../core/backend.ts";
import {
  StepNotFoundError,
  WorkflowRunNotFoundError,
  WorkflowRunStatusError,
} from "../core/errors.ts";
import {
  backendMethod,
  checkName,
  checkOptions,
  checkTime,
  received,
} from "../core/validate.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import {
  deleteFinishedRuns,
  type FinishedStatus,
} from "../worker/retention.ts";

/** Options of `OpenWorkflow.forkRun()`. */
export interface ForkRunOptions {
  /**
   * The step the new run starts from: the steps that completed before its
   * first attempt are copied to the new run as completed, the rest run
   * again. Without it, the new run starts from the beginning.
   * @default {undefined}
   */
  fromStep?: string;
}

/** Options of `OpenWorkflow.deleteRuns()`. */
export interface DeleteRunsOptions {
  /** Only runs that finished before this time. */
  finishedBefore: Date;
  /**
   * Only runs in this status or these statuses, finished ones only.
   * @default {["succeeded", "failed", "canceled"]}
   */
  status?: FinishedStatus | readonly FinishedStatus[];
  /**
   * Only runs of this workflow.
   * @default {undefined}
   */
  workflowName?: string;
  /**
   * Told the running total after each batch of deletions.
   * @default {undefined}
   */
  onProgress?: (deleted: number) => void;
}

const FINISHED = TERMINAL_STATUSES as readonly FinishedStatus[];

/**
 * Makes a failed or canceled run continue: completed steps keep their
 * results, steps that failed for good get a fresh retry budget.
 *
 * @throws {WorkflowRunNotFoundError} for an unknown id.
 * @throws {WorkflowRunStatusError} for a run that is not failed or
 * canceled.
 */
export async function retryRun(
  backend: Backend,
  workflowRunId: string,
): Promise<WorkflowRun> {
  const what = "retry run";
  checkName(workflowRunId, what, "workflowRunId");
  const retry = backendMethod(backend, "retryWorkflowRun", what);
  const outcome = await retry({ workflowRunId });
  if (outcome.kind === "not-found") {
    throw new WorkflowRunNotFoundError(workflowRunId);
  }
  if (outcome.kind === "not-retryable") {
    throw new WorkflowRunStatusError(
      workflowRunId,
      outcome.status,
      "retry",
      ["failed", "canceled"],
    );
  }
  notifyAvailable(backend, outcome.workflowRun.availableAt);
  return outcome.workflowRun;
}

/**
 * Starts a new run of the same workflow, version and input, with the steps
 * completed before `fromStep` copied.
 *
 * @throws {WorkflowRunNotFoundError} for an unknown id.
 * @throws {StepNotFoundError} for a `fromStep` the run never reached.
 */
export async function forkRun(
  backend: Backend,
  workflowRunId: string,
  options: ForkRunOptions | undefined,
): Promise<WorkflowRun> {
  const what = "fork run";
  checkName(workflowRunId, what, "workflowRunId");
  options = checkOptions(options, what);
  const fromStep = options.fromStep === undefined
    ? null
    : checkName(options.fromStep, what, "fromStep");
  const fork = backendMethod(backend, "forkWorkflowRun", what);
  const outcome = await fork({
    workflowRunId,
    id: crypto.randomUUID(),
    fromStep,
  });
  if (outcome.kind === "not-found") {
    throw new WorkflowRunNotFoundError(workflowRunId);
  }
  if (outcome.kind === "step-not-found") {
    throw new StepNotFoundError(workflowRunId, fromStep!);
  }
  notifyAvailable(backend, outcome.workflowRun.availableAt);
  return outcome.workflowRun;
}

/**
 * Deletes finished runs that match, in batches.
 *
 * @throws {TypeError|RangeError} for invalid options, naming them.
 */
export async function deleteRuns(
  backend: Backend,
  options: DeleteRunsOptions,
): Promise<number> {
  const what = "delete runs";
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'options' must be an object with 'finishedBefore', received ${
        received(options)
      }`,
    );
  }
  const finishedBefore = checkTime(
    options.finishedBefore,
    what,
    "finishedBefore",
  );
  const statuses = options.status === undefined
    ? [...FINISHED]
    : typeof options.status === "string"
    ? [options.status]
    : [...options.status];
  if (statuses.length === 0) {
    throw new RangeError(`Cannot ${what}: 'status' must name a status`);
  }
  for (const status of statuses) {
    if (!FINISHED.includes(status)) {
      throw new RangeError(
        `Cannot ${what}: 'status' may name finished statuses only (${
          FINISHED.join(", ")
        }), received ${received(status)}`,
      );
    }
  }
  const workflowName = options.workflowName === undefined
    ? null
    : checkName(options.workflowName, what, "workflowName");
  if (
    options.onProgress !== undefined &&
    typeof options.onProgress !== "function"
  ) {
    throw new TypeError(
      `Cannot ${what}: 'onProgress' must be a function, received ${
        received(options.onProgress)
      }`,
    );
  }
  backendMethod(backend, "deleteWorkflowRuns", what);
  return await deleteFinishedRuns(
    backend,
    { finishedBefore, statuses, workflowName },
    { onProgress: options.onProgress },
  );
}
