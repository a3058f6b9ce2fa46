/**
 * Conformance: the operators' methods: `retryWorkflowRun()` (failed and
 * canceled runs only, claimable at once, the retry state reset),
 * `forkWorkflowRun()` (the steps before `fromStep` copied, the source
 * recorded), `deleteWorkflowRuns()` (finished runs only, at most `limit`,
 * oldest first, with their step attempts) and the maintenance locks.
 */

import assert from "node:assert/strict";
import type { Backend } from "../../core/backend.ts";
import { type DefineCase, delay } from "./define.ts";
import { runParams } from "./runs.ts";

/** The backend's operators' methods; each must be implemented. */
function operations(backend: Backend) {
  const names = [
    "retryWorkflowRun",
    "forkWorkflowRun",
    "deleteWorkflowRuns",
    "acquireMaintenanceLock",
    "releaseMaintenanceLock",
  ] as const;
  for (const name of names) {
    assert.equal(typeof backend[name], "function", `${name}() is implemented`);
  }
  return {
    retry: backend.retryWorkflowRun!.bind(backend),
    fork: backend.forkWorkflowRun!.bind(backend),
    delete: backend.deleteWorkflowRuns!.bind(backend),
    acquire: backend.acquireMaintenanceLock!.bind(backend),
    release: backend.releaseMaintenanceLock!.bind(backend),
  };
}

/** A run claimed by `w1` that ran steps `names` (succeeded), then failed. */
async function failedRunWithSteps(
  backend: Backend,
  names: string[],
): Promise<string> {
  const run = await backend.createWorkflowRun(runParams("ops"));
  const claimed = await backend.claimWorkflowRun({
    workerId: "w1",
    leaseDurationMs: 30_000,
  });
  assert.equal(claimed?.id, run.id);
  for (const stepName of names) {
    const attempt = await backend.createStepAttempt({
      workflowRunId: run.id,
      workerId: "w1",
      stepName,
      kind: "run",
      config: {},
      context: null,
    });
    await backend.markStepAttemptSucceeded({
      workflowRunId: run.id,
      stepAttemptId: attempt.id,
      workerId: "w1",
      output: `${stepName}-out`,
    });
  }
  await backend.markWorkflowRunFailed({
    workflowRunId: run.id,
    workerId: "w1",
    error: { message: "broken" },
  });
  return run.id;
}

