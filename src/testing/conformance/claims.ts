/** Conformance: claims, leases, deadlines, namespaces. */

import assert from "node:assert/strict";
import { type DefineCase, delay, randomNamespace } from "./define.ts";
import { LeaseLostError } from "../../core/errors.ts";
import { runParams } from "./runs.ts";

export function claimConformance(define: DefineCase): void {
  define(
    "claimWorkflowRun() claims the oldest available run",
    async ({ backend }) => {
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }),
        null,
      );
      const first = await backend.createWorkflowRun(runParams());
      await delay(5);
      const second = await backend.createWorkflowRun(runParams());
      const claimed = await backend.claimWorkflowRun({
        workerId: "w1",
        leaseDurationMs: 10_000,
      });
      assert.equal(claimed?.id, first.id);
      assert.equal(claimed?.status, "running");
      // One run claimed, not more: the other is still there to claim.
      assert.deepEqual(
        (await backend.listWorkflowRuns({ statuses: ["running"], limit: 10 }))
          .runs.map((run) => run.id),
        [first.id],
      );
      assert.equal(claimed?.workerId, "w1");
      assert.equal(claimed?.attempts, 1);
      assert.ok(claimed?.startedAt instanceof Date);
      // availableAt is the lease expiry: now + leaseDurationMs (database clock).
      const leaseLeftMs = claimed!.availableAt.getTime() - Date.now();
      assert.ok(
        leaseLeftMs > 8_000 && leaseLeftMs <= 11_000,
        `lease left ${leaseLeftMs}`,
      );
      const next = await backend.claimWorkflowRun({
        workerId: "w2",
        leaseDurationMs: 10_000,
      });
      assert.equal(next?.id, second.id);
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w3",
          leaseDurationMs: 10_000,
        }),
        null,
      );
    },
  );

  define(
    "claimWorkflowRuns() claims up to the limit",
    async ({ backend }) => {
      for (let i = 0; i < 5; i++) await backend.createWorkflowRun(runParams());
      const batch = await backend.claimWorkflowRuns({
        workerId: "w1",
        leaseDurationMs: 10_000,
        limit: 3,
      });
      assert.equal(batch.length, 3);
      assert.ok(
        batch.every((r) => r.status === "running" && r.workerId === "w1"),
      );
      const rest = await backend.claimWorkflowRuns({
        workerId: "w2",
        leaseDurationMs: 10_000,
        limit: 10,
      });
      assert.equal(rest.length, 2);
      assert.equal(new Set([...batch, ...rest].map((r) => r.id)).size, 5);
    },
  );

  define(
    "claims only runs of the given workflows and versions",
    async ({ backend }) => {
      const a = await backend.createWorkflowRun(runParams("a"));
      const a2 = await backend.createWorkflowRun(
        runParams("a", { version: "2" }),
      );
      const b = await backend.createWorkflowRun(runParams("b"));
      const claim = (workflows: { name: string; version: string | null }[]) =>
        backend.claimWorkflowRuns({
          workerId: "w",
          leaseDurationMs: 10_000,
          limit: 10,
          workflows,
        });
      assert.deepEqual(await claim([{ name: "c", version: null }]), []);
      assert.deepEqual(await claim([{ name: "a", version: "1" }]), []);
      assert.deepEqual(
        (await claim([{ name: "a", version: null }])).map((r) => r.id),
        [a.id],
      );
      assert.deepEqual(
        (await claim([{ name: "a", version: "2" }])).map((r) => r.id),
        [a2.id],
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: b.id }))?.status,
        "pending",
      );
      assert.deepEqual(await claim([]), []);
    },
  );

  define(
    "claims by workflow take the due runs of every priority, best first, past runs of a higher priority not due yet",
    async ({ backend }) => {
      const later = new Date(Date.now() + 3_600_000);
      const create = (
        priority: number,
        overrides: Partial<ReturnType<typeof runParams>> = {},
      ) =>
        backend.createWorkflowRun(
          runParams("p", { priority, ...overrides }),
        );
      const notDue = [];
      for (let i = 0; i < 3; i++) {
        notDue.push(await create(5, { availableAt: later }));
      }
      const zeroA = await create(0);
      await delay(2);
      const zeroB = await create(0);
      const lowA = await create(-2);
      await delay(2);
      const lowB = await create(-2);
      const top = await create(5);
      const otherVersion = await create(9, { version: "2" });
      const claim = (limit: number) =>
        backend.claimWorkflowRuns({
          workerId: "w",
          leaseDurationMs: 10_000,
          limit,
          workflows: [{ name: "p", version: null }],
        });
      // The runs taken, in no particular order: the best four.
      assert.deepEqual(
        (await claim(4)).map((run) => run.id).sort(),
        [top.id, zeroA.id, zeroB.id, lowA.id].sort(),
      );
      assert.deepEqual((await claim(10)).map((run) => run.id), [lowB.id]);
      assert.deepEqual(await claim(10), []);
      for (const run of [...notDue, otherVersion]) {
        assert.equal(
          (await backend.getWorkflowRun({ workflowRunId: run.id }))?.status,
          "pending",
        );
      }
    },
  );

  define(
    "a run with a future availableAt is claimable only from then",
    async ({ backend }) => {
      const run = await backend.createWorkflowRun(
        runParams("later", { availableAt: new Date(Date.now() + 300) }),
      );
      assert.equal(run.status, "pending");
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }),
        null,
      );
      await delay(400);
      assert.equal(
        (await backend.claimWorkflowRun({
          workerId: "w",
          leaseDurationMs: 1000,
        }))?.id,
        run.id,
      );
    },
  );

  define(
    "concurrent claimers never receive the same run",
    async ({ backend, connect, namespaceId }) => {
      const total = 60;
      await Promise.all(
        Array.from(
          { length: total },
          () => backend.createWorkflowRun(runParams()),
        ),
      );
      // Several backend instances (several pools or connections) at once.
      const others = await Promise.all([
        connect(namespaceId),
        connect(namespaceId),
      ]);
      const claimers = [backend, ...others];
      const claimed: string[] = [];
      await Promise.all(
        Array.from({ length: 9 }, async (_, i) => {
          const b = claimers[i % claimers.length];
          while (true) {
            const runs = await b.claimWorkflowRuns({
              workerId: `w${i}`,
              leaseDurationMs: 60_000,
              limit: 3,
            });
            if (runs.length === 0) break;
            claimed.push(...runs.map((r) => r.id));
          }
        }),
      );
      assert.equal(claimed.length, total);
      assert.equal(new Set(claimed).size, total);
    },
    ["sharedStore"],
  );

  define(
    "an expired lease lets another worker claim; the old one is fenced",
    async ({ backend }) => {
      const run = await backend.createWorkflowRun(runParams());
      await backend.claimWorkflowRun({
        workerId: "old",
        leaseDurationMs: 1000,
      });
      const attempt = await backend.createStepAttempt({
        workflowRunId: run.id,
        workerId: "old",
        stepName: "s1",
        kind: "run",
        config: {},
        context: null,
      });
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "new",
          leaseDurationMs: 10_000,
        }),
        null,
      );
      await delay(1100);
      const reclaimed = await backend.claimWorkflowRun({
        workerId: "new",
        leaseDurationMs: 10_000,
      });
      assert.equal(reclaimed?.id, run.id);
      assert.equal(reclaimed?.attempts, 2);
      assert.equal(reclaimed?.workerId, "new");
      const ids = { workflowRunId: run.id, workerId: "old" };
      await assert.rejects(
        backend.heartbeatWorkflowRun({ ...ids, leaseDurationMs: 1000 }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markStepAttemptSucceeded({
          ...ids,
          stepAttemptId: attempt.id,
          output: 1,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markStepAttemptFailed({
          ...ids,
          stepAttemptId: attempt.id,
          error: {},
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.createStepAttempt({
          ...ids,
          stepName: "s2",
          kind: "run",
          config: {},
          context: null,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markWorkflowRunSucceeded({ ...ids, output: 1 }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markWorkflowRunFailed({ ...ids, error: {} }),
        LeaseLostError,
      );
      const attempts = await backend.listStepAttempts({
        workflowRunId: run.id,
      });
      assert.deepEqual(attempts.map((a) => [a.stepName, a.status]), [[
        "s1",
        "running",
      ]]);
      const current = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.equal(current?.status, "running");
      assert.equal(current?.workerId, "new");
    },
  );

  define(
    "heartbeatWorkflowRun() extends the lease",
    async ({ backend }) => {
      const run = await backend.createWorkflowRun(runParams());
      await backend.claimWorkflowRun({ workerId: "w1", leaseDurationMs: 200 });
      await backend.heartbeatWorkflowRun({
        workflowRunId: run.id,
        workerId: "w1",
        leaseDurationMs: 10_000,
      });
      await delay(300);
      assert.equal(
        await backend.claimWorkflowRun({
          workerId: "w2",
          leaseDurationMs: 1000,
        }),
        null,
      );
      const current = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.ok(current!.availableAt.getTime() > Date.now() + 8_000);
    },
  );

  define(
    "deadlines: expired runs are not claimed, and are failed",
    async ({ backend }) => {
      const error = { name: "DeadlineExceededError", message: "deadline" };
      const expired = await backend.createWorkflowRun(
        runParams("d", { deadlineAt: new Date(Date.now() - 1000) }),
      );
      const held = await backend.createWorkflowRun(
        runParams("d", { deadlineAt: new Date(Date.now() + 250) }),
      );
      const future = await backend.createWorkflowRun(
        runParams("d", { deadlineAt: new Date(Date.now() + 60_000) }),
      );
      const claimed = await backend.claimWorkflowRuns({
        workerId: "w",
        leaseDurationMs: 60_000,
        limit: 10,
      });
      assert.deepEqual(
        claimed.map((r) => r.id).sort(),
        [held.id, future.id].sort(),
      );
      await delay(300);
      // The held run's lease is still valid: its worker fails it itself.
      assert.equal(await backend.failExpiredWorkflowRuns({ error }), 1);
      const failed = await backend.getWorkflowRun({
        workflowRunId: expired.id,
      });
      assert.equal(failed?.status, "failed");
      assert.deepEqual(failed?.error, error);
      assert.ok(failed?.completedAt instanceof Date);
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: held.id }))?.status,
        "running",
      );
      assert.equal(await backend.failExpiredWorkflowRuns({ error }), 0);
    },
  );

  define(
    "namespaces isolate completely",
    async ({ backend, connect }) => {
      const other = await connect(randomNamespace());
      const run = await backend.createWorkflowRun(
        runParams("iso", { idempotencyKey: "same" }),
      );
      assert.equal(await other.getWorkflowRun({ workflowRunId: run.id }), null);
      assert.equal(
        await other.claimWorkflowRun({ workerId: "w", leaseDurationMs: 1000 }),
        null,
      );
      assert.deepEqual((await other.listWorkflowRuns({ limit: 10 })).runs, []);
      assert.equal(
        await other.cancelWorkflowRun({ workflowRunId: run.id, error: {} }),
        null,
      );
      // The same idempotency key in another namespace is another run.
      const twin = await other.createWorkflowRun(
        runParams("iso", { idempotencyKey: "same" }),
      );
      assert.notEqual(twin.id, run.id);
      await backend.claimWorkflowRun({
        workerId: "w",
        leaseDurationMs: 10_000,
      });
      const attempt = await backend.createStepAttempt({
        workflowRunId: run.id,
        workerId: "w",
        stepName: "s",
        kind: "run",
        config: {},
        context: null,
      });
      assert.deepEqual(
        await other.listStepAttempts({ workflowRunId: run.id }),
        [],
      );
      assert.equal(
        await other.getStepAttempt({ stepAttemptId: attempt.id }),
        null,
      );
      await assert.rejects(
        other.createStepAttempt({
          workflowRunId: run.id,
          workerId: "w",
          stepName: "x",
          kind: "run",
          config: {},
          context: null,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        other.markWorkflowRunSucceeded({
          workflowRunId: run.id,
          workerId: "w",
          output: 1,
        }),
        LeaseLostError,
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: run.id }))?.status,
        "running",
      );
    },
    ["sharedStore"],
  );
}
