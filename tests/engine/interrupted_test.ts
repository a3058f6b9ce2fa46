/**
 * Step attempts cut off by a crash or a lost lease: the worker that claims
 * the run next records them failed (`StepInterruptedError`) and tries the
 * step again at once. They are not the step's own failures: they count
 * against the policy's `maxInterruptions`, not `maxAttempts`, so that a
 * deploy or an outage never fails a step whose code never threw, while a
 * step whose attempts keep being cut off still fails
 * (`StepInterruptedTooOftenError`) instead of running forever.
 */

import assert from "node:assert/strict";
import {
  type Backend,
  OpenWorkflow,
  type StepAttempt,
  WorkflowFailedError,
  type WorkflowRunHandle,
} from "../../mod.ts";
import { crashable, delay, testEachBackend } from "../helpers.ts";

/**
 * What a worker that crashes mid-step leaves behind: it claims the run (as
 * soon as it is due), creates attempts of `stepNames`, and dies; its lease
 * lapses.
 */
async function crashMidStep(
  backend: Backend,
  handle: WorkflowRunHandle<unknown>,
  workerId: string,
  stepNames: string[],
  recordCut = false,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [run] = await backend.claimWorkflowRuns({
      workerId,
      leaseDurationMs: 50,
      limit: 1,
    });
    if (run !== undefined) {
      assert.equal(run.id, handle.id);
      // As an execution does, it records the attempt it found cut off.
      for (const attempt of recordCut ? await handle.listStepAttempts() : []) {
        if (attempt.status !== "running") continue;
        await backend.markStepAttemptFailed({
          workflowRunId: run.id,
          stepAttemptId: attempt.id,
          workerId,
          error: { name: "StepInterruptedError", message: "cut off" },
        });
      }
      for (const stepName of stepNames) {
        await backend.createStepAttempt({
          workflowRunId: run.id,
          workerId,
          stepName,
          kind: "run",
          config: {},
          context: null,
        });
      }
      await delay(100); // the lease lapses
      return;
    }
    await delay(20);
  }
  assert.fail("the run never became claimable");
}

function errorName(attempt: StepAttempt): string | null {
  return (attempt.error as { name?: string } | null)?.name ?? null;
}

testEachBackend(
  "a step attempt cut off by a crash is retried at once, and does not count against the step's maxAttempts",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const seen: number[] = [];
    const wf = ow.defineWorkflow({ name: "crash-prone" }, async ({ step }) => {
      return await step.run(
        // One attempt of its own: a crash must not use it up.
        {
          name: "charge",
          retry: { maxAttempts: 1, initialIntervalMs: 60_000 },
        },
        ({ attempt }) => {
          seen.push(attempt);
          return "charged";
        },
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker();

    await crashMidStep(backend, handle, "crashed-1", ["charge"]);
    // The next claim records the cut-off attempt and runs the step again
    // at once, without the policy's backoff.
    assert.equal(await worker.tick(), 1);
    assert.equal(await handle.result(), "charged");
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(
      attempts.map((a) => [a.status, errorName(a)]),
      [["failed", "StepInterruptedError"], ["succeeded", null]],
    );
    assert.match(
      (attempts[0].error as { message: string }).message,
      /step 'charge'.*was interrupted: its worker crashed or lost the run's lease/,
    );
    assert.deepEqual(seen, [2], "the function sees it is the second attempt");
  },
);

testEachBackend(
  "a step cut off more often than its maxInterruptions fails for good with StepInterruptedTooOftenError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "crash-loop" }, async ({ step }) => {
      return await step.run(
        { name: "render", retry: { maxAttempts: 5, maxInterruptions: 1 } },
        () => ++calls,
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker();
    await crashMidStep(backend, handle, "crashed-1", ["render"]);
    await crashMidStep(backend, handle, "crashed-2", ["render"], true);
    assert.equal(await worker.tick(), 1);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause as Error & { interruptions?: number };
    assert.equal(cause.name, "StepInterruptedTooOftenError");
    assert.match(
      cause.message,
      /Step 'render' .* kept killing or losing its worker: 2 of its attempts were cut off/,
    );
    assert.equal(calls, 0, "never run again past the budget");
    assert.deepEqual(
      (await handle.listStepAttempts()).map((a) => errorName(a)),
      ["StepInterruptedError", "StepInterruptedError"],
    );
    assert.equal(await worker.tick(), 0); // nothing left to run
  },
);

testEachBackend(
  "parallel step attempts cut off together are each recorded failed once, and retried",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const calls: Record<string, number[]> = { left: [], right: [] };
    const retry = { maxAttempts: 3, initialIntervalMs: 100, jitter: 0 };
    const wf = ow.defineWorkflow(
      { name: "crash-parallel" },
      async ({ step }) => {
        const [left, right] = await Promise.all(
          (["left", "right"] as const).map((name) =>
            step.run({ name, retry }, ({ attempt }) => {
              calls[name].push(attempt);
              return `${name} ${attempt}`;
            })
          ),
        );
        return `${left}, ${right}`;
      },
    );
    const handle = await wf.run();
    await crashMidStep(backend, handle, "crashed", ["left", "right"]);
    const failed: string[] = [];
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    worker.addEventListener("step-failed", (event) => {
      failed.push(`${event.stepName} ${event.attempt}`);
    });
    await worker.start();
    try {
      assert.equal(
        await handle.result({ timeoutMs: 10_000 }),
        "left 2, right 2",
      );
    } finally {
      await worker.stop();
    }
    assert.deepEqual(calls, { left: [2], right: [2] });
    assert.deepEqual(failed.sort(), ["left 1", "right 1"]);
    const attempts = await handle.listStepAttempts();
    for (const name of ["left", "right"]) {
      assert.deepEqual(
        attempts.filter((a) => a.stepName === name).map((a) => [
          a.status,
          errorName(a),
        ]),
        [["failed", "StepInterruptedError"], ["succeeded", null]],
      );
    }
  },
);

testEachBackend(
  "a step whose function kills its worker each time (engine executions, not a simulation) fails with StepInterruptedTooOftenError",
  async ({ backend }) => {
    // Each attempt is stored before its function runs: every crash inside
    // it is found by the next execution and counted.
    let calls = 0;
    let crash = () => {};
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow({ name: "poison" }, async ({ step }) => {
        await step.run({ name: "fine" }, () => "ok");
        return await step.run(
          { name: "poison", retry: { maxInterruptions: 1 } },
          () => {
            calls++;
            crash(); // the worker's process dies inside the function
            return "never stored";
          },
        );
      });
    const handle = await define(new OpenWorkflow({ backend })).run();
    for (let execution = 1; execution <= 8; execution++) {
      const doomed = crashable(backend);
      crash = doomed.crash;
      const ow = new OpenWorkflow({ backend: doomed.backend });
      define(ow);
      const worker = ow.newWorker({ leaseDurationMs: 100 });
      // A claim of its own, once the last worker's lease lapsed.
      for (let i = 0; i < 100 && await worker.tick() === 0; i++) {
        await delay(20);
      }
      await worker.stop();
      if ((await handle.refresh()).status === "failed") break;
      await delay(150); // the lease lapses
    }
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).name, "StepInterruptedTooOftenError");
    // Execution 1: cut; 2: cut once (within the budget), run again and cut;
    // 3: cut twice: fails without running it.
    assert.equal(calls, 2);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(
      attempts.map((a) => [a.stepName, a.status, errorName(a)]),
      [
        ["fine", "succeeded", null],
        ["poison", "failed", "StepInterruptedError"],
        ["poison", "failed", "StepInterruptedError"],
      ],
    );
  },
);
