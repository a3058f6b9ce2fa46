/**
 * The limits of times and durations: every duration is at most
 * `MAX_DURATION_MS` (100 years) and every stored time lies in years 1 to
 * 9999, checked before anything is written; retry policies name their
 * fields; long timeouts are honoured past `setTimeout`'s limit.
 */

import assert from "node:assert/strict";
import { BackendError, MAX_DURATION_MS, OpenWorkflow } from "../../mod.ts";
import { setLongTimeout } from "../../src/core/waits.ts";
import { runParams } from "../../src/testing/conformance/runs.ts";
import { delay, testEachBackend } from "../helpers.ts";

/** 9999-12-31T23:59:59.999Z, the latest time stored. */
const LATEST = new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999));

testEachBackend(
  "huge durations and times out of range are rejected with a RangeError naming them; nothing is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "far-future" }, () => null);
    const cases: [Parameters<typeof wf.run>[1], RegExp][] = [
      [
        { availableAt: 1e20 },
        /Invalid availableAt: must be at most 100 years \(3155760000000 ms\), received 100000000000000000000/,
      ],
      [
        { availableAt: "99999999999999w" },
        /Invalid availableAt: .*received "99999999999999w" \(6\.04799999999994e\+22 ms\)/,
      ],
      [
        { availableAt: new Date(8.64e15) },
        /'availableAt' must be between 0001-01-01T00:00:00\.000Z and 9999-12-31T23:59:59\.999Z, received \+275760-09-13T00:00:00\.000Z/,
      ],
      [
        { deadlineAt: new Date(LATEST.getTime() + 1) },
        /'deadlineAt' must be between .*received \+010000-01-01T00:00:00\.000Z/,
      ],
      [{ deadlineAt: new Date(-1e15) }, /'deadlineAt' must be between/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(
        wf.run(1, options),
        (e) => e instanceof RangeError && message.test(e.message),
      );
    }
    assert.deepEqual((await ow.listRuns()).runs, []);
    // The limits themselves are accepted, and stored as given.
    const latest = await wf.run(1, {
      availableAt: LATEST,
      deadlineAt: LATEST,
    });
    assert.equal(
      (await latest.refresh()).availableAt.getTime(),
      LATEST.getTime(),
    );
    assert.equal(
      (await latest.refresh()).deadlineAt?.getTime(),
      LATEST.getTime(),
    );
    const delayed = await wf.run(2, { availableAt: MAX_DURATION_MS });
    const years = ((await delayed.refresh()).availableAt.getTime() -
      Date.now()) / (365.25 * 86_400_000);
    assert.ok(years > 99.9 && years <= 100, `delayed by ${years} years`);
  },
);

