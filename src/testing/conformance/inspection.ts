/**
 * Conformance: the operators' read-only methods: `countWorkflowRuns()`
 * (by workflow and status, filtered, namespaced), `getQueueStatistics()`
 * (the oldest claimable run and the most overdue schedule, by the
 * backend's clock) and `listSignals()` (received and waiting signals, in
 * the order sent).
 */

import assert from "node:assert/strict";
import type { Backend } from "../../core/backend.ts";
import { type DefineCase, delay } from "./define.ts";
import { runParams } from "./runs.ts";

/** The backend's inspection methods; each must be implemented. */
function inspection(backend: Backend) {
  const names = [
    "countWorkflowRuns",
    "getQueueStatistics",
    "listSignals",
  ] as const;
  for (const name of names) {
    assert.equal(typeof backend[name], "function", `${name}() is implemented`);
  }
  return {
    count: backend.countWorkflowRuns!.bind(backend),
    statistics: backend.getQueueStatistics!.bind(backend),
    signals: backend.listSignals!.bind(backend),
  };
}

export function inspectionConformance(define: DefineCase): void {
  define(
    "countWorkflowRuns() counts the namespace's runs by workflow and status, with the filters given",
    async ({ backend, connect }) => {
      const ops = inspection(backend);
      const other = await connect(`other-${crypto.randomUUID()}`);
      await other.createWorkflowRun(runParams("email"));
      assert.deepEqual(await ops.count({}), []);
      const first = await backend.createWorkflowRun(runParams("email"));
      await delay(5);
      const middle = await backend.createWorkflowRun(runParams("email"));
      await backend.createWorkflowRun(runParams("report"));
      await backend.claimWorkflowRun({
        workerId: "w1",
        leaseDurationMs: 30_000,
        workflows: [{ name: "report", version: null }],
      });
      await backend.cancelWorkflowRun({
        workflowRunId: first.id,
        error: { message: "canceled" },
      });
      assert.deepEqual(await ops.count({}), [
        { workflowName: "email", status: "canceled", count: 1 },
        { workflowName: "email", status: "pending", count: 1 },
        { workflowName: "report", status: "running", count: 1 },
      ]);
      assert.deepEqual(await ops.count({ workflowName: "report" }), [
        { workflowName: "report", status: "running", count: 1 },
      ]);
      assert.deepEqual(
        await ops.count({
          workflowName: "email",
          createdAfter: middle.createdAt,
        }),
        [{ workflowName: "email", status: "pending", count: 1 }],
      );
      assert.deepEqual(
        await ops.count({
          workflowName: "email",
          createdBefore: middle.createdAt,
        }),
        [{ workflowName: "email", status: "canceled", count: 1 }],
      );
    },
    ["sharedStore"],
  );

  define(
    "getQueueStatistics() gives the backend's now and the availableAt of the oldest claimable run",
    async ({ backend }) => {
      const ops = inspection(backend);
      const empty = await ops.statistics();
      assert.ok(empty.now instanceof Date);
      assert.equal(empty.oldestClaimableAvailableAt, null);
      assert.equal(empty.oldestDueScheduleAt, null);
      // Not claimable: in the future, or past its deadline, or finished.
      await backend.createWorkflowRun(
        runParams("later", { availableAfterMs: 60_000 }),
      );
      await backend.createWorkflowRun(
        runParams("late", {
          availableAt: new Date(Date.now() - 120_000),
          deadlineAt: new Date(Date.now() - 60_000),
        }),
      );
      assert.equal((await ops.statistics()).oldestClaimableAvailableAt, null);
      const oldest = await backend.createWorkflowRun(
        runParams("job", { availableAt: new Date(Date.now() - 30_000) }),
      );
      await backend.createWorkflowRun(runParams("job"));
      const stats = await ops.statistics();
      assert.deepEqual(stats.oldestClaimableAvailableAt, oldest.availableAt);
      assert.ok(stats.now.getTime() - oldest.availableAt.getTime() >= 30_000);
      // Held under a live lease, it is not claimable.
      await backend.claimWorkflowRuns({
        workerId: "w1",
        leaseDurationMs: 30_000,
        workflows: [{ name: "job", version: null }],
        limit: 10,
      });
      assert.equal((await ops.statistics()).oldestClaimableAvailableAt, null);
    },
  );

  define(
    "getQueueStatistics() gives the nextRunAt of the most overdue unpaused schedule",
    async ({ backend }) => {
      const ops = inspection(backend);
      const base = {
        workflowName: "report",
        version: null,
        cron: "0 3 * * *",
        timezone: "UTC",
        input: null,
        catchUp: "latest" as const,
        ifExists: "fail" as const,
      };
      const now = Date.now();
      await backend.createSchedule!({
        ...base,
        id: "future",
        nextRunAt: new Date(now + 3_600_000),
      });
      assert.equal((await ops.statistics()).oldestDueScheduleAt, null);
      await backend.createSchedule!({
        ...base,
        id: "late",
        nextRunAt: new Date(now - 60_000),
      });
      await backend.createSchedule!({
        ...base,
        id: "paused",
        nextRunAt: new Date(now - 120_000),
      });
      await backend.updateSchedule!({ id: "paused", paused: true });
      const stats = await ops.statistics();
      assert.equal(stats.oldestDueScheduleAt?.getTime(), now - 60_000);
    },
    ["schedules"],
  );

  define(
    "listSignals() lists a run's received and waiting signals in the order sent; unknown ids list none",
    async ({ backend }) => {
      const ops = inspection(backend);
      assert.deepEqual(await ops.signals({ workflowRunId: "not-a-uuid" }), []);
      assert.deepEqual(
        await ops.signals({ workflowRunId: crypto.randomUUID() }),
        [],
      );
      const run = await backend.createWorkflowRun(runParams("approve"));
      const other = await backend.createWorkflowRun(runParams("approve"));
      const send = (signal: string, workflowRunId: string | null) =>
        backend.sendSignal!({
          signal,
          data: { signal },
          workflowRunId,
          idempotencyKey: null,
        });
      await send("first", run.id);
      await send("elsewhere", other.id);
      await delay(5);
      await send("broadcast", null);
      await send("second", run.id);
      await backend.claimWorkflowRuns({
        workerId: "w1",
        leaseDurationMs: 30_000,
        limit: 10,
      });
      const receive = async (signal: string) => {
        const attempt = await backend.createStepAttempt({
          workflowRunId: run.id,
          workerId: "w1",
          stepName: signal,
          kind: "signal-wait",
          config: { signal },
          context: null,
        });
        const received = await backend.receiveSignal!({
          workflowRunId: run.id,
          workerId: "w1",
          stepAttemptId: attempt.id,
          signal,
        });
        assert.deepEqual(received?.data, { signal });
        return attempt.id;
      };
      const firstAttempt = await receive("first");
      const broadcastAttempt = await receive("broadcast");
      const listed = await ops.signals({ workflowRunId: run.id });
      assert.deepEqual(
        listed.map((s) => [s.signal, s.data, s.broadcast, s.stepAttemptId]),
        [
          ["first", { signal: "first" }, false, firstAttempt],
          ["broadcast", { signal: "broadcast" }, true, broadcastAttempt],
          ["second", { signal: "second" }, false, null],
        ],
      );
      assert.ok(listed[0].receivedAt instanceof Date);
      assert.ok(listed[0].sentAt instanceof Date);
      assert.equal(listed[2].receivedAt, null);
      assert.ok(listed[0].receivedAt >= listed[0].sentAt);
    },
    ["signals"],
  );
}
