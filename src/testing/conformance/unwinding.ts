/**
 * Conformance: runs handed to a worker for their compensations. A run with
 * a completed step that has a compensation (a `succeeded` attempt whose
 * `config` has `compensate: true`) is not failed by the deadline sweep nor
 * canceled by a cancel that asks for compensations: it becomes claimable at
 * once with `context.unwind` saying why, its deadline cleared; a run with
 * nothing to compensate ends as before. `markWorkflowRunFailed` with
 * `status: "canceled"` ends it.
 */

import assert from "node:assert/strict";
import type { Backend, WorkflowRun } from "../../core/backend.ts";
import type { DefineCase } from "./define.ts";
import { claimRun, createRun, parkRun } from "./children.ts";

const CANCELED = { name: "WorkflowCanceledError", message: "canceled" };
const DEADLINE = { name: "DeadlineExceededError", message: "deadline" };

/**
 * A run of `workflowName` claimed by `w1` that completed step `step`
 * (with a compensation when `compensable`), then parked for an hour.
 */
async function parkedRunWithStep(
  backend: Backend,
  workflowName: string,
  compensable: boolean,
  overrides: { deadlineAt?: Date } = {},
): Promise<WorkflowRun> {
  const run = await createRun(backend, workflowName, overrides);
  await claimRun(backend, run);
  const attempt = await backend.createStepAttempt({
    workflowRunId: run.id,
    workerId: "w1",
    stepName: "reserve",
    kind: "run",
    config: compensable ? { retry: {}, compensate: true } : { retry: {} },
    context: null,
  });
  await backend.markStepAttemptSucceeded({
    workflowRunId: run.id,
    stepAttemptId: attempt.id,
    workerId: "w1",
    output: "seat",
  });
  await parkRun(backend, run);
  return run;
}

/** Reads `run` as stored now. */
async function read(backend: Backend, run: WorkflowRun): Promise<WorkflowRun> {
  const current = await backend.getWorkflowRun({ workflowRunId: run.id });
  assert.ok(current !== null, `${run.workflowName} exists`);
  return current;
}

/** `context.unwind` of `run`. */
function unwindOf(run: WorkflowRun): Record<string, unknown> {
  const context = run.context as Record<string, unknown> | null;
  assert.ok(context !== null && typeof context.unwind === "object");
  return context.unwind as Record<string, unknown>;
}

export function unwindingConformance(define: DefineCase): void {
  define(
    "cancelWorkflowRun() with compensate hands a run with compensations to a worker, and cancels one without at once",
    async ({ backend }) => {
      const saga = await parkedRunWithStep(backend, "saga", true);
      const plain = await parkedRunWithStep(backend, "plain", false);
      const child = await createRun(backend, "saga-child", {
        parentWorkflowRunId: saga.id,
      });
      const handedBack = await backend.cancelWorkflowRun({
        workflowRunId: saga.id,
        error: CANCELED,
        compensate: true,
      });
      assert.equal(handedBack?.status, "pending");
      assert.equal(handedBack?.completedAt, null);
      assert.ok(handedBack!.availableAt.getTime() <= Date.now() + 1_000);
      assert.deepEqual(unwindOf(handedBack!), {
        reason: "cancel",
        error: CANCELED,
        deadlineAt: null,
      });
      assert.equal((await read(backend, child)).status, "canceled");
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: plain.id,
        error: CANCELED,
        compensate: true,
      });
      assert.equal(canceled?.status, "canceled");
      // The handed-back run is claimable at once, and ends canceled.
      await claimRun(backend, saga, "w2");
      await backend.markWorkflowRunFailed({
        workflowRunId: saga.id,
        workerId: "w2",
        error: CANCELED,
        status: "canceled",
      });
      const ended = await read(backend, saga);
      assert.equal(ended.status, "canceled");
      assert.deepEqual(ended.error, CANCELED);
      assert.ok(ended.completedAt !== null);
      // Without compensate, a run with compensations is canceled at once.
      const other = await parkedRunWithStep(backend, "saga-2", true);
      const direct = await backend.cancelWorkflowRun({
        workflowRunId: other.id,
        error: CANCELED,
      });
      assert.equal(direct?.status, "canceled");
    },
  );

  define(
    "failExpiredWorkflowRuns() hands a run with compensations to a worker with its deadline, and fails one without",
    async ({ backend }) => {
      const soon = () => new Date(Date.now() + 300);
      const saga = await parkedRunWithStep(backend, "saga", true, {
        deadlineAt: soon(),
      });
      const plain = await parkedRunWithStep(backend, "plain", false, {
        deadlineAt: soon(),
      });
      const deadlineAt = saga.deadlineAt!.getTime();
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(
        await backend.failExpiredWorkflowRuns({ error: DEADLINE }),
        1,
      );
      assert.equal((await read(backend, plain)).status, "failed");
      const handedBack = await read(backend, saga);
      assert.equal(handedBack.status, "pending");
      assert.equal(handedBack.deadlineAt, null);
      assert.deepEqual(unwindOf(handedBack), {
        reason: "deadline",
        error: DEADLINE,
        deadlineAt,
      });
      // Swept again, it stays as it is; it is claimable at once.
      assert.equal(
        await backend.failExpiredWorkflowRuns({ error: DEADLINE }),
        0,
      );
      await claimRun(backend, saga, "w2");
    },
  );
}
