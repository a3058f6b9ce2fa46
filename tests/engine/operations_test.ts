/**
 * Operating runs: retry of failed and canceled runs, forks from a step,
 * deletion of finished runs with what belongs to them, retention sweeps in
 * workers (one sweeper at a time), and the top-level `defineWorkflow`.
 */

import assert from "node:assert/strict";
import {
  defineWorkflow,
  OpenWorkflow,
  StepNotFoundError,
  Worker,
  WorkflowRunNotFoundError,
  WorkflowRunStatusError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

/** A workflow of steps a, b, c that counts each step's executions. */
function countingWorkflow(ow: OpenWorkflow, failAt: { step: string | null }) {
  const executions = { a: 0, b: 0, c: 0 };
  const wf = ow.defineWorkflow<{ n: number }, string>(
    { name: "abc", retry: { maxAttempts: 1 } },
    async ({ input, step }) => {
      let out = "";
      for (const name of ["a", "b", "c"] as const) {
        out += await step.run({ name, retry: { maxAttempts: 2 } }, () => {
          executions[name]++;
          if (failAt.step === name) throw new Error(`${name} broke`);
          return `${name}${input.n}`;
        });
      }
      return out;
    },
  );
  return { wf, executions };
}

testEachBackend(
  "retryRun() continues a failed run: completed steps keep their results, the failed step gets a fresh retry budget",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const failAt = { step: "b" as string | null };
    const { wf, executions } = countingWorkflow(ow, failAt);
    const worker = ow.newWorker({ pollIntervalMs: 10_000 });
    await worker.start();
    try {
      const handle = await wf.run({ n: 1 });
      await assert.rejects(handle.result({ timeoutMs: 10_000 }), /b broke/);
      assert.deepEqual(executions, { a: 1, b: 2, c: 0 });
      failAt.step = null;
      const retried = await ow.retryRun<string>(handle.id);
      assert.equal(retried.id, handle.id);
      assert.equal(retried.workflowRun.status, "pending");
      assert.equal(retried.workflowRun.error, null);
      // Woken at once: the worker's poll interval is 10 s.
      assert.equal(await retried.result({ timeoutMs: 5_000 }), "a1b1c1");
      assert.deepEqual(executions, { a: 1, b: 3, c: 1 });
      // Fails again for good after two fresh attempts, retried again.
      failAt.step = "c";
      const second = await wf.run({ n: 2 });
      await assert.rejects(second.result({ timeoutMs: 10_000 }), /c broke/);
      await ow.retryRun(second.id);
      await assert.rejects(second.result({ timeoutMs: 10_000 }), /c broke/);
      assert.equal(executions.c, 1 + 2 + 2, "two fresh attempts of c");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "retryRun() refuses unfinished and succeeded runs with the status, and unknown ids; a canceled run continues",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const { wf, executions } = countingWorkflow(ow, { step: null });
    const pending = await wf.run({ n: 1 });
    await assert.rejects(
      ow.retryRun(pending.id),
      (error: unknown) =>
        error instanceof WorkflowRunStatusError &&
        error.status === "pending" && /is pending/.test(error.message),
    );
    assert.equal((await pending.refresh()).status, "pending");
    await assert.rejects(
      ow.retryRun(crypto.randomUUID()),
      WorkflowRunNotFoundError,
    );
    await assert.rejects(ow.retryRun("not-an-id"), WorkflowRunNotFoundError);
    await pending.cancel();
    const worker = ow.newWorker();
    await worker.start();
    try {
      await ow.retryRun(pending.id);
      assert.equal(await pending.result({ timeoutMs: 10_000 }), "a1b1c1");
      await assert.rejects(
        ow.retryRun(pending.id),
        (error: unknown) =>
          error instanceof WorkflowRunStatusError &&
          error.status === "succeeded",
      );
      assert.deepEqual(executions, { a: 1, b: 1, c: 1 });
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "forkRun() starts a new run from a step: earlier completed steps are copied, the rest run again",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const { wf, executions } = countingWorkflow(ow, { step: null });
    const worker = ow.newWorker();
    await worker.start();
    try {
      const original = await wf.run({ n: 7 });
      assert.equal(await original.result({ timeoutMs: 10_000 }), "a7b7c7");
      const fork = await ow.forkRun<string>(original.id, { fromStep: "b" });
      assert.notEqual(fork.id, original.id);
      assert.equal(fork.workflowRun.forkedFromWorkflowRunId, original.id);
      assert.equal(fork.workflowRun.workflowName, "abc");
      assert.equal(await fork.result({ timeoutMs: 10_000 }), "a7b7c7");
      assert.deepEqual(executions, { a: 1, b: 2, c: 2 });
      const steps = await fork.listStepAttempts();
      assert.deepEqual(steps.map((s) => s.stepName), ["a", "b", "c"]);
      // Without a step: from the start.
      const fresh = await ow.forkRun<string>(original.id);
      assert.equal(await fresh.result({ timeoutMs: 10_000 }), "a7b7c7");
      assert.deepEqual(executions, { a: 2, b: 3, c: 3 });
      // A step the run never reached: nothing is created.
      const before = (await ow.listRuns({ workflowName: "abc" })).runs.length;
      await assert.rejects(
        ow.forkRun(original.id, { fromStep: "z" }),
        (error: unknown) =>
          error instanceof StepNotFoundError && error.stepName === "z",
      );
      await assert.rejects(
        ow.forkRun(crypto.randomUUID()),
        WorkflowRunNotFoundError,
      );
      await assert.rejects(
        ow.forkRun(original.id, { fromStep: "" }),
        TypeError,
      );
      assert.equal(
        (await ow.listRuns({ workflowName: "abc" })).runs.length,
        before,
      );
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "deleteRuns() deletes matching finished runs with their steps and signals, unlinks their children, never an unfinished run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const child = ow.defineWorkflow({ name: "child" }, async ({ step }) => {
      await step.waitForSignal({ signal: "never", timeout: "1h" });
      return "late";
    });
    const parent = ow.defineWorkflow({ name: "parent" }, async ({ step }) => {
      await step.startWorkflow(child, undefined, { name: "kid" });
      return await step.run({ name: "done" }, () => "ok");
    });
    const failing = ow.defineWorkflow(
      { name: "failing", retry: { maxAttempts: 1 } },
      async ({ step }) =>
        await step.run({ name: "x", retry: { maxAttempts: 1 } }, () => {
          throw new Error("no");
        }),
    );
    const worker = ow.newWorker();
    await worker.start();
    let parentRun, failedRun;
    try {
      parentRun = await parent.run();
      assert.equal(await parentRun.result({ timeoutMs: 10_000 }), "ok");
      failedRun = await failing.run();
      await assert.rejects(failedRun.result({ timeoutMs: 10_000 }));
    } finally {
      await worker.stop();
    }
    const kid = (await ow.listRuns({ workflowName: "child" })).runs[0];
    assert.equal(kid.parentWorkflowRunId, parentRun.id);
    const waiting = await parent.run(); // never claimed: pending
    // A signal addressed to the finished parent is refused; one to the
    // kid is kept with the kid.
    await ow.sendSignal({ signal: "kept", workflowRunId: kid.id });
    const future = new Date(Date.now() + 60_000);

    // Bad input deletes nothing.
    await assert.rejects(
      ow.deleteRuns({
        finishedBefore: future,
        status: ["pending" as "succeeded"],
      }),
      (error: unknown) =>
        error instanceof RangeError && /'status'/.test(error.message),
    );
    await assert.rejects(
      ow.deleteRuns({ finishedBefore: new Date("nope") }),
      /finishedBefore/,
    );
    await assert.rejects(
      ow.deleteRuns(undefined as unknown as { finishedBefore: Date }),
      TypeError,
    );
    assert.equal(
      await ow.deleteRuns({ finishedBefore: new Date(0) }),
      0,
      "none finished before 1970",
    );

    const progress: number[] = [];
    assert.equal(
      await ow.deleteRuns({
        finishedBefore: future,
        status: "succeeded",
        workflowName: "parent",
        onProgress: (n) => progress.push(n),
      }),
      1,
    );
    assert.deepEqual(progress, [1]);
    assert.equal(await ow.getRun(parentRun.id), null);
    assert.deepEqual(await ow.listStepAttempts(parentRun.id), []);
    const orphan = (await ow.getRun(kid.id))!;
    assert.equal(orphan.workflowRun.parentWorkflowRunId, null);
    assert.equal((await waiting.refresh()).status, "pending");
    assert.ok(await ow.getRun(failedRun.id));

    // Everything finished: the failed run; the unfinished kid and the
    // pending run stay.
    assert.equal(await ow.deleteRuns({ finishedBefore: future }), 1);
    assert.equal(await ow.getRun(failedRun.id), null);
    assert.ok(await ow.getRun(kid.id));
    assert.ok(await ow.getRun(waiting.id));
  },
);

testEachBackend(
  "deleteWorkflowRuns() deletes at most `limit` runs per call, oldest finished first",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "quick" }, () => Promise.resolve(1));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await wf.run()).id);
    const worker = ow.newWorker({ concurrency: 1 });
    for (let i = 0; i < 5; i++) await worker.tick();
    const finished = new Date(Date.now() + 60_000);
    const batch = {
      finishedBefore: finished,
      statuses: ["succeeded"],
    } as const;
    assert.equal(await backend.deleteWorkflowRuns!({ ...batch, limit: 2 }), 2);
    const left = (await ow.listRuns()).runs.map((run) => run.id);
    assert.equal(left.length, 3);
    assert.equal(await backend.deleteWorkflowRuns!({ ...batch, limit: 10 }), 3);
    await assert.rejects(
      backend.deleteWorkflowRuns!({ ...batch, limit: 0 }),
      RangeError,
    );
  },
);

