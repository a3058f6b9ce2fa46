/**
 * Conformance: the methods that act on many runs, or on a run by id with
 * a worker's say-so, see only their own namespace.
 */

import assert from "node:assert/strict";
import { type DefineCase, randomNamespace } from "./define.ts";
import { LeaseLostError } from "../../core/errors.ts";
import { runParams } from "./runs.ts";

export function namespaceConformance(define: DefineCase): void {
  define(
    "heartbeatWorkflowRun() cannot renew a lease of another namespace",
    async ({ backend, connect }) => {
      const other = await connect(randomNamespace());
      const run = await backend.createWorkflowRun(runParams("held"));
      const claimed = await backend.claimWorkflowRun({
        workerId: "w",
        leaseDurationMs: 10_000,
      });
      assert.equal(claimed?.id, run.id);
      await assert.rejects(
        other.heartbeatWorkflowRun({
          workflowRunId: run.id,
          workerId: "w",
          leaseDurationMs: 600_000,
        }),
        LeaseLostError,
      );
      const current = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.equal(current?.status, "running");
      assert.equal(
        current?.availableAt.getTime(),
        claimed!.availableAt.getTime(),
      );
      assert.equal(current?.updatedAt.getTime(), claimed!.updatedAt.getTime());
      // Its own namespace still renews it.
      await backend.heartbeatWorkflowRun({
        workflowRunId: run.id,
        workerId: "w",
        leaseDurationMs: 600_000,
      });
      const renewed = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.ok(renewed!.availableAt.getTime() > Date.now() + 500_000);
    },
    ["sharedStore"],
  );

  define(
    "failExpiredWorkflowRuns() fails only runs of its namespace",
    async ({ backend, connect }) => {
      const other = await connect(randomNamespace());
      const error = { name: "DeadlineExceededError", message: "deadline" };
      const past = { deadlineAt: new Date(Date.now() - 1000) };
      const mine = await backend.createWorkflowRun(runParams("d", past));
      const theirs = await other.createWorkflowRun(runParams("d", past));
      assert.equal(await other.failExpiredWorkflowRuns({ error }), 1);
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: mine.id }))?.status,
        "pending",
      );
      assert.equal(
        (await other.getWorkflowRun({ workflowRunId: theirs.id }))?.status,
        "failed",
      );
      assert.equal(await other.failExpiredWorkflowRuns({ error }), 0);
      assert.equal(await backend.failExpiredWorkflowRuns({ error }), 1);
      const failed = await backend.getWorkflowRun({ workflowRunId: mine.id });
      assert.equal(failed?.status, "failed");
      assert.deepEqual(failed?.error, error);
    },
    ["sharedStore"],
  );
}
