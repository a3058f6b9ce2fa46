/**
 * How an execution stores its steps' results: a result is held back until
 * the execution's next write, and goes with it (the next step's attempt,
 * one round trip for both), or with the run's completion when the
 * workflow returns (`markWorkflowRunSucceededWithSteps`: one write for the
 * last step and the run). A result the workflow does not follow at once
 * with another write is stored at the end of the turn; a step's function
 * never runs before the results of the steps that returned before it was
 * called are stored.
 */

import assert from "node:assert/strict";
import postgres from "../../src/postgres/driver/index.js";
import { type Backend, OpenWorkflow } from "../../mod.ts";
import {
  DATABASE_URL,
  delay,
  POSTGRES_ONLY,
  testEachBackend,
} from "./../helpers.ts";

/** `backend`, recording the names of the write methods called, in order. */
function recording(
  backend: Backend,
  hide: readonly string[] = [],
): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const writes = new Set([
    "createStepAttempt",
    "markStepAttemptSucceeded",
    "markWorkflowRunSucceeded",
    "markWorkflowRunSucceededWithSteps",
  ]);
  const proxy = new Proxy(backend, {
    get(target, key) {
      if (hide.includes(String(key))) return undefined;
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (!writes.has(String(key))) return value.bind(target);
      return (...args: unknown[]) => {
        calls.push(String(key));
        return value.apply(target, args);
      };
    },
  }) as Backend;
  return { backend: proxy, calls };
}

/** A workflow of two steps, returning their sum. */
function defineSum(ow: OpenWorkflow) {
  return ow.defineWorkflow({ name: "sum" }, async ({ step }) => {
    const a = await step.run({ name: "a" }, () => 1);
    const b = await step.run({ name: "b" }, () => a + 1);
    return a + b;
  });
}

testEachBackend(
  "a step's result goes with the next step's attempt, the last one with the run's completion",
  async ({ backend: inner }) => {
    const { backend, calls } = recording(inner);
    const ow = new OpenWorkflow({ backend });
    const handle = await defineSum(ow).run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), 3);
    assert.deepEqual(calls, [
      "createStepAttempt", // a
      "createStepAttempt", // b, and a's result with it
      "markStepAttemptSucceeded",
      "markWorkflowRunSucceededWithSteps", // b's result, and the run
    ]);
    const attempts = await inner.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    assert.deepEqual(
      attempts.map((s) => [s.stepName, s.status, s.output]),
      [["a", "succeeded", 1], ["b", "succeeded", 2]],
    );
    assert.ok(attempts.every((s) => s.completedAt instanceof Date));
  },
);

testEachBackend(
  "without markWorkflowRunSucceededWithSteps, each step's result is stored on its own",
  async ({ backend: inner }) => {
    const { backend, calls } = recording(inner, [
      "markWorkflowRunSucceededWithSteps",
    ]);
    const ow = new OpenWorkflow({ backend });
    const handle = await defineSum(ow).run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), 3);
    assert.deepEqual(calls, [
      "createStepAttempt",
      "markStepAttemptSucceeded",
      "createStepAttempt",
      "markStepAttemptSucceeded",
      "markWorkflowRunSucceeded",
    ]);
    const attempts = await inner.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    assert.deepEqual(attempts.map((s) => s.status), ["succeeded", "succeeded"]);
  },
);

testEachBackend(
  "a step's result is stored while the workflow awaits something else, before the next step runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const seen: string[] = [];
    const statusOfA = async (workflowRunId: string) =>
      (await backend.listStepAttempts({ workflowRunId }))
        .find((s) => s.stepName === "a")?.status ?? "none";
    const wf = ow.defineWorkflow({ name: "pause" }, async ({ step, run }) => {
      await step.run({ name: "a" }, () => 1);
      await delay(200); // no write of the execution meanwhile
      seen.push(`after the pause: ${await statusOfA(run.id)}`);
      await step.run({ name: "b" }, async () => {
        seen.push(`in b: ${await statusOfA(run.id)}`);
      });
      return null;
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), null);
    // Replays (none here) would add lines: the run went through once.
    assert.deepEqual(seen, [
      "after the pause: succeeded",
      "in b: succeeded",
    ]);
  },
);

testEachBackend(
  "parallel steps' results are all stored, whichever returns last",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "fan-out" }, async ({ step }) => {
      const parts = await Promise.all(
        [30, 0, 10].map((ms, i) =>
          step.run({ name: `part-${i}` }, async () => {
            await delay(ms);
            return i;
          })
        ),
      );
      return parts;
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.deepEqual(await handle.result(), [0, 1, 2]);
    const attempts = await backend.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    assert.deepEqual(
      attempts.map((s) => [s.stepName, s.status, s.output]).sort(),
      [["part-0", "succeeded", 0], ["part-1", "succeeded", 1], [
        "part-2",
        "succeeded",
        2,
      ]],
    );
  },
);

testEachBackend(
  "on Postgres, a step's result and the next write are one transaction",
  async ({ backend, namespaceId }) => {
    const ow = new OpenWorkflow({ backend });
    const sumWorkflow = defineSum(ow);
    const napWorkflow = ow.defineWorkflow({ name: "nap" }, async ({ step }) => {
      await step.run({ name: "a" }, () => 1);
      await step.sleep("nap", "1h");
    });
    const worker = ow.newWorker();
    // One run at a time: no other run's writes share its transactions.
    const sum = await sumWorkflow.run();
    assert.equal(await worker.tick(), 1);
    assert.equal(await sum.result(), 3);
    const napper = await napWorkflow.run();
    assert.equal(await worker.tick(), 1);
    assert.equal((await napper.refresh()).status, "sleeping");
    // A row carries the id of the transaction that wrote it last (xmin).
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const xmin = async (runId: string, stepName: string) =>
        (await sql<{ xmin: string }[]>`
          SELECT xmin::text FROM openworkflow.step_attempts
          WHERE namespace_id = ${namespaceId} AND workflow_run_id = ${runId}
            AND step_name = ${stepName}`)[0].xmin;
      const [run] = await sql<{ xmin: string }[]>`
        SELECT xmin::text FROM openworkflow.workflow_runs
        WHERE namespace_id = ${namespaceId} AND id = ${sum.workflowRun.id}`;
      // b's result went with the run's completion, a's before them.
      assert.equal(await xmin(sum.workflowRun.id, "b"), run.xmin);
      assert.notEqual(await xmin(sum.workflowRun.id, "a"), run.xmin);
      // a's result went with the sleep's attempt (still running).
      const id = napper.workflowRun.id;
      assert.equal(await xmin(id, "a"), await xmin(id, "nap"));
    } finally {
      await sql.end();
    }
  },
  { targets: POSTGRES_ONLY },
);

testEachBackend(
  "a result held back is stored when the deadline passes while the workflow's other steps run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "late" }, async ({ step }) => {
      // Not awaited: still running when the workflow returns.
      void step.run(
        { name: "slow" },
        ({ signal }) =>
          new Promise<null>((resolve) => {
            const timer = setTimeout(() => resolve(null), 5_000);
            signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve(null);
            });
          }),
      );
      return await step.run({ name: "quick" }, () => 1);
    });
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 300),
    });
    assert.equal(await ow.newWorker().tick(), 1);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    assert.equal(
      (run.error as { name?: string } | null)?.name,
      "DeadlineExceededError",
    );
    const attempts = await backend.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    const quick = attempts.find((s) => s.stepName === "quick");
    assert.deepEqual([quick?.status, quick?.output], ["succeeded", 1]);
  },
);
