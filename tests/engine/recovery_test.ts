import assert from "node:assert/strict";
import {
  type Backend,
  DeadlineExceededError,
  OpenWorkflow,
  WorkflowFailedError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

/**
 * Resolves once run `id` has a `running` attempt of step `name` (a step
 * still running after the turn of the event loop that started it has its
 * row then).
 */
async function attemptRunning(
  backend: Backend,
  id: string,
  name: string,
): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const attempts = await backend.listStepAttempts({ workflowRunId: id });
    if (attempts.some((a) => a.stepName === name && a.status === "running")) {
      return;
    }
    await delay(5);
  }
  throw new Error(`no running attempt of step '${name}'`);
}

/**
 * A backend whose process "dies" on `crash()`: from then on every call
 * fails, as if the worker's host were gone. No write reaches the database.
 */
function crashable(backend: Backend): { backend: Backend; crash(): void } {
  let crashed = false;
  const proxy = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (crashed) return Promise.reject(new Error("process crashed"));
        return value.apply(target, args);
      };
    },
  });
  return { backend: proxy, crash: () => crashed = true };
}

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
    await attemptRunning(backend, handleA.id, "two");
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
  "a step cut off within the turn that started it, in a run's first execution, leaves no attempt; the next executions write theirs first, so maxInterruptions still ends it",
  async ({ backend }) => {
    let calls = 0;
    let crash = () => {};
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow({ name: "poison" }, async ({ step }) => {
        return await step.run(
          { name: "render", retry: { maxInterruptions: 1 } },
          () => {
            calls++;
            crash(); // the process dies at once
            return new Promise<never>(() => {});
          },
        );
      });
    const handle = await define(new OpenWorkflow({ backend })).run();
    const attemptsOf = async () =>
      (await backend.listStepAttempts({ workflowRunId: handle.id })).map((
        a,
      ) => [a.status, (a.error as { name?: string } | null)?.name ?? null]);
    // Each execution runs on a worker whose process then dies; its lease
    // lapses and the next worker claims the run.
    const execute = async (i: number) => {
      const doomed = crashable(backend);
      crash = doomed.crash;
      const ow = new OpenWorkflow({ backend: doomed.backend });
      define(ow);
      const worker = ow.newWorker({ leaseDurationMs: 100 });
      for (let tries = 0; tries < 200; tries++) {
        if (await worker.tick() > 0) break;
        await delay(20);
      }
      assert.equal(calls, i, `execution ${i} ran the step`);
      await delay(150); // the lease lapses
    };
    await execute(1);
    // The first execution's attempt was never written.
    assert.deepEqual(await attemptsOf(), []);
    await execute(2);
    assert.deepEqual(await attemptsOf(), [["running", null]]);
    await execute(3);
    assert.deepEqual(await attemptsOf(), [
      ["failed", "StepInterruptedError"],
      ["running", null],
    ]);
    // The fourth execution counts two interruptions, one past the budget.
    const healthy = new OpenWorkflow({ backend });
    define(healthy);
    const last = healthy.newWorker({ pollIntervalMs: 20 });
    await last.start();
    try {
      const error = await handle.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal(
        (error.cause as Error).name,
        "StepInterruptedTooOftenError",
      );
    } finally {
      await last.stop();
    }
    assert.equal(calls, 3);
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
    await attemptRunning(backend, handle.id, "slow-step");
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
