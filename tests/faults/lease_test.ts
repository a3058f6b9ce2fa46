/**
 * Leases under faults: a worker that stops renewing its lease while a step
 * is still running loses the run; its late writes are fenced out, and each
 * step's result comes from exactly one owner.
 */

import assert from "node:assert/strict";
import {
  type Backend,
  LeaseLostError,
  OpenWorkflow,
  type WorkflowRunHandle,
} from "../../mod.ts";
import { delay } from "../helpers.ts";
import { testEachBackend } from "../helpers.ts";

/** How a wrapped backend's heartbeats behave. */
type HeartbeatMode = "renew" | "hang" | "fail";

/**
 * `backend`, with heartbeats that can be made to hang (a stalled network,
 * a paused process) or to fail, as if this worker lost the database.
 */
function unreliableHeartbeats(backend: Backend): {
  backend: Backend;
  mode: HeartbeatMode;
  hung: number;
  releaseHung(): void;
} {
  const hung: (() => void)[] = [];
  const control = {
    mode: "renew" as HeartbeatMode,
    hung: 0,
    backend: undefined as unknown as Backend,
    releaseHung(): void {
      for (const release of hung.splice(0)) release();
    },
  };
  control.backend = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "heartbeatWorkflowRun" || typeof value !== "function") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        if (control.mode === "hang") {
          control.hung++;
          return new Promise<void>((resolve) => hung.push(resolve));
        }
        if (control.mode === "fail") {
          return Promise.reject(new Error("network is unreachable"));
        }
        return value.apply(target, args);
      };
    },
  });
  return control;
}

/** Waits `ms`, or until `signal` aborts. */
function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Resolves with `value` after `ms`, unless `cancel` aborts first. */
function after<T>(ms: number, value: T, cancel: AbortSignal): Promise<T> {
  return wait(ms, cancel).then(() => value);
}

/** Waits until `handle`'s run is held by `workerId`. */
async function heldBy(
  handle: WorkflowRunHandle<unknown>,
  workerId: string,
): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const run = await handle.refresh();
    if (run.status === "running" && run.workerId === workerId) return;
    await delay(10);
  }
  assert.fail(`run never held by ${workerId}`);
}

testEachBackend(
  "a worker whose lease lapsed mid-step is fenced out: the step's result comes from the new owner alone",
  async ({ backend, store, namespaceId }) => {
    const slow = unreliableHeartbeats(backend);
    const calls: string[] = [];
    let finishSlowStep = () => {};
    const stepStarted = Promise.withResolvers<void>();
    const define = (ow: OpenWorkflow, who: string) =>
      ow.defineWorkflow({ name: "fenced" }, async ({ step }) => {
        const value = await step.run({ name: "charge" }, async () => {
          calls.push(who);
          if (who === "slow") {
            stepStarted.resolve();
            await new Promise<void>((resolve) => finishSlowStep = resolve);
          }
          return `charged by ${who}`;
        });
        return await step.run({ name: "receipt" }, () => `${value}, receipt`);
      });
    const slowClient = new OpenWorkflow({ backend: slow.backend });
    const wf = define(slowClient, "slow");
    const slowWorker = slowClient.newWorker({
      leaseDurationMs: 600,
      pollIntervalMs: 20,
    });
    const fastBackend = await store.connect(namespaceId);
    const fastClient = new OpenWorkflow({ backend: fastBackend });
    define(fastClient, "fast");
    const fastWorker = fastClient.newWorker({
      leaseDurationMs: 5_000,
      pollIntervalMs: 20,
    });
    const handle = await wf.run();
    // The slow worker claims the run and starts the step; then its
    // heartbeats stall (a long GC pause, a network partition).
    const slowTick = slowWorker.tick();
    await stepStarted.promise;
    slow.mode = "hang";
    try {
      await fastWorker.start();
      assert.equal(
        await handle.result({ timeoutMs: 10_000, pollIntervalMs: 50 }),
        "charged by fast, receipt",
      );
      // The slow worker's step now finishes, too late.
      finishSlowStep();
      slow.releaseHung();
      await slowTick;
      assert.deepEqual(calls, ["slow", "fast"]);
      const run = await handle.refresh();
      assert.equal(run.status, "succeeded");
      assert.equal(run.output, "charged by fast, receipt");
      assert.equal(run.workerId, fastWorker.id);
      const attempts = await handle.listStepAttempts();
      const charges = attempts.filter((a) => a.stepName === "charge");
      // The slow worker's attempt was cut off: the fast worker recorded it
      // as such, and ran the step again.
      assert.deepEqual(
        charges.map((a) => [
          a.status,
          a.output,
          (a.error as { name?: string } | null)?.name ?? null,
        ]),
        [
          ["failed", null, "StepInterruptedError"],
          ["succeeded", "charged by fast", null],
        ],
      );
      // Every write of the lapsed owner is fenced.
      const stale = { workflowRunId: handle.id, workerId: slowWorker.id };
      const fenced: (() => Promise<unknown>)[] = [
        () =>
          backend.heartbeatWorkflowRun({ ...stale, leaseDurationMs: 1_000 }),
        () =>
          backend.markStepAttemptSucceeded({
            ...stale,
            stepAttemptId: charges[0].id,
            output: "charged by slow",
          }),
        () =>
          backend.markStepAttemptFailed({
            ...stale,
            stepAttemptId: charges[0].id,
            error: { name: "Error", message: "late" },
          }),
        () =>
          backend.createStepAttempt({
            ...stale,
            stepName: "refund",
            kind: "run",
            config: {},
            context: null,
          }),
        () => backend.markWorkflowRunSucceeded({ ...stale, output: "slow" }),
        () =>
          backend.markWorkflowRunFailed({
            ...stale,
            error: { name: "Error", message: "late" },
          }),
        () =>
          backend.releaseWorkflowRun({
            ...stale,
            status: "pending",
            availableAt: null,
          }),
      ];
      for (const write of fenced) {
        await assert.rejects(write(), (e) => e instanceof LeaseLostError);
      }
      assert.equal((await handle.refresh()).output, run.output);
      assert.equal((await handle.listStepAttempts()).length, attempts.length);
    } finally {
      finishSlowStep();
      slow.mode = "renew";
      slow.releaseHung();
      await fastWorker.stop();
      await slowWorker.stop();
    }
  },
);

