/** Conformance: step attempts and run listings. */

import assert from "node:assert/strict";
import { type DefineCase, delay } from "./define.ts";
import { LeaseLostError } from "../../core/errors.ts";
import { createClaimed, runParams } from "./runs.ts";

export function stepConformance(define: DefineCase): void {
  define(
    "markWorkflowRunSucceededWithSteps() stores the attempts and the run in one write, fenced",
    async ({ backend }) => {
      const succeed = backend.markWorkflowRunSucceededWithSteps!.bind(backend);
      const runId = await createClaimed(backend, "w1");
      const ids = { workflowRunId: runId, workerId: "w1" };
      const attempt = (stepName: string, owner = ids) =>
        backend.createStepAttempt({
          ...owner,
          stepName,
          kind: "run",
          config: {},
          context: null,
        });
      const a = await attempt("a");
      const b = await attempt("b");
      const status = async () => [
        (await backend.getWorkflowRun({ workflowRunId: runId }))?.status,
        ...(await backend.listStepAttempts({ workflowRunId: runId })).map(
          (s) => s.status,
        ),
      ];
      // Bad input is refused before anything is written.
      await assert.rejects(
        succeed({ ...ids, output: 1, stepAttempts: "a" as never }),
        (e) =>
          e instanceof TypeError && /'stepAttempts'.*array/.test(e.message),
      );
      await assert.rejects(
        succeed({ ...ids, output: 1, stepAttempts: [{}] as never }),
        (e) =>
          e instanceof TypeError &&
          /'stepAttempts\[0\]\.stepAttemptId'/.test(e.message),
      );
      // Fenced: another worker changes nothing.
      await assert.rejects(
        succeed({
          ...ids,
          workerId: "w2",
          output: 1,
          stepAttempts: [{ stepAttemptId: a.id, output: "a" }],
        }),
        LeaseLostError,
      );
      // An attempt that is not one of the run's running attempts (another
      // run's, or none at all): the run is not marked succeeded.
      const otherRun = await createClaimed(backend, "w1");
      const foreign = await attempt("x", { ...ids, workflowRunId: otherRun });
      for (const stepAttemptId of [foreign.id, crypto.randomUUID(), "nope"]) {
        await assert.rejects(
          succeed({
            ...ids,
            output: 1,
            stepAttempts: [{ stepAttemptId, output: 0 }],
          }),
          LeaseLostError,
        );
      }
      assert.deepEqual(await status(), ["running", "running", "running"]);
      await succeed({
        ...ids,
        output: { sum: 3 },
        stepAttempts: [
          { stepAttemptId: a.id, output: 1 },
          { stepAttemptId: b.id, output: null },
        ],
      });
      assert.deepEqual(await status(), ["succeeded", "succeeded", "succeeded"]);
      const run = await backend.getWorkflowRun({ workflowRunId: runId });
      assert.deepEqual(run?.output, { sum: 3 });
      assert.ok(run?.completedAt instanceof Date);
      const [gotA, gotB] = await backend.listStepAttempts({
        workflowRunId: runId,
      });
      assert.deepEqual([gotA.output, gotB.output], [1, null]);
      assert.ok(gotA.completedAt instanceof Date);
      // Done: the run is no longer the worker's to finish again.
      await assert.rejects(
        succeed({ ...ids, output: 2, stepAttempts: [] }),
        LeaseLostError,
      );
      assert.equal(
        (await backend.getStepAttempt({ stepAttemptId: foreign.id }))?.status,
        "running",
      );
    },
    ["succeedWithSteps"],
  );
  define(
    "step attempts: create, get, list, succeed, fail",
    async ({ backend }) => {
      const runId = await createClaimed(backend, "w1");
      const ids = { workflowRunId: runId, workerId: "w1" };
      const a = await backend.createStepAttempt({
        ...ids,
        stepName: "fetch",
        kind: "run",
        config: { retry: { maxAttempts: 3 } },
        context: null,
      });
      assert.equal(a.workflowRunId, runId);
      assert.equal(a.stepName, "fetch");
      assert.equal(a.kind, "run");
      assert.equal(a.status, "running");
      assert.deepEqual(a.config, { retry: { maxAttempts: 3 } });
      assert.equal(a.output, null);
      assert.equal(a.completedAt, null);
      const b = await backend.createStepAttempt({
        ...ids,
        stepName: "nap",
        kind: "sleep",
        config: {},
        context: { resumeAt: "2030-01-01T00:00:00.000Z" },
      });
      const c = await backend.createStepAttempt({
        ...ids,
        stepName: "flaky",
        kind: "run",
        config: {},
        context: null,
      });
      await backend.markStepAttemptSucceeded({
        ...ids,
        stepAttemptId: a.id,
        output: { v: "a\u0000" },
      });
      await backend.markStepAttemptSucceeded({
        ...ids,
        stepAttemptId: b.id,
        output: null,
      });
      const error = { name: "Error", message: "flaky", code: "E1" };
      await backend.markStepAttemptFailed({
        ...ids,
        stepAttemptId: c.id,
        error,
      });
      const got = await backend.getStepAttempt({ stepAttemptId: a.id });
      assert.equal(got?.status, "succeeded");
      assert.deepEqual(got?.output, { v: "a\u0000" });
      assert.ok(got?.completedAt instanceof Date);
      assert.equal(
        await backend.getStepAttempt({ stepAttemptId: crypto.randomUUID() }),
        null,
      );
      assert.equal(
        await backend.getStepAttempt({ stepAttemptId: "nope" }),
        null,
      );
      const list = await backend.listStepAttempts({ workflowRunId: runId });
      assert.deepEqual(
        list.map((s) => [s.stepName, s.kind, s.status]),
        [["fetch", "run", "succeeded"], ["nap", "sleep", "succeeded"], [
          "flaky",
          "run",
          "failed",
        ]],
      );
      assert.deepEqual(list[1].context, {
        resumeAt: "2030-01-01T00:00:00.000Z",
      });
      assert.deepEqual(list[2].error, error);
      assert.equal(list[2].output, null);
      // A finished attempt cannot be finished again.
      await assert.rejects(
        backend.markStepAttemptSucceeded({
          ...ids,
          stepAttemptId: c.id,
          output: 1,
        }),
        LeaseLostError,
      );
      assert.deepEqual(
        await backend.listStepAttempts({ workflowRunId: crypto.randomUUID() }),
        [],
      );
    },
  );

  define(
    "step attempts keep their order under many writes",
    async ({ backend }) => {
      const runId = await createClaimed(backend, "w1");
      const names = Array.from({ length: 30 }, (_, i) => `s${i}`);
      for (const stepName of names) {
        await backend.createStepAttempt({
          workflowRunId: runId,
          workerId: "w1",
          stepName,
          kind: "run",
          config: {},
          context: null,
        });
      }
      const list = await backend.listStepAttempts({ workflowRunId: runId });
      assert.deepEqual(list.map((s) => s.stepName), names);
    },
  );

  define(
    "step writes are fenced to the run's owner",
    async ({ backend }) => {
      const runId = await createClaimed(backend, "w1");
      const attempt = await backend.createStepAttempt({
        workflowRunId: runId,
        workerId: "w1",
        stepName: "s",
        kind: "run",
        config: {},
        context: null,
      });
      const intruder = { workflowRunId: runId, workerId: "w2" };
      await assert.rejects(
        backend.createStepAttempt({
          ...intruder,
          stepName: "x",
          kind: "run",
          config: {},
          context: null,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markStepAttemptSucceeded({
          ...intruder,
          stepAttemptId: attempt.id,
          output: 1,
        }),
        LeaseLostError,
      );
      await assert.rejects(
        backend.markStepAttemptFailed({
          ...intruder,
          stepAttemptId: attempt.id,
          error: {},
        }),
        LeaseLostError,
      );
      // The attempt belongs to the run named: another run's id is rejected.
      const other = await createClaimed(backend, "w1");
      await assert.rejects(
        backend.markStepAttemptSucceeded({
          workflowRunId: other,
          workerId: "w1",
          stepAttemptId: attempt.id,
          output: 1,
        }),
        LeaseLostError,
      );
      const list = await backend.listStepAttempts({ workflowRunId: runId });
      assert.deepEqual(list.map((s) => [s.stepName, s.status]), [[
        "s",
        "running",
      ]]);
      // Another run's write of the attempt fails even when it shares a
      // statement with the run's own (a backend that batches writes sends
      // the first call at once and the two behind it together); the run's
      // own succeeds.
      const [lone, own, foreign] = await Promise.allSettled([
        backend.createStepAttempt({
          workflowRunId: other,
          workerId: "w1",
          stepName: "lone",
          kind: "run",
          config: {},
          context: null,
        }),
        backend.markStepAttemptSucceeded({
          workflowRunId: runId,
          workerId: "w1",
          stepAttemptId: attempt.id,
          output: "own",
        }),
        backend.markStepAttemptSucceeded({
          workflowRunId: other,
          workerId: "w1",
          stepAttemptId: attempt.id,
          output: "foreign",
        }),
      ]);
      assert.equal(lone.status, "fulfilled");
      assert.equal(own.status, "fulfilled");
      assert.equal(foreign.status, "rejected");
      assert.ok(
        (foreign as PromiseRejectedResult).reason instanceof LeaseLostError,
      );
      const stored = await backend.getStepAttempt({
        stepAttemptId: attempt.id,
      });
      assert.equal(stored?.status, "succeeded");
      assert.equal(stored?.output, "own");
    },
  );

  define(
    "listWorkflowRuns() filters and paginates newest first",
    async ({ backend }) => {
      const created: string[] = [];
      for (let i = 0; i < 7; i++) {
        const run = await backend.createWorkflowRun(
          runParams(i % 2 === 0 ? "even" : "odd"),
        );
        created.push(run.id);
        await delay(2);
      }
      const middle =
        (await backend.getWorkflowRun({ workflowRunId: created[3] }))!
          .createdAt;
      await backend.claimWorkflowRun({
        workerId: "w",
        leaseDurationMs: 10_000,
      });

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { runs: { id: string }[]; nextCursor: string | null } =
          await backend
            .listWorkflowRuns({ limit: 3, cursor });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      assert.deepEqual(seen, [...created].reverse());
      assert.equal(pages, 3);

      const even = await backend.listWorkflowRuns({
        workflowName: "even",
        limit: 10,
      });
      assert.deepEqual(even.runs.map((r) => r.id), [
        created[6],
        created[4],
        created[2],
        created[0],
      ]);
      assert.equal(even.nextCursor, null);
      const running = await backend.listWorkflowRuns({
        statuses: ["running"],
        limit: 10,
      });
      assert.deepEqual(running.runs.map((r) => r.id), [created[0]]);
      const pendingOrRunning = await backend.listWorkflowRuns({
        statuses: ["pending", "running"],
        limit: 10,
      });
      assert.equal(pendingOrRunning.runs.length, 7);
      const after = await backend.listWorkflowRuns({
        createdAfter: middle,
        limit: 10,
      });
      assert.deepEqual(after.runs.map((r) => r.id), [
        created[6],
        created[5],
        created[4],
        created[3],
      ]);
      const before = await backend.listWorkflowRuns({
        createdBefore: middle,
        limit: 10,
      });
      assert.deepEqual(before.runs.map((r) => r.id), [
        created[2],
        created[1],
        created[0],
      ]);
    },
  );

  define(
    "listWorkflowRuns() pages never skip or repeat runs created at once",
    async ({ backend }) => {
      const ids = await Promise.all(
        Array.from(
          { length: 150 },
          () => backend.createWorkflowRun(runParams()).then((r) => r.id),
        ),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { runs: { id: string }[]; nextCursor: string | null } =
          await backend
            .listWorkflowRuns({ limit: 7, cursor });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.equal(seen.length, 150);
      assert.deepEqual([...seen].sort(), [...ids].sort());
    },
  );

  define(
    "listWorkflowRuns() refuses a malformed cursor with TypeError, and reads a well-formed one",
    async ({ backend }) => {
      const cursor = (createdAt: string, id: string) =>
        btoa(JSON.stringify([createdAt, id]))
          .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
      const id = crypto.randomUUID();
      const old = await backend.createWorkflowRun(runParams());
      await delay(5);
      const cut = new Date();
      await delay(5);
      await backend.createWorkflowRun(runParams());
      const malformed = [
        "garbage",
        cursor("2024-13-01T00:00:00.000Z", id),
        cursor("2023-02-29T00:00:00.000Z", id),
        cursor("2024-04-31T00:00:00.000Z", id),
        cursor("2024-01-01T24:00:00.000Z", id),
        cursor("2024-01-01T00:60:00.000Z", id),
        cursor("0000-01-01T00:00:00.000Z", id),
        cursor("2024-01-01T00:00:00.1234567Z", id),
        cursor("2024-01-01 00:00:00.123456+00", id),
        cursor("01/02/2024 00:00:00.123456 UTC", id),
        cursor("2024-01-01T00:00:00.000Z", "z".repeat(36)),
        cursor("2024-01-01T00:00:00.000Z", "-".repeat(36)),
      ];
      for (const bad of malformed) {
        await assert.rejects(
          backend.listWorkflowRuns({ limit: 10, cursor: bad }),
          TypeError,
          bad,
        );
      }
      // A leap day, and a time with microseconds, are fine; the runs
      // after the position are the older ones.
      const leap = await backend.listWorkflowRuns({
        limit: 10,
        cursor: cursor("2024-02-29T00:00:00.000001Z", id),
      });
      assert.deepEqual(leap.runs, []);
      const page = await backend.listWorkflowRuns({
        limit: 10,
        cursor: cursor(cut.toISOString(), id),
      });
      assert.deepEqual(page.runs.map((r) => r.id), [old.id]);
    },
  );
}
