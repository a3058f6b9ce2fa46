/**
 * The time-skipping test environment: every durable timer follows its
 * virtual clock (sleeps, `sleepUntil`, step and workflow retry backoff,
 * `availableAt`, deadlines, signal and child-workflow timeouts, schedules),
 * `advance()` fires what falls due in order and resolves once the engine is
 * idle, and all of it takes milliseconds of real time.
 */

import assert from "node:assert/strict";
import { createTestEnvironment, type TestEnvironment } from "../../testing.ts";
import { DeadlineExceededError, WorkflowFailedError } from "../../mod.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = new Date("2030-01-01T00:00:00.000Z");

/** An environment at `START`. */
function environment(): Promise<TestEnvironment> {
  return createTestEnvironment({ now: START });
}

/** Starts a worker for the workflows defined so far. */
async function startWorker(env: TestEnvironment): Promise<void> {
  await env.ow.newWorker().start();
}

/** The virtual time, in ms since `START`. */
function elapsed(env: TestEnvironment): number {
  return env.now().getTime() - START.getTime();
}

Deno.test("a 30-day sleep ends with advance('30d'), not before", async () => {
  await using env = await environment();
  const trial = env.ow.defineWorkflow({ name: "trial" }, async ({ step }) => {
    await step.sleep("trial-period", "30d");
    return await step.run({ name: "charge" }, () => "charged");
  });
  const realStart = performance.now();
  await startWorker(env);
  const handle = await trial.run();
  await env.advance("29d");
  assert.equal((await handle.refresh()).status, "sleeping");
  await env.advance("1d");
  assert.equal(await handle.result({ timeoutMs: 5_000 }), "charged");
  assert.ok(elapsed(env) >= 30 * DAY && elapsed(env) < 30 * DAY + 60_000);
  // The month went by in (much) less than a minute of real time.
  assert.ok(performance.now() - realStart < 60_000);
});

Deno.test("sleepUntil and availableAt follow the virtual clock", async () => {
  await using env = await environment();
  const seen: number[] = [];
  const wf = env.ow.defineWorkflow({ name: "until" }, async ({ step }) => {
    await step.run({ name: "start" }, () => seen.push(elapsed(env)));
    await step.sleepUntil("new-year", new Date("2031-01-01T00:00:00Z"));
    await step.run({ name: "end" }, () => seen.push(elapsed(env)));
  });
  await startWorker(env);
  const delayed = await wf.run(undefined, { availableAt: "10d" });
  const dated = await wf.run(undefined, {
    availableAt: new Date("2030-06-01T00:00:00Z"),
  });
  await env.advance("9d");
  assert.equal((await delayed.refresh()).status, "pending");
  await env.advanceTo(new Date("2032-01-01T00:00:00Z"));
  await delayed.result({ timeoutMs: 5_000 });
  await dated.result({ timeoutMs: 5_000 });
  const newYear = Date.parse("2031-01-01T00:00:00Z") - START.getTime();
  const june = Date.parse("2030-06-01T00:00:00Z") - START.getTime();
  // Each started when due, in order, and ended at the new year.
  assert.equal(seen.length, 4);
  assert.ok(seen[0] >= 10 * DAY && seen[0] < 10 * DAY + 60_000);
  assert.ok(seen[1] >= june && seen[1] < june + 60_000);
  assert.ok(seen[2] >= newYear && seen[3] >= newYear);
  assert.ok(seen[3] < newYear + 60_000);
});

Deno.test("a step's hour-long retry backoff is skipped, attempt by attempt", async () => {
  await using env = await environment();
  const attempts: number[] = [];
  const wf = env.ow.defineWorkflow(
    { name: "flaky" },
    async ({ step }) =>
      await step.run({
        name: "call",
        retry: {
          maxAttempts: 3,
          initialIntervalMs: HOUR,
          backoffCoefficient: 2,
          maxIntervalMs: 10 * HOUR,
          jitter: 0,
        },
      }, () => {
        attempts.push(elapsed(env));
        if (attempts.length < 3) throw new Error("try later");
        return "ok";
      }),
  );
  await startWorker(env);
  const handle = await wf.run();
  await env.advance("59m");
  assert.equal(attempts.length, 1);
  await env.advance("2h"); // 1h after the first attempt, then 2h after the second
  assert.equal(attempts.length, 2);
  await env.advance("1h");
  assert.equal(await handle.result({ timeoutMs: 5_000 }), "ok");
  assert.ok(attempts[1] - attempts[0] >= HOUR);
  assert.ok(attempts[2] - attempts[1] >= 2 * HOUR);
  assert.ok(attempts[2] < 3 * HOUR + 60_000);
});

