import assert from "node:assert/strict";
import {
  DeadlineExceededError,
  OpenWorkflow,
  WorkflowFailedError,
} from "../../mod.ts";
import { crashable, delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "a run abandoned mid-way resumes on another worker without redoing completed steps",
  async ({ backend }) => {
    const calls: Record<string, number> = { one: 0, two: 0, three: 0 };
    let releaseTwo = () => {};
    const twoStarted = Promise.withResolvers<void>();
    const define = (ow: OpenWorkflow, blockTwo: boolean) =>
      ow.defineWorkflow({ name: "resumable" }, async ({ step }) => {
        const one = await step.run({ name: "one" }, () => ++calls.one);
        const two = await step.run({ name: "two" }, async () => {
          calls.two++;
          if (blockTwo) {
            twoStarted.resolve();
            await new Promise<void>((resolve) => releaseTwo = resolve);
          }
          return "two";
        });
        const three = await step.run({ name: "three" }, () => ++calls.three);
        return { one, two, three };
      });

    // Worker A starts the run, completes step one, and dies inside step two.
    const doomed = crashable(backend);
    const clientA = new OpenWorkflow({ backend: doomed.backend });
    const wfA = define(clientA, true);
    const workerA = clientA.newWorker({
      leaseDurationMs: 300,
      pollIntervalMs: 20,
    });
    const handleA = await wfA.run();
    await workerA.start();
    await twoStarted.promise;
    doomed.crash();

    // Worker B, another process in effect, takes over once the lease expires.
    const clientB = new OpenWorkflow({ backend });
    define(clientB, false);
    const workerB = clientB.newWorker({
      leaseDurationMs: 5_000,
      pollIntervalMs: 20,
    });
    const handle = (await clientB.getRun(handleA.id))!;
    await workerB.start();
    try {
      assert.deepEqual(
        await handle.result({ timeoutMs: 10_000, pollIntervalMs: 50 }),
        {
          one: 1,
          two: "two",
          three: 1,
        },
      );
      assert.deepEqual(calls, { one: 1, two: 2, three: 1 });
      const run = await handle.refresh();
      // B's claim records A's cut-off attempt and runs step two again at
      // once (no retry backoff: the cut was not the step's failure).
      assert.equal(run.attempts, 2);
      assert.equal(run.workerId, workerB.id);
      const attempts = await handle.listStepAttempts();
      assert.deepEqual(
        attempts.map((a) => [
          a.stepName,
          a.status,
          (a.error as { name?: string } | null)?.name ?? null,
        ]),
        [
          ["one", "succeeded", null],
          ["two", "failed", "StepInterruptedError"], // A's, cut off
          ["two", "succeeded", null],
          ["three", "succeeded", null],
        ],
      );
    } finally {
      releaseTwo(); // A's step finishes late; its writes are fenced out
      await workerB.stop();
      await workerA.stop();
    }
    assert.equal((await handle.refresh()).status, "succeeded");
  },
);

testEachBackend(
  "a worker that lost its lease cannot complete the run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let release = () => {};
    const started = Promise.withResolvers<void>();
    let executions = 0;
    const wf = ow.defineWorkflow({ name: "slow" }, async ({ step }) => {
      executions++;
      return await step.run({ name: "slow-step" }, async () => {
        if (executions === 1) {
          started.resolve();
          await new Promise<void>((resolve) => release = resolve);
          return "stale";
        }
        return "fresh";
      });
    });
    const handle = await wf.run();
    // Worker A claims with a lease it cannot renew (the heartbeat interval is
    // a third of the lease, but A's lease is taken over right away below).
    const workerA = ow.newWorker({ leaseDurationMs: 60_000 });
    const tickA = workerA.tick();
    await started.promise;
    // Force the lease to lapse and let B claim the run.
    const intruder = await backend.claimWorkflowRuns({
      workerId: "takeover",
      leaseDurationMs: 1,
      limit: 1,
    });
    assert.equal(intruder.length, 0, "A's lease is still valid");
    await backend.releaseWorkflowRun({
      workflowRunId: handle.id,
      workerId: workerA.id,
      status: "pending",
      availableAt: null,
    });
    // B records A's attempt as cut off, and retries the step after the
    // policy's backoff.
    const workerB = ow.newWorker({ pollIntervalMs: 20 });
    await workerB.start();
    try {
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "fresh");
    } finally {
      await workerB.stop();
    }
    release();
    await tickA;
    const run = await handle.refresh();
    assert.equal(run.status, "succeeded");
    assert.equal(run.output, "fresh");
    assert.equal(run.workerId, workerB.id);
    assert.deepEqual(
      (await handle.listStepAttempts()).map((a) => a.status),
      ["failed", "succeeded"],
    );
  },
);

testEachBackend(
  "stop() waits for runs in flight and is harmless twice",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const started = Promise.withResolvers<void>();
    const wf = ow.defineWorkflow({ name: "in-flight" }, async ({ step }) => {
      await step.run({ name: "work" }, async () => {
        started.resolve();
        await delay(300);
      });
      return "finished";
    });
    const idle = ow.newWorker();
    await idle.stop(); // never started
    const worker = ow.newWorker({ concurrency: 2, pollIntervalMs: 20 });
    await worker.start();
    const handle = await wf.run();
    await started.promise;
    await worker.stop();
    assert.equal((await handle.refresh()).status, "succeeded");
    await worker.stop();
    assert.equal(worker.activeCount, 0);
    // A stopped worker claims nothing more.
    const later = await wf.run();
    await delay(100);
    assert.equal((await later.refresh()).status, "pending");
  },
);

testEachBackend(
  "a run past its deadline fails with a deadline error and stops",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let aborted: unknown = null;
    let after = 0;
    const wf = ow.defineWorkflow({ name: "deadline" }, async ({ step }) => {
      await step.run({ name: "long" }, async ({ signal }) => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 20_000);
          signal.addEventListener("abort", () => {
            aborted = signal.reason;
            clearTimeout(timer);
            resolve();
          });
        });
      });
      await step.run({ name: "after" }, () => after++);
    });
    // The worker is polling before the run exists, and the deadline leaves
    // time to claim the run and start its step on a loaded machine: the
    // deadline passes while the step runs.
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 1_500),
    });
    try {
      const error = await handle.result({ timeoutMs: 15_000 }).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal((error.cause as Error).name, "DeadlineExceededError");
      assert.ok(aborted instanceof DeadlineExceededError);
      assert.equal(after, 0);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a run whose deadline passed before it started never executes",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let executed = false;
    const wf = ow.defineWorkflow({ name: "too-late" }, () => {
      executed = true;
    });
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 50),
    });
    await delay(100);
    assert.equal(await ow.newWorker().tick(), 0);
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).name, "DeadlineExceededError");
    assert.equal(executed, false);
  },
);
