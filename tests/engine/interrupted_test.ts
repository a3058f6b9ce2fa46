/**
 * Step attempts cut off by a crash or a lost lease: the worker that claims
 * the run next records them failed (`StepInterruptedError`), counts them
 * against the step's retry budget and waits out the backoff, so that a step
 * whose attempts keep being cut off fails instead of running forever.
 */

import assert from "node:assert/strict";
import {
  type Backend,
  OpenWorkflow,
  type StepAttempt,
  WorkflowFailedError,
  type WorkflowRunHandle,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

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
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [run] = await backend.claimWorkflowRuns({
      workerId,
      leaseDurationMs: 50,
      limit: 1,
    });
    if (run !== undefined) {
      assert.equal(run.id, handle.id);
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
  "a step attempt cut off by a crash counts against the step's retries: retried after the backoff, failed once the budget is spent",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "crash-prone" }, async ({ step }) => {
      return await step.run(
        {
          name: "charge",
          retry: { maxAttempts: 2, initialIntervalMs: 300, jitter: 0 },
        },
        () => ++calls,
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker();

    await crashMidStep(backend, handle, "crashed-1", ["charge"]);
    // The next claim records the cut-off attempt and parks the run for the
    // policy's backoff; the step does not run meanwhile.
    assert.equal(await worker.tick(), 1);
    const [first] = await handle.listStepAttempts();
    assert.equal(first.status, "failed");
    assert.equal(errorName(first), "StepInterruptedError");
    assert.match(
      (first.error as { message: string }).message,
      /step 'charge'.*was interrupted: its worker crashed or lost the run's lease/,
    );
    assert.ok(first.completedAt !== null);
    const parked = await handle.refresh();
    assert.equal(parked.status, "pending");
    const waitMs = parked.availableAt.getTime() -
      first.completedAt.getTime();
    assert.ok(waitMs >= 250 && waitMs <= 1_000, `parked for ${waitMs} ms`);
    assert.equal(await worker.tick(), 0); // not due yet
    assert.equal(calls, 0);

    // The retry is cut off too: the budget of 2 is spent, the run fails.
    await crashMidStep(backend, handle, "crashed-2", ["charge"]);
    assert.equal(await worker.tick(), 1);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).name, "StepInterruptedError");
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(
      attempts.map((a) => [a.status, errorName(a)]),
      [["failed", "StepInterruptedError"], ["failed", "StepInterruptedError"]],
    );
    assert.equal(calls, 0);
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