Deno.test("a workflow's retry backoff is skipped", async () => {
  await using env = await environment();
  let calls = 0;
  const wf = env.ow.defineWorkflow({
    name: "retried",
    retry: {
      maxAttempts: 2,
      initialIntervalMs: 6 * HOUR,
      maxIntervalMs: 6 * HOUR,
      jitter: 0,
    },
  }, () => {
    if (++calls === 1) throw new Error("first time");
    return calls;
  });
  await startWorker(env);
  const handle = await wf.run();
  await env.advance("5h");
  assert.equal(calls, 1);
  assert.equal((await handle.refresh()).status, "pending");
  await env.advance("1h");
  assert.equal(await handle.result({ timeoutMs: 5_000 }), 2);
});

Deno.test("advance past a deadline fails a sleeping run with DeadlineExceededError", async () => {
  await using env = await environment();
  const wf = env.ow.defineWorkflow({ name: "slow" }, async ({ step }) => {
    await step.sleep("wait", "7d");
    return "late";
  });
  await startWorker(env);
  const handle = await wf.run(undefined, {
    deadlineAt: new Date(START.getTime() + 2 * DAY),
  });
  await env.advance("1d");
  assert.equal((await handle.refresh()).status, "sleeping");
  await env.advance("1d");
  const run = await handle.refresh();
  assert.equal(run.status, "failed");
  const error = await handle.result().then(() => null, (e: unknown) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.equal((error.cause as Error).name, "DeadlineExceededError");
  assert.ok(run.completedAt!.getTime() - START.getTime() >= 2 * DAY);
  assert.ok(DeadlineExceededError);
});

Deno.test("signal waits time out with the clock; a signal before the timeout wins", async () => {
  await using env = await environment();
  const wf = env.ow.defineWorkflow<void, unknown>(
    { name: "approval" },
    async ({ step }) =>
      await step.waitForSignal({ signal: "approve", timeout: "7d" }),
  );
  await startWorker(env);
  const ignored = await wf.run();
  const approved = await wf.run();
  await env.advance("3d");
  await approved.sendSignal("approve", { by: "ada" });
  await env.idle();
  assert.deepEqual(await approved.result({ timeoutMs: 5_000 }), {
    data: { by: "ada" },
  });
  assert.equal((await ignored.refresh()).status, "sleeping");
  await env.advance("4d");
  assert.equal(await ignored.result({ timeoutMs: 5_000 }), null);
});

Deno.test("a child workflow's timeout follows the clock", async () => {
  await using env = await environment();
  const child = env.ow.defineWorkflow({ name: "child" }, async ({ step }) => {
    await step.sleep("long", "30d");
    return "done";
  });
  const parent = env.ow.defineWorkflow({ name: "parent" }, async ({ step }) => {
    try {
      return await step.runWorkflow(child, undefined, { timeout: "2d" });
    } catch (error) {
      return `gave up: ${(error as Error).name}`;
    }
  });
  await startWorker(env);
  const handle = await parent.run();
  await env.advance("1d");
  assert.equal((await handle.refresh()).status, "sleeping");
  await env.advance("1d");
  assert.equal(
    await handle.result({ timeoutMs: 5_000 }),
    "gave up: StepTimeoutError",
  );
});

Deno.test("schedules fire every cron slot the clock passes, in order", async () => {
  await using env = await environment();
  const fired: string[] = [];
  const hourly = env.ow.defineWorkflow<unknown, void>(
    { name: "hourly" },
    async ({ step, run }) => {
      await step.run({ name: "log" }, () => {
        fired.push(`${run.id}@${elapsed(env) / HOUR | 0}`);
      });
    },
  );
  await startWorker(env);
  await env.ow.createSchedule({
    id: "every-hour",
    workflow: hourly,
    cron: "0 * * * *",
    catchUp: "all",
  });
  await env.advance("30m");
  assert.equal(fired.length, 0);
  await env.advance("3h");
  assert.deepEqual(fired.map((f) => f.split("@")[1]), ["1", "2", "3"]);
  const runs = await env.ow.listRuns({ workflowName: "hourly" });
  assert.equal(runs.runs.length, 3);
  assert.ok(runs.runs.every((run) => run.status === "succeeded"));
});

Deno.test("advance fires what falls due in order across runs", async () => {
  await using env = await environment();
  const order: string[] = [];
  const wf = env.ow.defineWorkflow<{ name: string; wait: string }, void>(
    { name: "sleeper" },
    async ({ input, step }) => {
      await step.sleep("wait", input.wait);
      await step.run({ name: "wake" }, () => {
        order.push(input.name);
      });
    },
  );
  await startWorker(env);
  await wf.run({ name: "third", wait: "3d" });
  await wf.run({ name: "first", wait: "1h" });
  await wf.run({ name: "second", wait: "2d" });
  await env.advance("10d");
  assert.deepEqual(order, ["first", "second", "third"]);
  assert.ok(elapsed(env) >= 10 * DAY);
});

Deno.test("advance resolves with work no worker takes, and then without workers", async () => {
  await using env = await createTestEnvironment({ now: START });
  const orphan = env.ow.defineWorkflow({ name: "orphan" }, () => 1);
  const handle = await orphan.run();
  await env.advance("1h"); // no worker: the run stays pending
  assert.equal((await handle.refresh()).status, "pending");
  assert.ok(elapsed(env) >= HOUR);
  await env.ow.newWorker().start();
  await env.idle();
  assert.equal(await handle.result({ timeoutMs: 5_000 }), 1);
});

Deno.test("advances run one after the other, and the clock never goes back", async () => {
  await using env = await environment();
  const before = env.now().getTime();
  await Promise.all([env.advance("1h"), env.advance(30 * 60_000)]);
  assert.ok(env.now().getTime() - before >= 90 * 60_000);
  await env.advanceTo(START); // in the past: nothing moves
  assert.ok(env.now().getTime() - before >= 90 * 60_000);
});

Deno.test("bad input to advance, advanceTo and createTestEnvironment is a typed error", async () => {
  await using env = await createTestEnvironment();
  await assert.rejects(env.advance("soon"), TypeError);
  await assert.rejects(env.advance(-1), RangeError);
  await assert.rejects(
    env.advanceTo(new Date(Number.NaN)),
    /'time' must be a valid Date/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    createTestEnvironment({ now: "tomorrow" as any }),
    /'now' must be a valid Date, received "tomorrow"/,
  );
  // The rejected calls moved nothing: the clock still runs with real time.
  assert.ok(Math.abs(env.now().getTime() - Date.now()) < 60_000);
});

Deno.test("advance past a deadline runs a sleeping run's compensations, then fails it", async () => {
  await using env = await environment();
  const log: string[] = [];
  const wf = env.ow.defineWorkflow({ name: "booking" }, async ({ step }) => {
    await step.run({
      name: "hold-room",
      compensate: (room) =>
        void log.push(`release ${room} @${elapsed(env) / DAY | 0}d`),
    }, () => "room-4");
    await step.sleep("await-payment", "14d");
    return "confirmed";
  });
  await startWorker(env);
  const handle = await wf.run(undefined, {
    deadlineAt: new Date(START.getTime() + 7 * DAY),
  });
  await env.advance("6d");
  assert.deepEqual(log, []);
  await env.advance("1d");
  assert.deepEqual(log, ["release room-4 @7d"]);
  const error = await handle.result().then(() => null, (e: unknown) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.equal((error.cause as Error).name, "DeadlineExceededError");
});
