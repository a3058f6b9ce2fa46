/**
 * Compensations (sagas): when a run fails for good, the `compensate`
 * functions of its completed steps run in reverse order of completion, each
 * as a durable step `compensate:<name>` with the stored output; a failing
 * one is retried, and reported in the run's error if it fails for good; a
 * canceled run compensates nothing; a worker killed in the middle of
 * compensating leaves the rest to another, and no completed compensation
 * runs twice.
 */

import assert from "node:assert/strict";
import {
  OpenWorkflow,
  WorkflowCanceledError,
  WorkflowFailedError,
} from "../../mod.ts";
import { DATABASE_URL, delay, testEachBackend } from "../helpers.ts";
import { defineBooking } from "../fixtures/booking_workflow.ts";

testEachBackend(
  "a run that fails for good runs its compensations in reverse order, with the stored outputs, then fails with its error",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const booking = defineBooking(ow, log);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await booking.run({});
      const error = await handle.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal((error.cause as Error).message, "no rooms left");
      assert.equal((error.cause as Error).cause, undefined);
      assert.deepEqual(log, [
        "reserve",
        "charge",
        "hotel",
        'refund {"amount":120,"seat":"seat-12A"} (call 1)',
        'refunded {"amount":120,"seat":"seat-12A"}',
        "release seat-12A",
      ]);
      const steps = (await handle.listStepAttempts()).map((s) =>
        `${s.stepName} ${s.status}`
      );
      assert.deepEqual(steps, [
        "reserve-seat succeeded",
        "charge-card succeeded",
        "book-hotel failed",
        "compensate:charge-card succeeded",
        "compensate:reserve-seat succeeded",
      ]);
      assert.equal((await handle.refresh()).status, "failed");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a failing compensation is retried with its step's policy; one that fails for good is in the run's error, and the others still run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const booking = defineBooking(ow, log);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      // Fails once, then succeeds: retried after its backoff (the run
      // parks meanwhile), and run once more only.
      const retried = await booking.run({ refundFailures: 1 });
      await assert.rejects(retried.result({ timeoutMs: 10_000 }));
      assert.deepEqual(log.filter((l) => l.startsWith("refund")), [
        'refund {"amount":120,"seat":"seat-12A"} (call 1)',
        'refund {"amount":120,"seat":"seat-12A"} (call 2)',
        'refunded {"amount":120,"seat":"seat-12A"}',
      ]);
      assert.ok(log.includes("release seat-12A"));

      // Fails on all three attempts: reported, and the seat still released.
      log.length = 0;
      const failing = await booking.run({ refundFailures: 100 });
      const error = await failing.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      const cause = error.cause as Error;
      assert.equal(cause.message, "no rooms left");
      const compensation = cause.cause as Error & { errors?: unknown[] };
      assert.equal(compensation.name, "CompensationError");
      assert.match(
        compensation.message,
        /^1 compensation failed: compensate:charge-card: refund declined/,
      );
      assert.equal(
        log.filter((l) => l.startsWith("refund ")).length,
        3,
        "the step's three attempts",
      );
      assert.ok(log.includes("release seat-12A"));
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a canceled run compensates nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const wf = ow.defineWorkflow({ name: "cancel-saga" }, async ({ step }) => {
      await step.run({
        name: "reserve",
        compensate: () => void log.push("released"),
      }, () => "seat");
      await step.sleep("wait", "1h");
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      for (let i = 0; i < 500; i++) {
        if ((await handle.refresh()).status === "sleeping") break;
        await delay(10);
      }
      await handle.cancel();
      await assert.rejects(handle.result({ timeoutMs: 5_000 }));
      await delay(200);
      assert.deepEqual(log, []);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a worker killed while compensating: another worker finishes the compensations, and none that completed runs again",
  async ({ backend, namespaceId }) => {
    const log = await Deno.makeTempFile();
    const lines = async () =>
      (await Deno.readTextFile(log)).split("\n").filter((l) => l !== "");
    const start = () => bookingWorker(backend, namespaceId, 1_000, log);
    const ow = new OpenWorkflow({ backend });
    const booking = defineBooking(ow);
    const first = await start();
    let second: Deno.ChildProcess | null = null;
    try {
      const handle = await booking.run({ slowRefundMs: 1_500 });
      // Killed while the refund (the first compensation) runs.
      for (let i = 0; i < 1000; i++) {
        if ((await lines()).some((l) => l.startsWith("refund "))) break;
        await delay(10);
      }
      first.kill("SIGKILL");
      await first.status;
      second = await start();
      await assert.rejects(handle.result({ timeoutMs: 20_000 }));
      const ran = await lines();
      assert.deepEqual(ran.slice(0, 3), ["reserve", "charge", "hotel"]);
      // The refund cut off was run again by the second worker; it and the
      // release each completed once.
      assert.equal(ran.filter((l) => l.startsWith("refund ")).length, 2);
      assert.equal(ran.filter((l) => l.startsWith("refunded")).length, 1);
      assert.equal(ran.filter((l) => l === "release seat-12A").length, 1);
      assert.equal(ran.filter((l) => l === "hotel").length, 1);
      assert.equal((await handle.refresh()).status, "failed");
      const steps = (await handle.listStepAttempts()).map((s) =>
        `${s.stepName} ${s.status}`
      );
      assert.deepEqual(steps.slice(-3), [
        "compensate:charge-card failed",
        "compensate:charge-card succeeded",
        "compensate:reserve-seat succeeded",
      ]);
    } finally {
      for (const worker of [first, second]) {
        if (worker === null) continue;
        try {
          worker.kill("SIGKILL");
        } catch { /* exited */ }
        await worker.stdin.close().catch(() => {});
        await worker.stdout.cancel().catch(() => {});
        await worker.status;
      }
      await Deno.remove(log);
    }
  },
);

/** Starts a worker process of `tests/fixtures/booking_worker.ts`. */
async function bookingWorker(
  backend: object,
  namespaceId: string,
  leaseMs: number,
  log: string,
): Promise<Deno.ChildProcess> {
  const kind = "path" in backend ? "sqlite" : "postgres";
  const location = "path" in backend
    ? (backend as { path: string }).path
    : DATABASE_URL;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../fixtures/booking_worker.ts", import.meta.url).pathname,
      kind,
      location,
      namespaceId,
      String(leaseMs),
    ],
    env: { BOOKING_LOG: log },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
  reader.releaseLock();
  return child;
}

testEachBackend(
  "a run past its deadline while running compensates its completed steps, then fails with DeadlineExceededError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const wf = ow.defineWorkflow(
      { name: "deadline-saga" },
      async ({ step }) => {
        await step.run({
          name: "reserve",
          compensate: (seat) => void log.push(`released ${seat}`),
        }, () => "seat-1");
        await step.run({ name: "slow" }, async ({ signal }) => {
          await new Promise((resolve) => {
            const timer = setTimeout(resolve, 5_000);
            signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve(null);
            });
          });
        });
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run(undefined, {
        deadlineAt: new Date(Date.now() + 500),
      });
      const error = await handle.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal((error.cause as Error).name, "DeadlineExceededError");
      assert.deepEqual(log, ["released seat-1"]);
    } finally {
      await worker.stop();
    }
  },
);