testEachBackend(
  "maintenance locks: one owner at a time, renewable by its owner, free once released or lapsed",
  async ({ backend, store }) => {
    const other = await store.connect(
      (backend as unknown as { namespaceId: string }).namespaceId,
    );
    const lock = { name: "retention", durationMs: 300 };
    assert.equal(
      await backend.acquireMaintenanceLock!({ ...lock, ownerId: "a" }),
      true,
    );
    assert.equal(
      await other.acquireMaintenanceLock!({ ...lock, ownerId: "b" }),
      false,
    );
    assert.equal(
      await backend.acquireMaintenanceLock!({ ...lock, ownerId: "a" }),
      true,
      "renewed",
    );
    await other.releaseMaintenanceLock!({ name: "retention", ownerId: "b" });
    assert.equal(
      await other.acquireMaintenanceLock!({ ...lock, ownerId: "b" }),
      false,
      "only the owner releases",
    );
    await backend.releaseMaintenanceLock!({ name: "retention", ownerId: "a" });
    assert.equal(
      await other.acquireMaintenanceLock!({ ...lock, ownerId: "b" }),
      true,
    );
    await delay(400);
    assert.equal(
      await backend.acquireMaintenanceLock!({ ...lock, ownerId: "a" }),
      true,
      "lapsed",
    );
    await assert.rejects(
      backend.acquireMaintenanceLock!({ ...lock, ownerId: "a", durationMs: 0 }),
      RangeError,
    );
  },
);

