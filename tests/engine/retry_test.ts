import assert from "node:assert/strict";
import {
  NonRetryableError,
  OpenWorkflow,
  StepTimeoutError,
  WorkflowFailedError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "a failing step is retried with backoff, each attempt recorded, the worker freed meanwhile",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const calls: number[] = [];
    const wf = ow.defineWorkflow({ name: "flaky" }, async ({ step }) => {
      return await step.run(
        {
          name: "flaky-call",
          retry: { maxAttempts: 3, initialIntervalMs: 200, jitter: 0 },
        },
        ({ attempt }) => {
          calls.push(attempt);
          if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
          return "third time lucky";
        },
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker();
    assert.equal(await worker.tick(), 1); // attempt 1 fails, run parks
    const parked = await handle.refresh();
    assert.equal(parked.status, "pending");
    assert.equal(worker.activeCount, 0);
    // Parked for the backoff (200 ms) after the failed attempt.
    const [failed] = await handle.listStepAttempts();
    const waitMs = parked.availableAt.getTime() - failed.completedAt!.getTime();
    assert.ok(waitMs >= 150 && waitMs <= 400, `parked for ${waitMs} ms`);
    assert.equal(await worker.tick(), 0); // not due yet
    // The remaining attempts run when due.
    await worker.start();
    try {
      assert.equal(
        await handle.result({ timeoutMs: 10_000 }),
        "third time lucky",
      );
    } finally {
      await worker.stop();
    }
    assert.deepEqual(calls, [1, 2, 3]);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(attempts.map((a) => a.status), [
      "failed",
      "failed",
      "succeeded",
    ]);
    assert.deepEqual(
      attempts.map((a) =>
        (a.error as { message?: string } | null)?.message ?? null
      ),
      ["attempt 1 failed", "attempt 2 failed", null],
    );
  },
);

testEachBackend(
  "the default step policy tries three times before the error reaches the workflow",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "always-fails" }, async ({ step }) => {
      await step.run({ name: "boom" }, () => {
        calls++;
        throw new Error("boom");
      });
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const error = await handle.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal((error.cause as Error).message, "boom");
      assert.equal(calls, 3);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "NonRetryableError fails the step at once",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow(
      { name: "non-retryable" },
      async ({ step }) => {
        try {
          await step.run(
            { name: "validate", retry: { maxAttempts: 10 } },
            () => {
              calls++;
              throw new NonRetryableError("invalid card number");
            },
          );
        } catch (error) {
          return `handled ${(error as Error).name}: ${
            (error as Error).message
          }`;
        }
        return "not handled";
      },
    );
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.equal(
      await handle.result(),
      "handled NonRetryableError: invalid card number",
    );
    assert.equal(calls, 1);
  },
);

testEachBackend(
  "a step attempt that outlives timeoutMs fails with StepTimeoutError and its signal aborts",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let reason: unknown;
    const wf = ow.defineWorkflow({ name: "timeout" }, async ({ step }) => {
      try {
        await step.run(
          { name: "slow", timeoutMs: 100, retry: { maxAttempts: 1 } },
          ({ signal }) =>
            new Promise((_, reject) => {
              signal.addEventListener("abort", () => {
                reason = signal.reason;
                reject(signal.reason);
              });
            }),
        );
      } catch (error) {
        return (error as Error).name;
      }
      return "no timeout";
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.equal(await handle.result(), "StepTimeoutError");
    assert.ok(reason instanceof StepTimeoutError);
    assert.equal(reason.timeoutMs, 100);
    const [attempt] = await handle.listStepAttempts();
    assert.equal((attempt.error as { name: string }).name, "StepTimeoutError");
  },
);

testEachBackend(
  "a workflow-level retry replays the run and gives failed steps a fresh budget",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const calls = { setup: 0, fragile: 0 };
    const wf = ow.defineWorkflow(
      {
        name: "workflow-retry",
        retry: { maxAttempts: 2, initialIntervalMs: 50, jitter: 0 },
      },
      async ({ step }) => {
        await step.run({ name: "setup" }, () => ++calls.setup);
        return await step.run(
          { name: "fragile", retry: { maxAttempts: 1 } },
          () => {
            if (++calls.fragile === 1) throw new Error("first run fails");
            return "recovered";
          },
        );
      },
    );
    const handle = await wf.run();
    const worker = ow.newWorker();
    assert.equal(await worker.tick(), 1);
    assert.equal((await handle.refresh()).status, "pending");
    await delay(100);
    assert.equal(await worker.tick(), 1);
    assert.equal(await handle.result(), "recovered");
    assert.deepEqual(calls, { setup: 1, fragile: 2 });
  },
);

testEachBackend(
  "impossible retry policies and durations are rejected and nothing is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    assert.throws(
      () =>
        ow.defineWorkflow(
          { name: "bad-retry", retry: { maxAttempts: 0 } },
          () => 1,
        ),
      (e) =>
        e instanceof RangeError &&
        /'maxAttempts' must be an integer of at least 1, received 0/.test(
          e.message,
        ),
    );
    const errors: string[] = [];
    const wf = ow.defineWorkflow({ name: "bad-steps" }, async ({ step }) => {
      const attempts = [
        () =>
          step.run({ name: "a", retry: { backoffCoefficient: 0.5 } }, () => 1),
        () =>
          step.run({
            name: "b",
            retry: { initialIntervalMs: 5000, maxIntervalMs: 10 },
          }, () => 1),
        () => step.run({ name: "c", retry: { jitter: 2 } }, () => 1),
        () => step.run({ name: "d", retry: { maxAttempts: NaN } }, () => 1),
        () => step.run({ name: "e", timeoutMs: -1 }, () => 1),
        () => step.sleep("f", -5),
        () => step.sleep("g", NaN),
        () => step.sleep("h", "five minutes"),
        () => step.sleepUntil("i", new Date("garbage")),
        () => step.run({ name: "" }, () => 1),
      ];
      for (const attempt of attempts) {
        try {
          await attempt();
        } catch (error) {
          errors.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.equal((await handle.refresh()).status, "succeeded");
    assert.equal(errors.length, 10);
    assert.match(
      errors[0],
      /^RangeError: .*step 'a'.*'backoffCoefficient' must be a finite number of at least 1, received 0.5/,
    );
    assert.match(errors[1], /^RangeError: .*'maxIntervalMs'/);
    assert.match(
      errors[2],
      /^RangeError: .*'jitter' must be between 0 and 1, received 2/,
    );
    assert.match(
      errors[3],
      /^TypeError: .*'maxAttempts' must be a number, received NaN/,
    );
    assert.match(errors[4], /^RangeError: .*'timeoutMs'/);
    assert.match(
      errors[5],
      /^RangeError: Invalid duration of sleep 'f'.*received -5/,
    );
    assert.match(
      errors[6],
      /^RangeError: Invalid duration of sleep 'g'.*received NaN/,
    );
    assert.match(
      errors[7],
      /^TypeError: Invalid duration of sleep 'h': cannot parse "five minutes"/,
    );
    assert.match(errors[8], /^TypeError: .*'until' must be a valid Date/);
    assert.match(errors[9], /^TypeError: .*'name' must be a non-empty string/);
    assert.deepEqual(await handle.listStepAttempts(), []);
  },
);

testEachBackend(
  "a step's NonRetryableError the workflow does not catch fails the run without a workflow-level retry",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow(
      {
        name: "non-retryable-run",
        retry: { maxAttempts: 3, initialIntervalMs: 0, maxIntervalMs: 0 },
      },
      async ({ step }) => {
        await step.run({ name: "validate" }, () => {
          calls++;
          throw new NonRetryableError("invalid card number");
        });
      },
    );
    const handle = await wf.run();
    const worker = ow.newWorker();
    assert.equal(await worker.tick(), 1);
    // Failed at once: nothing left to claim, however often the worker looks.
    assert.equal(await worker.tick(), 0);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    assert.equal(run.attempts, 1);
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).name, "NonRetryableError");
    assert.equal((error.cause as Error).message, "invalid card number");
    assert.equal(calls, 1);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(attempts.map((a) => a.status), ["failed"]);
  },
);