/** A saga that reserves and charges (both compensated), then sleeps. */
function defineParkedSaga(ow: OpenWorkflow, log: string[]) {
  return ow.defineWorkflow({ name: "parked-saga" }, async ({ step }) => {
    const seat = await step.run({
      name: "reserve",
      compensate: (s) => void log.push(`release ${s}`),
    }, () => "seat-7");
    await step.run({
      name: "charge",
      compensate: (c) => void log.push(`refund ${c}`),
    }, () => 42);
    await step.sleep("wait", "1h");
    return seat;
  });
}

/** Waits until `handle`'s run has status `status`. */
async function until(
  handle: { refresh(): Promise<{ status: string }> },
  status: string,
): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if ((await handle.refresh()).status === status) return;
    await delay(10);
  }
  assert.fail(`the run never became ${status}`);
}

testEachBackend(
  "a run whose deadline passes while it sleeps compensates its completed steps, then fails with DeadlineExceededError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const wf = defineParkedSaga(ow, log);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const deadlineAt = new Date(Date.now() + 500);
      const handle = await wf.run(undefined, { deadlineAt });
      await until(handle, "sleeping");
      const error = await handle.result({ timeoutMs: 10_000 }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      const cause = error.cause as Error;
      assert.equal(cause.name, "DeadlineExceededError");
      assert.match(cause.message, new RegExp(deadlineAt.toISOString()));
      assert.deepEqual(log, ["refund 42", "release seat-7"]);
      const steps = (await handle.listStepAttempts())
        .map((a) => `${a.stepName}:${a.status}`);
      assert.deepEqual(steps.slice(-2), [
        "compensate:charge:succeeded",
        "compensate:reserve:succeeded",
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "cancel({ compensate: true }) of a sleeping run runs its compensations, then the run is canceled",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    const wf = defineParkedSaga(ow, log);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      await until(handle, "sleeping");
      const returned = await handle.cancel({ compensate: true });
      assert.notEqual(returned.status, "canceled", "compensations first");
      await assert.rejects(
        handle.result({ timeoutMs: 10_000 }),
        WorkflowCanceledError,
      );
      assert.deepEqual(log, ["refund 42", "release seat-7"]);
      const run = await handle.refresh();
      assert.equal(run.status, "canceled");
      assert.equal(
        (run.error as { name: string }).name,
        "WorkflowCanceledError",
      );
      // The sleep was never slept to its end, nor anything after it run.
      const steps = await handle.listStepAttempts();
      assert.equal(steps.find((a) => a.stepName === "wait")?.status, "running");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "cancel({ compensate: true }) while a step runs aborts the step, compensates the completed ones, and cancels the run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const log: string[] = [];
    let stepStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => stepStarted = resolve);
    const wf = ow.defineWorkflow({ name: "running-saga" }, async ({ step }) => {
      await step.run({
        name: "reserve",
        compensate: (seat) => void log.push(`release ${seat}`),
      }, () => "seat-9");
      await step.run({
        name: "slow",
        compensate: () => void log.push("undo slow"),
      }, async ({ signal }) => {
        stepStarted();
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 20_000);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            log.push(`slow aborted: ${(signal.reason as Error).name}`);
            reject(signal.reason);
          });
        });
      });
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      await started;
      await ow.cancelRun(handle.id, { compensate: true });
      await assert.rejects(
        handle.result({ timeoutMs: 10_000 }),
        WorkflowCanceledError,
      );
      // The running step was stopped and, never completed, not undone.
      assert.deepEqual(log, [
        "slow aborted: LeaseLostError",
        "release seat-9",
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "cancel({ compensate: true }) of a run with nothing to compensate cancels it at once; a bad option changes nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "plain" }, async ({ step }) => {
      await step.run({ name: "a" }, () => 1);
      await step.sleep("wait", "1h");
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      await until(handle, "sleeping");
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        handle.cancel({ compensate: "yes" as any }),
        /'compensate' must be a boolean, received "yes"/,
      );
      assert.equal((await handle.refresh()).status, "sleeping");
      const run = await handle.cancel({ compensate: true });
      assert.equal(run.status, "canceled");
    } finally {
      await worker.stop();
    }
  },
);