testEachBackend(
  "workers with retention delete finished runs past it, keep the rest, and sweep one at a time",
  async ({ backend, store, namespaceId }) => {
    const ow = new OpenWorkflow({ backend });
    const quick = ow.defineWorkflow(
      { name: "kept-or-not" },
      () => Promise.resolve("done"),
    );
    const runs = [];
    for (let i = 0; i < 6; i++) runs.push(await quick.run());
    const sleeper = ow.defineWorkflow({ name: "sleeper" }, async ({ step }) => {
      await step.sleep("nap", "1h");
    });
    const napping = await sleeper.run();
    const plain = ow.newWorker();
    await plain.start();
    try {
      for (const run of runs) await run.result({ timeoutMs: 10_000 });
      for (let i = 0; i < 200; i++) {
        if ((await napping.refresh()).status === "sleeping") break;
        await delay(10);
      }
    } finally {
      await plain.stop();
    }
    // Two workers sweep; succeeded runs are kept 1 ms, failed ones forever.
    const second = await store.connect(namespaceId);
    const workers = [
      ow.newWorker({ retention: { succeeded: 1, sweepEvery: "50ms" } }),
      new Worker({
        backend: second,
        workflows: [],
        retention: { succeeded: 1, sweepEvery: "50ms" },
      }),
    ];
    for (const worker of workers) await worker.start();
    try {
      for (let i = 0; i < 300; i++) {
        if (
          (await ow.listRuns({ workflowName: "kept-or-not" })).runs.length === 0
        ) break;
        await delay(20);
      }
      assert.equal(
        (await ow.listRuns({ workflowName: "kept-or-not" })).runs.length,
        0,
      );
      assert.equal((await napping.refresh()).status, "sleeping");
      // One sweeper: the lock is held by one of the two workers.
      const holders = [];
      for (const worker of workers) {
        if (
          !await backend.acquireMaintenanceLock!({
            name: "retention",
            ownerId: worker.id,
            durationMs: 60_000,
          })
        ) continue;
        holders.push(worker.id);
      }
      assert.equal(holders.length, 1);
    } finally {
      for (const worker of workers) await worker.stop();
    }
    assert.throws(
      () => ow.newWorker({ retention: { succeeded: "soon" } }),
      /retention\.succeeded/,
    );
  },
);

testEachBackend(
  "a workflow declared with the top-level defineWorkflow() runs on any client or worker that registers it",
  async ({ backend }) => {
    const declared = defineWorkflow<{ who: string }, string>(
      { name: "declared" },
      async ({ input, step }) =>
        await step.run({ name: "greet" }, () => `hi ${input.who}`),
    );
    const ow = new OpenWorkflow({ backend });
    const definition = ow.registerWorkflow(declared);
    const handle = await definition.run({ who: "ann" });
    // A worker made from the declaration alone.
    const worker = new Worker({ backend, workflows: [declared] });
    await worker.start();
    try {
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "hi ann");
    } finally {
      await worker.stop();
    }
    assert.throws(() => ow.registerWorkflow(declared), /already defined/);
    assert.throws(
      () => ow.registerWorkflow({ name: "x" } as never),
      TypeError,
    );
    assert.throws(
      () => defineWorkflow({ name: "" }, () => 1 as never),
      TypeError,
    );
  },
);
