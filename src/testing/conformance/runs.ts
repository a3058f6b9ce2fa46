/** Conformance: creating, reading, completing, releasing workflow runs. */

import assert from "node:assert/strict";
import { type DefineCase, delay } from "./define.ts";
import type { Backend, CreateWorkflowRunParams } from "../../core/backend.ts";
import { LeaseLostError } from "../../core/errors.ts";

/** Params of a plain run of `workflowName`. */
export function runParams(
  workflowName = "wf",
  overrides: Partial<CreateWorkflowRunParams> = {},
): CreateWorkflowRunParams {
  return {
    workflowName,
    version: null,
    config: {},
    context: null,
    input: { n: 1 },
    availableAt: null,
    deadlineAt: null,
    idempotencyKey: null,
    ...overrides,
  };
}

/** Creates a run and claims it for `workerId`. */
export async function createClaimed(
  backend: Backend,
  workerId = "w1",
  leaseDurationMs = 30_000,
): Promise<string> {
  const run = await backend.createWorkflowRun(runParams());
  const claimed = await backend.claimWorkflowRun({ workerId, leaseDurationMs });
  assert.equal(claimed?.id, run.id);
  return run.id;
}

export function runConformance(define: DefineCase): void {
  define(
    "createWorkflowRun() stores a pending run",
    async ({ backend }) => {
      const before = Date.now();
      const deadlineAt = new Date(Date.now() + 60_000);
      const run = await backend.createWorkflowRun(
        runParams("create", {
          version: "v2",
          config: { a: [1, 2] },
          context: { c: true },
          input: { text: "héllo 👋", nested: { list: [null, 1.5] } },
          deadlineAt,
        }),
      );
      assert.match(run.id, /^[0-9a-f-]{36}$/);
      assert.equal(run.workflowName, "create");
      assert.equal(run.version, "v2");
      assert.equal(run.status, "pending");
      assert.equal(run.workerId, null);
      assert.deepEqual(run.config, { a: [1, 2] });
      assert.deepEqual(run.context, { c: true });
      assert.deepEqual(run.input, {
        text: "héllo 👋",
        nested: { list: [null, 1.5] },
      });
      assert.equal(run.output, null);
      assert.equal(run.error, null);
      assert.equal(run.deadlineAt?.getTime(), deadlineAt.getTime());
      assert.equal(run.completedAt, null);
      assert.equal(run.startedAt, null);
      assert.equal(run.attempts, 0);
      assert.equal(run.idempotencyKey, null);
      assert.ok(Math.abs(run.createdAt.getTime() - before) < 5_000);
      assert.ok(run.availableAt.getTime() <= Date.now() + 1_000);
      assert.deepEqual(
        await backend.getWorkflowRun({ workflowRunId: run.id }),
        run,
      );
    },
  );

  define(
    "getWorkflowRun() returns null for unknown ids",
    async ({ backend }) => {
      assert.equal(
        await backend.getWorkflowRun({ workflowRunId: crypto.randomUUID() }),
        null,
      );
      assert.equal(
        await backend.getWorkflowRun({ workflowRunId: "not-a-uuid" }),
        null,
      );
      assert.equal(
        await backend.getWorkflowRun({ workflowRunId: "'; DROP TABLE x; --" }),
        null,
      );
    },
  );

  define(
    "JSON values round-trip, NUL and lone surrogates included",
    async ({ backend }) => {
      const input = {
        nul: "a\u0000b",
        emoji: "🎉",
        lone: "x\ud800y",
        quote: `'";--`,
        deep: [[[{ k: "v" }]]],
        n: -0.5,
        t: true,
      };
      const run = await backend.createWorkflowRun(runParams("json", { input }));
      const read = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.deepEqual(read?.input, input);
      assert.deepEqual(run.input, input);
    },
  );

  define(
    "markWorkflowRunSucceeded() completes the run and is fenced",
    async ({ backend }) => {
      const id = await createClaimed(backend, "w1");
      await assert.rejects(
        backend.markWorkflowRunSucceeded({
          workflowRunId: id,
          workerId: "w2",
          output: 1,
        }),
        LeaseLostError,
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.status,
        "running",
      );
      await backend.markWorkflowRunSucceeded({
        workflowRunId: id,
        workerId: "w1",
        output: { ok: true },
      });
      const run = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(run?.status, "succeeded");
      assert.deepEqual(run?.output, { ok: true });
      assert.ok(run?.completedAt instanceof Date);
      // A finished run accepts no further writes, not even from its owner.
      await assert.rejects(
        backend.markWorkflowRunFailed({
          workflowRunId: id,
          workerId: "w1",
          error: {},
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.heartbeatWorkflowRun({
          workflowRunId: id,
          workerId: "w1",
          leaseDurationMs: 1000,
        }),
        LeaseLostError,
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.status,
        "succeeded",
      );
    },
  );

  define(
    "markWorkflowRunFailed() stores the error",
    async ({ backend }) => {
      const id = await createClaimed(backend, "w1");
      const error = {
        name: "TypeError",
        message: "bad",
        stack: "TypeError: bad\n  at x",
      };
      await backend.markWorkflowRunFailed({
        workflowRunId: id,
        workerId: "w1",
        error,
      });
      const run = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(run?.status, "failed");
      assert.deepEqual(run?.error, error);
      assert.equal(run?.output, null);
      assert.ok(run?.completedAt instanceof Date);
    },
  );

  define(
    "releaseWorkflowRun() parks the run until availableAt",
    async ({ backend }) => {
      const id = await createClaimed(backend, "w1");
      await assert.rejects(
        backend.releaseWorkflowRun({
          workflowRunId: id,
          workerId: "w2",
          status: "sleeping",
          availableAt: null,
        }),
        LeaseLostError,
      );
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w1",
        status: "sleeping",
        availableAt: new Date(Date.now() + 300),
      });
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: id }))?.status,
        "sleeping",
      );
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w2",
          leaseDurationMs: 1000,
        }),
        null,
      );
      await delay(400);
      const again = await backend.claimWorkflowRun({
        workerId: "w2",
        leaseDurationMs: 1000,
      });
      assert.equal(again?.id, id);
      assert.equal(again?.attempts, 2);
      assert.equal(again?.workerId, "w2");
      // The previous owner is fenced out.
      await assert.rejects(
        backend.releaseWorkflowRun({
          workflowRunId: id,
          workerId: "w1",
          status: "pending",
          availableAt: null,
        }),
        LeaseLostError,
      );
      await backend.releaseWorkflowRun({
        workflowRunId: id,
        workerId: "w2",
        status: "pending",
        availableAt: null,
      });
      const released = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(released?.status, "pending");
      assert.equal(
        (await backend.claimWorkflowRun({
          workerId: "w3",
          leaseDurationMs: 1000,
        }))?.id,
        id,
      );
    },
  );

  define(
    "createWorkflowRun() with an idempotency key returns the existing run",
    async ({ backend }) => {
      const first = await backend.createWorkflowRun(
        runParams("idem", { idempotencyKey: "k1" }),
      );
      const second = await backend.createWorkflowRun(
        runParams("idem", { idempotencyKey: "k1", input: { other: true } }),
      );
      assert.equal(second.id, first.id);
      assert.deepEqual(second.input, first.input);
      assert.equal(second.idempotencyKey, "k1");
      const otherWorkflow = await backend.createWorkflowRun(
        runParams("idem-2", { idempotencyKey: "k1" }),
      );
      assert.notEqual(otherWorkflow.id, first.id);
      const concurrent = await Promise.all(
        Array.from({ length: 10 }, () =>
          backend.createWorkflowRun(
            runParams("idem", { idempotencyKey: "k2" }),
          )),
      );
      assert.equal(
        new Set(concurrent.map((r) => r.id)).size,
        1,
      );
      const page = await backend.listWorkflowRuns({
        workflowName: "idem",
        limit: 100,
      });
      assert.equal(page.runs.length, 2);
    },
  );

  define(
    "cancelWorkflowRun() cancels unfinished runs only",
    async ({ backend }) => {
      const error = { name: "WorkflowCanceledError", message: "canceled" };
      const pending = await backend.createWorkflowRun(runParams());
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: pending.id,
        error,
      });
      assert.equal(canceled?.status, "canceled");
      assert.deepEqual(canceled?.error, error);
      assert.ok(canceled?.completedAt instanceof Date);
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }),
        null,
      );

      const running = await createClaimed(backend, "w1");
      assert.equal(
        (await backend.cancelWorkflowRun({ workflowRunId: running, error }))
          ?.status,
        "canceled",
      );
      await assert.rejects(
        backend.createStepAttempt({
          workflowRunId: running,
          workerId: "w1",
          stepName: "s",
          kind: "run",
          config: {},
          context: null,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markWorkflowRunSucceeded({
          workflowRunId: running,
          workerId: "w1",
          output: 1,
        }),
        LeaseLostError,
      );

      const done = await createClaimed(backend, "w1");
      await backend.markWorkflowRunSucceeded({
        workflowRunId: done,
        workerId: "w1",
        output: 7,
      });
      const unchanged = await backend.cancelWorkflowRun({
        workflowRunId: done,
        error,
      });
      assert.equal(unchanged?.status, "succeeded");
      assert.equal(unchanged?.error, null);
      assert.equal(
        await backend.cancelWorkflowRun({
          workflowRunId: crypto.randomUUID(),
          error,
        }),
        null,
      );
    },
  );
}
