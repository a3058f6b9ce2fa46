/**
 * How an execution stores its steps' results: a step whose function
 * returns a value is written once, its attempt created succeeded; one whose
 * function returns a promise has its attempt written running as it starts,
 * then finished. A result is held back until the execution's next write,
 * and goes with it (one round trip for both), or with the run's completion
 * when the workflow returns (`markWorkflowRunSucceededWithSteps`: one write
 * for the last step and the run). A result the workflow does not follow at
 * once with another write is stored at the end of the turn; a step's
 * function never runs before the results of the steps that returned before
 * it was called are stored.
 */

import assert from "node:assert/strict";
import postgres from "../../src/postgres/driver/index.js";
import {
  type Backend,
  type CreateStepAttemptParams,
  type MarkWorkflowRunSucceededWithStepsParams,
  OpenWorkflow,
} from "../../mod.ts";
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
): { backend: Backend; calls: string[]; params: unknown[] } {
  const calls: string[] = [];
  const params: unknown[] = [];
  const writes = new Set([
    "createStepAttempt",
    "markStepAttemptSucceeded",
    "markStepAttemptFailed",
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
        params.push(args[0]);
        return value.apply(target, args);
      };
    },
  }) as Backend;
  return { backend: proxy, calls, params };
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
    const { backend, calls, params } = recording(inner);
    const ow = new OpenWorkflow({ backend });
    const handle = await defineSum(ow).run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), 3);
    assert.deepEqual(calls, [
      "createStepAttempt", // a, succeeded, before b runs
      "markWorkflowRunSucceededWithSteps", // b, created succeeded, and the run
    ]);
    const [createA, succeed] = params as [
      CreateStepAttemptParams,
      MarkWorkflowRunSucceededWithStepsParams,
    ];
    assert.equal(createA.output, 1);
    assert.deepEqual(
      succeed.stepAttempts.map((s) => [s.create?.stepName, s.output]),
      [["b", 2]],
    );
    const attempts = await inner.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    assert.deepEqual(
      attempts.map((s) => [s.id, s.stepName, s.status, s.output]),
      [
        [createA.stepAttemptId, "a", "succeeded", 1],
        [succeed.stepAttempts[0].stepAttemptId, "b", "succeeded", 2],
      ],
    );
    // Created done: both times are the one write's.
    for (const s of attempts) {
      assert.ok(s.completedAt instanceof Date);
      assert.equal(s.completedAt.getTime(), s.createdAt.getTime());
    }
  },
);

for (
  const [kind, fn] of [
    // Written before it runs.
    ["an async function", async () => {
      await delay(50);
      return 1;
    }],
    // Called at once: written as it returns its promise, beside its work.
    ["a function that returns a promise", () => delay(50).then(() => 1)],
  ] as const
) {
  testEachBackend(
    `a step whose function is ${kind} is written running while it runs, then finished`,
    async ({ backend: inner }) => {
      const { backend, calls, params } = recording(inner);
      const ow = new OpenWorkflow({ backend });
      const seen: string[] = [];
      const wf = ow.defineWorkflow({ name: "io" }, async ({ step, run }) => {
        const a = await step.run({ name: "a" }, async (context) => {
          const output = await fn();
          const [attempt] = await inner.listStepAttempts({
            workflowRunId: run.id,
          });
          seen.push(
            `${attempt?.stepName} ${attempt?.status} ${context.attempt}`,
          );
          return output;
        });
        return a + 1;
      });
      const handle = await wf.run();
      assert.equal(await ow.newWorker().tick(), 1);
      assert.equal(await handle.result(), 2);
      assert.deepEqual(seen, ["a running 1"]);
      assert.deepEqual(calls, [
        "createStepAttempt", // a, running
        "markWorkflowRunSucceededWithSteps", // a's result, and the run
      ]);
      assert.equal((params[0] as CreateStepAttemptParams).output, undefined);
      const [attempt] = await inner.listStepAttempts({
        workflowRunId: handle.workflowRun.id,
      });
      assert.deepEqual([attempt.status, attempt.output], ["succeeded", 1]);
      assert.ok(attempt.completedAt!.getTime() > attempt.createdAt.getTime());
    },
  );
}

testEachBackend(
  "an async step function runs only once its attempt is stored",
  async ({ backend: inner }) => {
    const ow = new OpenWorkflow({ backend: inner });
    const seen: string[] = [];
    const wf = ow.defineWorkflow({ name: "io" }, async ({ step, run }) => {
      await step.run({ name: "a" }, () => 1);
      await step.run({ name: "b" }, async () => {
        // Nothing awaited yet: what the database holds as the function starts.
        const attempts = inner.listStepAttempts({ workflowRunId: run.id });
        seen.push(
          ...(await attempts).map((a) => `${a.stepName} ${a.status}`),
        );
      });
      return null;
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), null);
    assert.deepEqual(seen, ["a succeeded", "b running"]);
  },
);

testEachBackend(
  "a step whose function throws is written running, then failed, and retried",
  async ({ backend: inner }) => {
    const { backend, calls } = recording(inner);
    const ow = new OpenWorkflow({ backend });
    let tries = 0;
    const wf = ow.defineWorkflow({ name: "flaky" }, async ({ step }) => {
      return await step.run(
        { name: "a", retry: { initialIntervalMs: 0 } },
        () => {
          if (++tries === 1) throw new Error("first try");
          return tries;
        },
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker();
    await worker.tick();
    await worker.tick();
    assert.equal(await handle.result(), 2);
    assert.deepEqual(calls.slice(0, 2), [
      "createStepAttempt",
      "markStepAttemptFailed",
    ]);
    const attempts = await inner.listStepAttempts({
      workflowRunId: handle.workflowRun.id,
    });
    assert.deepEqual(
      attempts.map((
        s,
      ) => [
        s.status,
        s.output,
        (s.error as { message?: string } | null)?.message,
      ]),
      [["failed", null, "first try"], ["succeeded", 2, undefined]],
    );
  },
);

testEachBackend(
  "a backend that knows no created-done attempts gets them created running and marked succeeded",
  async ({ backend: inner }) => {
    // A backend from before `stepAttemptId` and `output`: it drops both.
    const older = new Proxy(inner, {
      get(target, key) {
        if (key === "markWorkflowRunSucceededWithSteps") return undefined;
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (key !== "createStepAttempt") return value.bind(target);
        return (params: CreateStepAttemptParams) => {
          const { output: _, stepAttemptId: __, ...rest } = params;
          return target.createStepAttempt(rest);
        };
      },
    }) as Backend;
    const { backend, calls } = recording(older);
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
    assert.deepEqual(
      attempts.map((s) => [s.stepName, s.status, s.output]),
      [["a", "succeeded", 1], ["b", "succeeded", 2]],
    );
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
      "createStepAttempt", // a, succeeded
      "createStepAttempt", // b, succeeded
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
  "steps called side by side never wait for each other's results",
  async ({ backend: inner }) => {
    const { backend, calls, params } = recording(inner);
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "pair" }, async ({ step }) => {
      const [a, b] = await Promise.all([
        step.run({ name: "a" }, () => 1),
        step.run({ name: "b" }, () => 2),
      ]);
      return a + b;
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), 3);
    // Both created with the run's completion: b did not wait for a's write.
    assert.deepEqual(calls, ["markWorkflowRunSucceededWithSteps"]);
    const [succeed] = params as [MarkWorkflowRunSucceededWithStepsParams];
    assert.deepEqual(
      succeed.stepAttempts.map((s) => [s.create?.stepName, s.output]),
      [["a", 1], ["b", 2]],
    );
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