export function operationsConformance(define: DefineCase): void {
  define(
    "retryWorkflowRun() makes a failed or canceled run pending and claimable at once; other statuses and unknown ids change nothing",
    async ({ backend }) => {
      const ops = operations(backend);
      const id = await failedRunWithSteps(backend, ["a"]);
      const outcome = await ops.retry({ workflowRunId: id });
      assert.equal(outcome.kind, "retried");
      if (outcome.kind !== "retried") return;
      const run = outcome.workflowRun;
      assert.equal(run.status, "pending");
      assert.equal(run.error, null);
      assert.equal(run.completedAt, null);
      assert.equal(run.workerId, null);
      const context = run.context as Record<string, unknown>;
      assert.equal(context.workflowFailures, 0);
      assert.equal(typeof context.retryCutoff, "string");
      const claimed = await backend.claimWorkflowRun({
        workerId: "w2",
        leaseDurationMs: 30_000,
      });
      assert.equal(claimed?.id, id, "claimable at once");
      assert.deepEqual(await ops.retry({ workflowRunId: id }), {
        kind: "not-retryable",
        status: "running",
      });
      await backend.cancelWorkflowRun({
        workflowRunId: id,
        error: { message: "stop" },
      });
      assert.equal((await ops.retry({ workflowRunId: id })).kind, "retried");
      assert.deepEqual(
        await ops.retry({ workflowRunId: crypto.randomUUID() }),
        { kind: "not-found" },
      );
      assert.deepEqual(await ops.retry({ workflowRunId: "nope" }), {
        kind: "not-found",
      });
    },
    ["operations"],
  );

  define(
    "forkWorkflowRun() copies the steps that succeeded before fromStep to a new pending run that records its source",
    async ({ backend }) => {
      const ops = operations(backend);
      const source = await failedRunWithSteps(backend, ["a", "b", "c"]);
      const id = crypto.randomUUID();
      const outcome = await ops.fork({
        workflowRunId: source,
        id,
        fromStep: "c",
      });
      assert.equal(outcome.kind, "forked");
      if (outcome.kind !== "forked") return;
      assert.equal(outcome.copiedSteps, 2);
      assert.equal(outcome.workflowRun.id, id);
      assert.equal(outcome.workflowRun.status, "pending");
      assert.equal(outcome.workflowRun.forkedFromWorkflowRunId, source);
      assert.deepEqual(outcome.workflowRun.input, { n: 1 });
      const steps = await backend.listStepAttempts({ workflowRunId: id });
      assert.deepEqual(
        steps.map((s) => [s.stepName, s.status, s.output]),
        [["a", "succeeded", "a-out"], ["b", "succeeded", "b-out"]],
      );
      const none = await ops.fork({
        workflowRunId: source,
        id: crypto.randomUUID(),
        fromStep: null,
      });
      assert.equal(none.kind === "forked" && none.copiedSteps, 0);
      const before = (await backend.listWorkflowRuns({ limit: 100 })).runs
        .length;
      assert.deepEqual(
        await ops.fork({
          workflowRunId: source,
          id: crypto.randomUUID(),
          fromStep: "z",
        }),
        { kind: "step-not-found" },
      );
      assert.deepEqual(
        await ops.fork({
          workflowRunId: crypto.randomUUID(),
          id: crypto.randomUUID(),
          fromStep: null,
        }),
        { kind: "not-found" },
      );
      assert.equal(
        (await backend.listWorkflowRuns({ limit: 100 })).runs.length,
        before,
        "nothing created",
      );
      await assert.rejects(
        ops.fork({ workflowRunId: source, id: "not-a-uuid", fromStep: null }),
        TypeError,
      );
    },
    ["operations"],
  );

  define(
    "deleteWorkflowRuns() deletes at most `limit` finished runs that match, oldest finished first, with their step attempts; never an unfinished run",
    async ({ backend }) => {
      const ops = operations(backend);
      const first = await failedRunWithSteps(backend, ["a"]);
      await delay(5);
      const second = await failedRunWithSteps(backend, ["a"]);
      const pending = await backend.createWorkflowRun(runParams("ops"));
      const finishedBefore = new Date(Date.now() + 60_000);
      assert.equal(
        await ops.delete({
          finishedBefore,
          statuses: ["succeeded"],
          limit: 10,
        }),
        0,
      );
      assert.equal(
        await ops.delete({
          finishedBefore,
          statuses: ["failed"],
          workflowName: "other",
          limit: 10,
        }),
        0,
      );
      assert.equal(
        await ops.delete({ finishedBefore, statuses: ["failed"], limit: 1 }),
        1,
      );
      assert.equal(
        await backend.getWorkflowRun({ workflowRunId: first }),
        null,
      );
      assert.deepEqual(
        await backend.listStepAttempts({ workflowRunId: first }),
        [],
      );
      assert.ok(await backend.getWorkflowRun({ workflowRunId: second }));
      assert.equal(
        await ops.delete({
          finishedBefore,
          statuses: ["failed", "canceled", "succeeded"],
          limit: 10,
        }),
        1,
      );
      assert.ok(
        await backend.getWorkflowRun({ workflowRunId: pending.id }),
        "an unfinished run stays",
      );
      await assert.rejects(
        ops.delete({
          finishedBefore,
          statuses: ["pending" as "failed"],
          limit: 10,
        }),
        RangeError,
      );
    },
    ["operations"],
  );

  define(
    "maintenance locks: one owner at a time per namespace and name, renewable, released by their owner, free once lapsed",
    async ({ backend, namespaceId, connect }) => {
      const ops = operations(backend);
      const other = operations(await connect(namespaceId));
      const lock = { name: "sweep", durationMs: 200 };
      assert.equal(await ops.acquire({ ...lock, ownerId: "a" }), true);
      assert.equal(await other.acquire({ ...lock, ownerId: "b" }), false);
      assert.equal(
        await other.acquire({ ...lock, name: "other", ownerId: "b" }),
        true,
        "another name",
      );
      assert.equal(await ops.acquire({ ...lock, ownerId: "a" }), true);
      await other.release({ name: "sweep", ownerId: "b" });
      assert.equal(await other.acquire({ ...lock, ownerId: "b" }), false);
      await ops.release({ name: "sweep", ownerId: "a" });
      assert.equal(await other.acquire({ ...lock, ownerId: "b" }), true);
      await delay(300);
      assert.equal(await ops.acquire({ ...lock, ownerId: "a" }), true);
    },
    ["sharedStore", "operations"],
  );
}