testEachBackend(
  "a worker that cannot renew its lease aborts its steps within about a lease",
  async ({ backend }) => {
    const flaky = unreliableHeartbeats(backend);
    const ow = new OpenWorkflow({ backend: flaky.backend });
    const aborted = Promise.withResolvers<number>();
    const started = Promise.withResolvers<number>();
    const wf = ow.defineWorkflow({ name: "unrenewed" }, async ({ step }) => {
      await step.run({ name: "long" }, async ({ signal }) => {
        started.resolve(performance.now());
        signal.addEventListener(
          "abort",
          () => aborted.resolve(performance.now()),
        );
        await wait(3_000, signal);
      });
    });
    const worker = ow.newWorker({ leaseDurationMs: 600, pollIntervalMs: 20 });
    await wf.run();
    flaky.mode = "fail";
    const tick = worker.tick();
    const startedAt = await started.promise;
    const cancel = new AbortController();
    const abortedAt = await Promise.race([
      aborted.promise,
      after(2_500, null, cancel.signal),
    ]);
    cancel.abort();
    assert.ok(typeof abortedAt === "number", "the step's signal was aborted");
    assert.ok(
      abortedAt - startedAt < 1_500,
      `aborted after ${abortedAt - startedAt} ms`,
    );
    await tick;
  },
);

testEachBackend(
  // A heartbeat call that never settles (a stalled connection) must not
  // hold the execution: the run is aborted once the lease has passed
  // without a renewal, and stop() does not wait for the hung call.
  "a heartbeat that hangs aborts the run after a lease and does not block stop()",
  async ({ backend }) => {
    const stalled = unreliableHeartbeats(backend);
    const ow = new OpenWorkflow({ backend: stalled.backend });
    const aborted = Promise.withResolvers<void>();
    const started = Promise.withResolvers<void>();
    const wf = ow.defineWorkflow({ name: "stalled" }, async ({ step }) => {
      await step.run({ name: "long" }, async ({ signal }) => {
        started.resolve();
        signal.addEventListener("abort", () => aborted.resolve());
        await wait(5_000, signal);
      });
    });
    const worker = ow.newWorker({ leaseDurationMs: 300, pollIntervalMs: 20 });
    const handle = await wf.run();
    stalled.mode = "hang";
    await worker.start();
    await started.promise;
    try {
      await heldBy(handle, worker.id);
      const cancel = new AbortController();
      const outcome = await Promise.race([
        aborted.promise.then(() => "aborted"),
        after(1_500, "still running", cancel.signal),
      ]);
      const stopped = await Promise.race([
        worker.stop().then(() => "stopped"),
        after(2_000, "stop() hangs", cancel.signal),
      ]);
      cancel.abort();
      assert.equal(outcome, "aborted");
      assert.equal(stopped, "stopped");
    } finally {
      stalled.mode = "renew";
      stalled.releaseHung();
      await worker.stop();
    }
    assert.ok(stalled.hung >= 1);
  },
  {},
);