testEachBackend(
  "huge sleeps, step timeouts and retry intervals, and unknown retry fields, are rejected inside the workflow; nothing is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const far = new Date(8.64e15);
    const errors: string[] = [];
    const wf = ow.defineWorkflow({ name: "bad-limits" }, async ({ step }) => {
      const attempts = [
        () => step.sleep("a", 1e20),
        () => step.sleep("b", "99999999999999w"),
        () => step.sleepUntil("c", far),
        () =>
          step.run({
            name: "d",
            retry: { initialIntervalMs: 1e20, maxIntervalMs: 1e20 },
          }, () => 1),
        () => step.run({ name: "e", timeoutMs: 1e20 }, () => 1),
        () =>
          step.run(
            { name: "f", retry: { maxAtempts: 5 } as never },
            () => 1,
          ),
        () => step.run({ name: "g", retry: [] as never }, () => 1),
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
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal((await handle.refresh()).status, "succeeded");
    assert.deepEqual(await handle.listStepAttempts(), []);
    assert.equal(errors.length, 7, errors.join("\n"));
    assert.match(
      errors[0],
      /^RangeError: Invalid duration of sleep 'a': must be at most 100 years \(3155760000000 ms\), received 100000000000000000000$/,
    );
    assert.match(
      errors[1],
      /^RangeError: Invalid duration of sleep 'b': .*received "99999999999999w"/,
    );
    assert.match(
      errors[2],
      /^RangeError: Cannot sleep 'c': 'until' must be between .*received \+275760/,
    );
    assert.match(
      errors[3],
      /^RangeError: Invalid retry policy of step 'd': 'initialIntervalMs' must be between 0 and 3155760000000 \(100 years\), received 100000000000000000000$/,
    );
    assert.match(
      errors[4],
      /^RangeError: Cannot run step 'e': 'timeoutMs' must be a positive number of at most 3155760000000 \(100 years\), received 100000000000000000000$/,
    );
    assert.match(
      errors[5],
      /^TypeError: Invalid retry policy of step 'f': unknown field 'maxAtempts' \(received 5\); the fields are maxAttempts, initialIntervalMs, backoffCoefficient, maxIntervalMs, jitter, maxInterruptions$/,
    );
    assert.match(
      errors[6],
      /^TypeError: Invalid retry policy of step 'g': must be an object, received an array$/,
    );
  },
);

testEachBackend(
  "workflow-level retry policies with unknown fields, arrays or huge intervals are rejected",
  ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const cases: [unknown, new (...args: never[]) => Error, RegExp][] = [
      [
        { maxAtempts: 5 },
        TypeError,
        /workflow 'w0': unknown field 'maxAtempts' \(received 5\)/,
      ],
      [[], TypeError, /workflow 'w1': must be an object, received an array/],
      [
        { initialIntervalMs: 1e20, maxIntervalMs: 1e20 },
        RangeError,
        /workflow 'w2': 'initialIntervalMs' must be between 0 and 3155760000000/,
      ],
      [
        { maxIntervalMs: Infinity },
        RangeError,
        /workflow 'w3': 'maxIntervalMs' must be between initialIntervalMs \(1000\) and 3155760000000 \(100 years\), received Infinity/,
      ],
    ];
    cases.forEach(([retry, type, message], i) => {
      assert.throws(
        () =>
          ow.defineWorkflow(
            { name: `w${i}`, retry: retry as { maxAttempts: number } },
            () => 1,
          ),
        (e) => e instanceof type && message.test(e.message),
      );
    });
    return Promise.resolve();
  },
);

testEachBackend(
  "sleepUntil() the latest time stored parks the run until then",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "sleep-long" }, async ({ step }) => {
      await step.sleepUntil("until-the-end", LATEST);
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    const run = await handle.refresh();
    assert.equal(run.status, "sleeping");
    assert.equal(run.availableAt.getTime(), LATEST.getTime());
  },
);

testEachBackend(
  "a retry policy whose backoff overflows from a wait of 0 still retries at once, and fails when spent",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "overflowing" }, async ({ step }) => {
      await step.run({
        name: "boom",
        retry: {
          maxAttempts: 4,
          initialIntervalMs: 0,
          backoffCoefficient: 1e308,
        },
      }, () => {
        calls++;
        throw new Error("boom");
      });
    });
    const handle = await wf.run();
    const worker = ow.newWorker();
    for (let i = 0; i < 4; i++) assert.equal(await worker.tick(), 1);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    assert.equal(calls, 4);
  },
);

testEachBackend(
  "a step timeout over setTimeout's limit does not fire early",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let aborted = false;
    const wf = ow.defineWorkflow({ name: "long-timeout" }, async ({ step }) => {
      return await step.run(
        { name: "patient", timeoutMs: 3e9, retry: { maxAttempts: 1 } },
        async ({ signal }) => {
          signal.addEventListener("abort", () => aborted = true);
          await delay(100); // an overflowing timer fires after about 1 ms
          return "finished in time";
        },
      );
    });
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 30 * 86_400_000),
    });
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), "finished in time");
    assert.equal(aborted, false);
  },
);

