import assert from "node:assert/strict";
import {
  HeldRuns,
  STATUS_CHECK_INTERVAL_MS,
} from "../../../src/worker/held_runs.ts";
import {
  LeaseLostError,
  WorkflowCanceledError,
} from "../../../src/core/errors.ts";
import type { Backend } from "../../../src/core/backend.ts";
import { notifyFinished } from "../../../src/core/wakeups.ts";
import { nextTurn, unhandledRejections, useFakeTime } from "../helpers.ts";
import {
  cancelRun,
  connectSqlite,
  runningRun,
  viewOf,
  WORKER_ID,
} from "./backends.ts";

const INTERVAL = STATUS_CHECK_INTERVAL_MS;

/** Lets the periodic check that `tick` fired finish. */
async function afterChecks(held: HeldRuns): Promise<void> {
  await nextTurn();
  await held.settled();
}

Deno.test("HeldRuns aborts a run canceled elsewhere with WorkflowCanceledError at the next check", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const run = await runningRun(sqlite);
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  const controller = new AbortController();
  const unwatch = held.watch(run.id, controller);
  await cancelRun(sqlite, run.id);
  time.tick(INTERVAL - 1);
  await afterChecks(held);
  assert.equal(controller.signal.aborted, false);
  time.tick(1);
  await afterChecks(held);
  assert.equal(controller.signal.aborted, true);
  const reason = controller.signal.reason;
  assert.ok(reason instanceof WorkflowCanceledError);
  assert.equal(reason.workflowRunId, run.id);
  unwatch();
});

Deno.test("HeldRuns aborts a run that ended otherwise, or is gone, with LeaseLostError", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const failed = await runningRun(sqlite);
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  const failedController = new AbortController();
  const goneController = new AbortController();
  const gone = "00000000-0000-4000-8000-000000000000";
  const unwatch = [
    held.watch(failed.id, failedController),
    held.watch(gone, goneController),
  ];
  await sqlite.markWorkflowRunFailed({
    workflowRunId: failed.id,
    workerId: WORKER_ID,
    error: { name: "Error", message: "failed by a deadline sweep" },
  });
  time.tick(INTERVAL);
  await afterChecks(held);
  for (
    const [controller, id] of [
      [failedController, failed.id],
      [goneController, gone],
    ] as const
  ) {
    const reason = controller.signal.reason;
    assert.ok(reason instanceof LeaseLostError, id);
    assert.equal(reason.workflowRunId, id);
    assert.equal(reason.workerId, WORKER_ID);
  }
  for (const stop of unwatch) stop();
});

Deno.test("HeldRuns leaves running runs alone and checks again every interval", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite);
  const run = await runningRun(sqlite);
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controller = new AbortController();
  const unwatch = held.watch(run.id, controller);
  for (let i = 1; i <= 3; i++) {
    time.tick(INTERVAL);
    await afterChecks(held);
    assert.equal(view.calls.get("getWorkflowRunStatuses")?.length, i);
    assert.equal(controller.signal.aborted, false);
  }
  await cancelRun(sqlite, run.id);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.ok(controller.signal.reason instanceof WorkflowCanceledError);
  unwatch();
});

Deno.test("HeldRuns reads the statuses of all runs held in one call", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite);
  const runs = [await runningRun(sqlite), await runningRun(sqlite)];
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controllers = runs.map(() => new AbortController());
  const unwatch = runs.map((run, i) => held.watch(run.id, controllers[i]));
  await cancelRun(sqlite, runs[1].id);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.deepEqual(view.calls.get("getWorkflowRunStatuses"), [
    [{ workflowRunIds: runs.map((run) => run.id) }],
  ]);
  assert.equal(view.calls.get("getWorkflowRun"), undefined);
  assert.equal(controllers[0].signal.aborted, false);
  assert.ok(controllers[1].signal.reason instanceof WorkflowCanceledError);
  for (const stop of unwatch) stop();
});

Deno.test("HeldRuns reads runs one by one from a backend without getWorkflowRunStatuses", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite, { without: ["getWorkflowRunStatuses"] });
  const runs = [await runningRun(sqlite), await runningRun(sqlite)];
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controllers = runs.map(() => new AbortController());
  const unwatch = runs.map((run, i) => held.watch(run.id, controllers[i]));
  await cancelRun(sqlite, runs[0].id);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.deepEqual(
    view.calls.get("getWorkflowRun"),
    runs.map((run) => [{ workflowRunId: run.id }]),
  );
  assert.ok(controllers[0].signal.reason instanceof WorkflowCanceledError);
  assert.equal(controllers[1].signal.aborted, false);
  for (const stop of unwatch) stop();
});

