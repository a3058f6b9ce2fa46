import assert from "node:assert/strict";
import {
  OpenWorkflow,
  WorkflowCanceledError,
  WorkflowRunNotFoundError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "step.sleep() parks the run, frees the worker, and is never slept twice",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const calls = { before: 0, after: 0 };
    const wf = ow.defineWorkflow({ name: "napper" }, async ({ step }) => {
      await step.run({ name: "before" }, () => ++calls.before);
      // Long enough that the second tick below comes before it ends, on
      // a loaded machine too.
      await step.sleep("nap", "1s");
      await step.run({ name: "after" }, () => ++calls.after);
      return "awake";
    });
    const handle = await wf.run();
    const first = ow.newWorker();
    assert.equal(await first.tick(), 1);
    const sleeping = await handle.refresh();
    assert.equal(sleeping.status, "sleeping");
    assert.equal(sleeping.workerId, first.id);
    assert.equal(first.activeCount, 0);
    assert.equal(await first.tick(), 0);
    await first.stop(); // the worker that started the sleep goes away
    await delay(1_050);
    const second = ow.newWorker(); // another worker resumes it when due
    assert.equal(await second.tick(), 1);
    assert.equal(await handle.result(), "awake");
    assert.deepEqual(calls, { before: 1, after: 1 });
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(attempts.map((a) => [a.stepName, a.kind, a.status]), [
      ["before", "run", "succeeded"],
      ["nap", "sleep", "succeeded"],
      ["after", "run", "succeeded"],
    ]);
    // The sleep ends 1 s after it began, which is after the run started.
    const resumeAt = Date.parse(
      (attempts[1].context as { resumeAt: string }).resumeAt,
    );
    const startedAt = (await handle.refresh()).startedAt!.getTime();
    assert.ok(resumeAt - startedAt >= 980, `slept ${resumeAt - startedAt} ms`);
  },
);

testEachBackend(
  "sleepUntil() in the past returns at once; a running worker wakes sleeping runs when due",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "until" }, async ({ step }) => {
      await step.sleepUntil("past", new Date(Date.now() - 1000));
      const t0 = Date.now();
      await step.sleepUntil("soon", new Date(Date.now() + 200));
      return Date.now() >= t0;
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      assert.equal(await handle.result({ timeoutMs: 5_000 }), true);
      const kinds = (await handle.listStepAttempts()).map((
        a,
      ) => [a.stepName, a.status]);
      assert.deepEqual(kinds, [["past", "succeeded"], ["soon", "succeeded"]]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "run(input, { availableAt }) delays the start",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "delayed" }, () => "started");
    const byDuration = await wf.run(null, { availableAt: "300ms" });
    const byDate = await wf.run(null, {
      availableAt: new Date(Date.now() + 300),
    });
    const worker = ow.newWorker({ concurrency: 2 });
    assert.equal(await worker.tick(), 0);
    assert.equal((await byDuration.refresh()).status, "pending");
    await delay(400);
    assert.equal(await worker.tick(), 2);
    assert.equal(await byDuration.result(), "started");
    assert.equal(await byDate.result(), "started");
  },
);

testEachBackend(
  "a canceled pending or sleeping run never runs again",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let afterSleep = 0;
    let started = 0;
    const wf = ow.defineWorkflow({ name: "cancel-me" }, async ({ step }) => {
      started++;
      await step.sleep("wait", "200ms");
      afterSleep++;
    });
    const pending = await wf.run();
    const canceled = await pending.cancel();
    assert.equal(canceled.status, "canceled");
    const sleeper = await wf.run();
    const worker = ow.newWorker({ concurrency: 2 });
    assert.equal(await worker.tick(), 1);
    assert.equal((await sleeper.refresh()).status, "sleeping");
    assert.equal((await ow.cancelRun(sleeper.id)).status, "canceled");
    await delay(250);
    assert.equal(await worker.tick(), 0);
    assert.equal(started, 1);
    assert.equal(afterSleep, 0);
    for (const handle of [pending, sleeper]) {
      const error = await handle.result().then(() => null, (e) => e);
      assert.ok(error instanceof WorkflowCanceledError);
      assert.equal(error.workflowRunId, handle.id);
    }
    // Canceling a finished run changes nothing.
    assert.equal((await pending.cancel()).status, "canceled");
    await assert.rejects(
      ow.cancelRun(crypto.randomUUID()),
      WorkflowRunNotFoundError,
    );
    await assert.rejects(ow.cancelRun("not-an-id"), WorkflowRunNotFoundError);
  },
);

testEachBackend(
  "canceling a running run aborts its step signal and stops it at the next step",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const inStep = Promise.withResolvers<void>();
    let reason: unknown;
    let nextStep = 0;
    const wf = ow.defineWorkflow({ name: "long-runner" }, async ({ step }) => {
      await step.run(
        { name: "long" },
        ({ signal }) =>
          new Promise<void>((resolve) => {
            inStep.resolve();
            signal.addEventListener("abort", () => {
              reason = signal.reason;
              resolve();
            });
          }),
      );
      await step.run({ name: "next" }, () => nextStep++);
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      await inStep.promise;
      await handle.cancel();
      await assert.rejects(handle.result(), WorkflowCanceledError);
      await delay(50);
      assert.ok(reason instanceof WorkflowCanceledError);
      assert.equal(nextStep, 0);
      assert.equal((await handle.refresh()).status, "canceled");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a step's signal aborts only while the step runs, never after it settled",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const inSecond = Promise.withResolvers<void>();
    const reasons: Record<string, unknown> = {};
    const wf = ow.defineWorkflow({ name: "settled" }, async ({ step }) => {
      await step.run({ name: "first" }, ({ signal }) => {
        signal.addEventListener("abort", () => reasons.first = signal.reason);
      });
      await step.run(
        { name: "second" },
        ({ signal }) =>
          new Promise<void>((resolve) => {
            signal.addEventListener("abort", () => {
              reasons.second = signal.reason;
              resolve();
            });
            inSecond.resolve();
          }),
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      await inSecond.promise;
      await handle.cancel();
      await assert.rejects(handle.result(), WorkflowCanceledError);
      await delay(50);
      assert.deepEqual(Object.keys(reasons), ["second"]);
      assert.ok(reasons.second instanceof WorkflowCanceledError);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a run canceled by another process stops at its next step boundary",
  async ({ backend, store, namespaceId }) => {
    const ow = new OpenWorkflow({ backend });
    const release = Promise.withResolvers<void>();
    const inStep = Promise.withResolvers<void>();
    let nextStep = 0;
    const wf = ow.defineWorkflow(
      { name: "remote-cancel" },
      async ({ step }) => {
        await step.run({ name: "first" }, async () => {
          inStep.resolve();
          await release.promise;
        });
        await step.run({ name: "next" }, () => nextStep++);
      },
    );
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      await inStep.promise;
      // Another process: its own backend (own connections), same namespace.
      const remote = new OpenWorkflow({
        backend: await store.connect(namespaceId),
      });
      await remote.cancelRun(handle.id);
      release.resolve();
      await delay(100);
      assert.equal(nextStep, 0);
      const run = await handle.refresh();
      assert.equal(run.status, "canceled");
      assert.equal(run.output, null);
    } finally {
      await worker.stop();
    }
  },
);