testEachBackend(
  "a value a backend cannot store fails its own call only, not the other writes sent with it",
  async ({ backend }) => {
    // Checked by every backend before anything is queued: typed errors.
    const base = runParams("direct", { input: null });
    await assert.rejects(
      backend.createWorkflowRun({ ...base, availableAt: new Date(8.64e15) }),
      (e) =>
        e instanceof RangeError && /'availableAt'.*\+275760/.test(e.message),
    );
    await assert.rejects(
      backend.createWorkflowRun({ ...base, availableAfterMs: 1e20 }),
      (e) =>
        e instanceof RangeError &&
        /'availableAfterMs' must be .* received 100000000000000000000/.test(
          e.message,
        ),
    );
    const owned = await backend.createWorkflowRun(base);
    const [claimed] = await backend.claimWorkflowRuns({
      workerId: "w",
      leaseDurationMs: 60_000,
      limit: 1,
    });
    assert.equal(claimed.id, owned.id);
    await assert.rejects(
      backend.releaseWorkflowRun({
        workflowRunId: owned.id,
        workerId: "w",
        status: "pending",
        availableAt: new Date(-1e15),
      }),
      (e) => e instanceof RangeError && /'availableAt'/.test(e.message),
    );
    assert.equal(
      (await backend.listWorkflowRuns({ limit: 10 })).runs.length,
      1,
    );
    // A value only the database rejects (a lease too long for Postgres'
    // interval), sent together with other runs' writes: those succeed.
    const first = backend.createWorkflowRun(base); // goes out alone
    const bad = backend.heartbeatWorkflowRun({
      workflowRunId: owned.id,
      workerId: "w",
      leaseDurationMs: 1e300,
    });
    const others = Array.from(
      { length: 5 },
      () => backend.createWorkflowRun(base),
    );
    const outcomes = await Promise.allSettled([first, bad, ...others]);
    assert.deepEqual(
      outcomes.filter((_, i) => i !== 1).map((o) => o.status),
      Array(6).fill("fulfilled"),
    );
    const badOutcome = outcomes[1];
    if (badOutcome.status === "rejected") {
      assert.ok(badOutcome.reason instanceof BackendError);
    }
    assert.equal(
      (await backend.listWorkflowRuns({ limit: 10 })).runs.length,
      7,
    );
  },
);

/**
 * Runs `fn` with a fake clock: `setTimeout`, `clearTimeout` and
 * `performance.now()` answer to `advance(ms)`, which fires the timers due.
 */
function withFakeClock(
  fn: (clock: { advance(ms: number): void; delays: number[] }) => void,
): void {
  const real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    now: performance.now,
  };
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  const fake = ((callback: () => void, ms = 0) => {
    // What a real timer does with a delay over its limit: fire at once.
    const delayMs = ms > 2 ** 31 - 1 ? 1 : Math.max(ms, 0);
    delays.push(ms);
    timers.set(nextId, { at: now + delayMs, fn: callback });
    return nextId++;
  }) as unknown as typeof setTimeout;
  globalThis.setTimeout = fake;
  globalThis.clearTimeout = ((id: number) => {
    timers.delete(id);
  }) as typeof clearTimeout;
  performance.now = () => now;
  try {
    fn({
      delays,
      advance(ms: number) {
        const end = now + ms;
        while (true) {
          const due = [...timers].filter(([, t]) => t.at <= end)
            .sort(([, a], [, b]) => a.at - b.at)[0];
          if (due === undefined) break;
          timers.delete(due[0]);
          now = due[1].at;
          due[1].fn();
        }
        now = end;
      },
    });
  } finally {
    globalThis.setTimeout = real.setTimeout;
    globalThis.clearTimeout = real.clearTimeout;
    performance.now = real.now;
  }
}

Deno.test("setLongTimeout() waits past setTimeout's limit, in steps, and cancels", () => {
  const days = 86_400_000;
  withFakeClock((clock) => {
    let fired = 0;
    setLongTimeout(() => fired++, 30 * days);
    clock.advance(1);
    assert.equal(fired, 0, "fired at once, as an overflowing timer does");
    clock.advance(29 * days);
    assert.equal(fired, 0, "fired before 30 days");
    clock.advance(1 * days);
    assert.equal(fired, 1);
    assert.ok(clock.delays.every((ms) => ms <= 2 ** 31 - 1), `${clock.delays}`);

    const cancel = setLongTimeout(() => fired++, 60 * days);
    clock.advance(40 * days); // into the second step
    cancel();
    clock.advance(30 * days);
    assert.equal(fired, 1, "fired after cancel()");

    setLongTimeout(() => fired++, 5);
    clock.advance(5);
    assert.equal(fired, 2, "a short timeout fires on time");
  });
});