Deno.test("HeldRuns stops checking a run once unwatched, and at all once none is held", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite);
  const [a, b] = [await runningRun(sqlite), await runningRun(sqlite)];
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controllerA = new AbortController();
  const controllerB = new AbortController();
  const unwatchA = held.watch(a.id, controllerA);
  const unwatchB = held.watch(b.id, controllerB);
  unwatchA();
  await cancelRun(sqlite, a.id);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.deepEqual(view.calls.get("getWorkflowRunStatuses"), [
    [{ workflowRunIds: [b.id] }],
  ]);
  assert.equal(controllerA.signal.aborted, false);
  unwatchB();
  await cancelRun(sqlite, b.id);
  time.tick(INTERVAL * 5);
  await afterChecks(held);
  assert.equal(view.calls.get("getWorkflowRunStatuses")?.length, 1);
  assert.equal(controllerB.signal.aborted, false);
});

Deno.test({
  name: "HeldRuns leaves no timer behind once nothing is held",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    // Real timers: a timer left running would fail the op sanitizer.
    await using sqlite = await connectSqlite();
    const held = new HeldRuns(sqlite, WORKER_ID, 60_000);
    const unwatch = [
      held.watch("00000000-0000-4000-8000-000000000001", new AbortController()),
      held.watch("00000000-0000-4000-8000-000000000002", new AbortController()),
    ];
    for (const stop of unwatch) stop();
  },
});

Deno.test("HeldRuns keeps a run watched again with a new controller when the old watch ends", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const run = await runningRun(sqlite);
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  const first = new AbortController();
  const second = new AbortController();
  const unwatchFirst = held.watch(run.id, first);
  const unwatchSecond = held.watch(run.id, second);
  unwatchFirst();
  await cancelRun(sqlite, run.id);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.equal(first.signal.aborted, false);
  assert.ok(second.signal.reason instanceof WorkflowCanceledError);
  unwatchSecond();
});

Deno.test("HeldRuns goes on checking after a status read fails", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  let failures = 1;
  const view = viewOf(sqlite, {
    override: {
      getWorkflowRunStatuses: (params) =>
        failures-- > 0
          ? Promise.reject(new Error("connection lost"))
          : sqlite.getWorkflowRunStatuses(params),
    },
  });
  const run = await runningRun(sqlite);
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controller = new AbortController();
  const unwatch = held.watch(run.id, controller);
  await cancelRun(sqlite, run.id);
  const reasons = await unhandledRejections(async () => {
    time.tick(INTERVAL);
    await afterChecks(held);
  });
  assert.deepEqual(reasons, []);
  assert.equal(controller.signal.aborted, false);
  time.tick(INTERVAL);
  await afterChecks(held);
  assert.ok(controller.signal.reason instanceof WorkflowCanceledError);
  assert.equal(view.calls.get("getWorkflowRunStatuses")?.length, 2);
  unwatch();
});

Deno.test("HeldRuns does not poll while notifications are live, and re-checks when they start or stop", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite, { notifications: true });
  const run = await runningRun(sqlite);
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  const controller = new AbortController();
  const unwatch = held.watch(run.id, controller);
  const reads = () => view.calls.get("getWorkflowRunStatuses")?.length ?? 0;
  // Notifications may have been missed before: the runs held are read.
  view.notify({ kind: "listening", listening: true });
  await afterChecks(held);
  assert.equal(reads(), 1);
  await cancelRun(sqlite, run.id);
  for (let i = 0; i < 3; i++) {
    time.tick(INTERVAL);
    await afterChecks(held);
  }
  assert.equal(reads(), 1);
  assert.equal(controller.signal.aborted, false);
  // Notifications may be missed from now on: the runs held are read at once.
  view.notify({ kind: "listening", listening: false });
  await afterChecks(held);
  assert.equal(reads(), 2);
  assert.ok(controller.signal.reason instanceof WorkflowCanceledError);
  unwatch();
});

Deno.test("HeldRuns stops a run at once on a finished notification that says how it ended", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const view = viewOf(sqlite, { notifications: true });
  const [canceled, succeeded, other] = [
    await runningRun(sqlite),
    await runningRun(sqlite),
    await runningRun(sqlite),
  ];
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  view.notify({ kind: "listening", listening: true });
  const controllers = [
    new AbortController(),
    new AbortController(),
    new AbortController(),
  ];
  const unwatch = [canceled, succeeded, other].map((run, i) =>
    held.watch(run.id, controllers[i])
  );
  view.notify({
    kind: "finished",
    workflowRunId: canceled.id,
    outcome: { status: "canceled", output: null, error: null },
  });
  view.notify({
    kind: "finished",
    workflowRunId: succeeded.id,
    outcome: { status: "succeeded", output: 1, error: null },
  });
  // No read was needed: the statuses in the database are still running.
  assert.ok(controllers[0].signal.reason instanceof WorkflowCanceledError);
  assert.ok(controllers[1].signal.reason instanceof LeaseLostError);
  assert.equal(controllers[2].signal.aborted, false);
  assert.equal(view.calls.get("getWorkflowRunStatuses"), undefined);
  for (const stop of unwatch) stop();
});

