/**
 * Conformance: what the engine's retries, delayed starts, cancellation,
 * idempotency and status checks rely on.
 */

import assert from "node:assert/strict";
import { type DefineCase, delay, randomNamespace } from "./define.ts";
import { LeaseLostError } from "../../core/errors.ts";
import { createClaimed, runParams } from "./runs.ts";

export function lifecycleConformance(define: DefineCase): void {
  define(
    "releaseWorkflowRun({ context }) replaces the context; without it, the context stays",
    async ({ backend }) => {
      const id = await createClaimed(backend, "w1");
      const context = {
        workflowFailures: 1,
        retryCutoff: "2026-01-01T00:00:00.000Z",
        lastError: { name: "Error", message: "boom" },
      };
      await assert.rejects(
        backend.releaseWorkflowRun({
          workflowRunId: id,
          workerId: "w2",
          status: "pending",
          availableAt: null,
          context: { stolen: true },
        }),
        LeaseLostError,
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.context,
        null,
      );
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w1",
        status: "pending",
        availableAt: null,
        context,
      });
      const released = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(released?.status, "pending");
      assert.deepEqual(released?.context, context);

      // Claimed again, the run carries the context; a release without one
      // keeps it.
      const again = await backend.claimWorkflowRun({
        workerId: "w2",
        leaseDurationMs: 10_000,
      });
      assert.equal(again?.id, id);
      assert.deepEqual(again?.context, context);
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w2",
        status: "sleeping",
        availableAt: null,
      });
      assert.deepEqual(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.context,
        context,
      );

      // `context: null` clears it.
      await backend.claimWorkflowRun({
        workerId: "w3",
        leaseDurationMs: 10_000,
      });
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w3",
        status: "pending",
        availableAt: null,
        context: null,
      });
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.context,
        null,
      );
    },
  );

  define(
    "createWorkflowRun({ availableAfterMs }) delays the first claim by the backend's clock",
    async ({ backend }) => {
      const delayed = await backend.createWorkflowRun(
        runParams("delayed", { availableAfterMs: 400 }),
      );
      // (Postgres stamps `createdAt` with the statement's clock, a moment
      // after the transaction's `now()`.)
      const waitMs = delayed.availableAt.getTime() -
        delayed.createdAt.getTime();
      assert.ok(waitMs > 300 && waitMs <= 1_400, `available after ${waitMs}`);
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }),
        null,
      );
      // With `availableAt` given, `availableAfterMs` does not apply.
      const now = await backend.createWorkflowRun(
        runParams("now", {
          availableAt: new Date(Date.now() - 1_000),
          availableAfterMs: 60_000,
        }),
      );
      assert.equal(
        (await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }))?.id,
        now.id,
      );
      await delay(waitMs + 100);
      assert.equal(
        (await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }))?.id,
        delayed.id,
      );
    },
  );

  define(
    "cancelWorkflowRun() cancels a sleeping run for good",
    async ({ backend }) => {
      const error = { name: "WorkflowCanceledError", message: "canceled" };
      const id = await createClaimed(backend, "w1");
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w1",
        status: "sleeping",
        availableAt: new Date(Date.now() + 200),
      });
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: id,
        error,
      });
      assert.equal(canceled?.status, "canceled");
      assert.deepEqual(canceled?.error, error);
      assert.ok(canceled?.completedAt instanceof Date);
      await delay(300);
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w2",
          leaseDurationMs: 1000,
        }),
        null,
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.status,
        "canceled",
      );
      // Canceling again changes nothing.
      const again = await backend.cancelWorkflowRun({
        workflowRunId: id,
        error: { name: "Other", message: "other" },
      });
      assert.deepEqual(again?.error, error);
    },
  );

  define(
    "one idempotency key gives one run across backends connected separately",
    async ({ backend, connect, namespaceId }) => {
      const other = await connect(namespaceId);
      const starts = Array.from(
        { length: 20 },
        (_, i) =>
          (i % 2 === 0 ? backend : other).createWorkflowRun(
            runParams("idem-shared", {
              idempotencyKey: "shared",
              input: { from: i },
            }),
          ),
      );
      const runs = await Promise.all(starts);
      assert.equal(new Set(runs.map((run) => run.id)).size, 1);
      const page = await other.listWorkflowRuns({
        workflowName: "idem-shared",
        limit: 10,
      });
      assert.deepEqual(page.runs.map((run) => run.id), [runs[0].id]);
      assert.deepEqual(page.runs[0].input, runs[0].input);
    },
    ["sharedStore"],
  );

  define(
    "getWorkflowRunStatuses() reads the statuses of many runs",
    async ({ backend, connect }) => {
      const running = await createClaimed(backend, "w1");
      await backend.cancelWorkflowRun({ workflowRunId: running, error: {} });
      const pending = await backend.createWorkflowRun(runParams());
      const elsewhere = await (await connect(randomNamespace()))
        .createWorkflowRun(runParams());
      const statuses = await backend.getWorkflowRunStatuses!({
        workflowRunIds: [
          pending.id,
          running.toUpperCase(),
          crypto.randomUUID(),
          "not-a-uuid",
          elsewhere.id,
        ],
      });
      assert.deepEqual(
        statuses.sort((a, b) => a.status.localeCompare(b.status)),
        [
          { id: running, status: "canceled" },
          { id: pending.id, status: "pending" },
        ],
      );
      assert.deepEqual(
        await backend.getWorkflowRunStatuses!({ workflowRunIds: [] }),
        [],
      );
    },
    ["sharedStore", "getWorkflowRunStatuses"],
  );
}