Deno.test("HeldRuns reads a run on a finished notification without an outcome", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const view = viewOf(sqlite, { notifications: true });
  const [canceled, running] = [
    await runningRun(sqlite),
    await runningRun(sqlite),
  ];
  const held = new HeldRuns(view.backend, WORKER_ID, INTERVAL);
  view.notify({ kind: "listening", listening: true });
  const canceledController = new AbortController();
  const runningController = new AbortController();
  const unwatch = [
    held.watch(canceled.id, canceledController),
    held.watch(running.id, runningController),
  ];
  await cancelRun(sqlite, canceled.id);
  view.notify({ kind: "finished", workflowRunId: canceled.id });
  view.notify({ kind: "finished", workflowRunId: running.id });
  await held.settled();
  assert.deepEqual(view.calls.get("getWorkflowRunStatuses"), [
    [{ workflowRunIds: [canceled.id] }],
    [{ workflowRunIds: [running.id] }],
  ]);
  assert.ok(canceledController.signal.reason instanceof WorkflowCanceledError);
  assert.equal(runningController.signal.aborted, false);
  for (const stop of unwatch) stop();
});

Deno.test("HeldRuns ignores notifications about a run no longer watched", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  const run = await runningRun(sqlite);
  const held = new HeldRuns(view.backend, WORKER_ID, 60_000);
  const controller = new AbortController();
  held.watch(run.id, controller)();
  view.notify({
    kind: "finished",
    workflowRunId: run.id,
    outcome: { status: "canceled", output: null, error: null },
  });
  assert.equal(controller.signal.aborted, false);
});

Deno.test("HeldRuns.lostReason() is WorkflowCanceledError for a canceled run", async () => {
  await using sqlite = await connectSqlite();
  const run = await runningRun(sqlite);
  await cancelRun(sqlite, run.id);
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  const reason = await held.lostReason(
    run.id,
    new LeaseLostError(run.id, WORKER_ID),
  );
  assert.ok(reason instanceof WorkflowCanceledError);
  assert.equal(reason.workflowRunId, run.id);
});

Deno.test("HeldRuns.lostReason() is the lease error itself otherwise", async () => {
  await using sqlite = await connectSqlite();
  const running = await runningRun(sqlite);
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  for (const id of [running.id, "00000000-0000-4000-8000-000000000000"]) {
    const lost = new LeaseLostError(id, WORKER_ID);
    assert.equal(await held.lostReason(id, lost), lost, id);
  }
});

Deno.test("HeldRuns.lostReason() is the lease error when the run cannot be read", async () => {
  const sqlite = await connectSqlite();
  const run = await runningRun(sqlite);
  await cancelRun(sqlite, run.id);
  await sqlite.stop();
  await assert.rejects(sqlite.getWorkflowRun({ workflowRunId: run.id }));
  const held = new HeldRuns(sqlite as Backend, WORKER_ID, INTERVAL);
  const lost = new LeaseLostError(run.id, WORKER_ID);
  assert.equal(await held.lostReason(run.id, lost), lost);
});

Deno.test("HeldRuns.settled() resolves at once with no check in flight", async () => {
  await using sqlite = await connectSqlite();
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  await held.settled();
});

Deno.test("HeldRuns takes the news of a success it is writing for its own, but still hears a cancel", async () => {
  await using sqlite = await connectSqlite();
  const held = new HeldRuns(sqlite, WORKER_ID, INTERVAL);
  const ids = ["mine", "other", "canceled"].map((_, i) =>
    `00000000-0000-4000-8000-00000000000${i}`
  );
  const controllers = ids.map(() => new AbortController());
  const unwatch = ids.map((id, i) => held.watch(id, controllers[i]));
  held.ending(ids[0]);
  held.ending(ids[2]);
  const succeeded = { status: "succeeded", output: 1, error: null } as const;
  notifyFinished(sqlite, ids[0], succeeded);
  notifyFinished(sqlite, ids[1], succeeded);
  notifyFinished(sqlite, ids[2], {
    status: "canceled",
    output: null,
    error: { name: "WorkflowCanceledError", message: "canceled" },
  });
  assert.equal(controllers[0].signal.aborted, false, "its own success");
  assert.ok(controllers[1].signal.reason instanceof LeaseLostError);
  assert.ok(controllers[2].signal.reason instanceof WorkflowCanceledError);
  for (const stop of unwatch) stop();
  // Watched again (claimed again), the run is no longer ending.
  const again = new AbortController();
  const stop = held.watch(ids[0], again);
  notifyFinished(sqlite, ids[0], succeeded);
  assert.ok(again.signal.reason instanceof LeaseLostError);
  stop();
});
