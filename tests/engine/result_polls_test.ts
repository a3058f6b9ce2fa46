/**
 * What waiting `result()` calls cost the database: a handle polls its run's
 * status together with the other handles waiting on the same backend, from
 * its first read, and reads the whole run only once it has finished; a run
 * this process started while notifications were live, notifications that
 * tell every finish (Postgres's), is not read at all until its finish is
 * told or the first poll.
 */

import assert from "node:assert/strict";
import { type Backend, OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import { isListening } from "../../src/core/wakeups.ts";
import { delay, POSTGRES_ONLY, testEachBackend } from "../helpers.ts";
import { viewOf } from "../unit/worker/backends.ts";

testEachBackend(
  "waiting handles poll their runs' statuses together, and read a whole run only once it has finished",
  async ({ backend }) => {
    const { backend: watched, calls } = viewOf(backend);
    const ow = new OpenWorkflow({ backend: watched });
    const echo = ow.defineWorkflow<number, number>(
      { name: "echo" },
      async ({ input, step }) => await step.run({ name: "x" }, () => input),
    );
    const handles = await Promise.all(
      Array.from({ length: 100 }, (_, i) => echo.run(i)),
    );
    // No worker yet: every handle polls every 50 ms.
    const results = Promise.all(handles.map((handle) =>
      handle.result({
        timeoutMs: 20_000,
        pollIntervalMs: 50,
        fallbackPollIntervalMs: 50,
      })
    ));
    await delay(600);
    const wholeReads = calls.get("getWorkflowRun")?.length ?? 0;
    const statusReads = (calls.get("getWorkflowRunStatuses") ?? []).map(
      ([params]) => params as { workflowRunIds: string[] },
    );
    // No whole read while the runs wait; about 12 polls each, asked for in
    // a few reads of many runs rather than 1,200 reads of one.
    assert.equal(wholeReads, 0);
    assert.ok(statusReads.length >= 5, `${statusReads.length} status reads`);
    assert.ok(statusReads.length <= 60, `${statusReads.length} status reads`);
    const ids = statusReads.reduce((n, p) => n + p.workflowRunIds.length, 0);
    assert.ok(ids >= 500, `${ids} runs in ${statusReads.length} status reads`);
    // Each run's finish is still heard, its output read once.
    const worker = ow.newWorker({ concurrency: 20, pollIntervalMs: 50 });
    await worker.start();
    try {
      assert.deepEqual(
        await results,
        Array.from({ length: 100 }, (_, i) => i),
      );
      // A finished run is read whole at most once, for its outcome (none
      // when this process heard it with the outcome).
      assert.ok((calls.get("getWorkflowRun")?.length ?? 0) <= 100);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "waiting handles that share one signal add one abort listener to it between them, and all stop when it aborts",
  async ({ backend }) => {
    const { backend: watched, calls } = viewOf(backend);
    const ow = new OpenWorkflow({ backend: watched });
    const idle = ow.defineWorkflow({ name: "idle" }, () => null);
    const handles = await Promise.all(
      Array.from({ length: 200 }, () => idle.run()),
    );
    const controller = new AbortController();
    const signal = controller.signal;
    let added = 0;
    let attached = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      attached++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      attached--;
      remove(...args);
    }) as typeof remove;
    // No worker: every handle reads its run, then polls every 20 ms.
    const results = handles.map((handle) =>
      handle.result({
        signal,
        timeoutMs: 20_000,
        pollIntervalMs: 20,
        fallbackPollIntervalMs: 20,
      }).then(
        () => "finished",
        (error: unknown) => error,
      )
    );
    await delay(300);
    assert.equal(added, 1);
    assert.equal(attached, 1);
    const reason = new Error("shutting down");
    controller.abort(reason);
    const outcomes = await Promise.all(results);
    assert.ok(outcomes.every((outcome) => outcome === reason));
    // They polled together meanwhile, and poll no more (past a read that
    // was already asked for when the signal aborted).
    await delay(30);
    const polls = calls.get("getWorkflowRunStatuses")?.length ?? 0;
    assert.ok(polls >= 3, `${polls} status reads`);
    await delay(150);
    assert.equal(calls.get("getWorkflowRunStatuses")?.length ?? 0, polls);
  },
);

/** The workflow of the cases below: returns its input from one step. */
function defineEcho(ow: OpenWorkflow) {
  return ow.defineWorkflow<number, number>(
    { name: "echo" },
    async ({ input, step }) => await step.run({ name: "x" }, () => input),
  );
}

/** Waits until `backend`'s notifications are live. */
async function untilListening(backend: Backend): Promise<void> {
  for (let i = 0; i < 500 && !isListening(backend); i++) await delay(10);
  assert.ok(isListening(backend), "notifications never went live");
}

testEachBackend(
  "a run started while notifications are live is not read before its finish is told, and finishes when a worker elsewhere runs it",
  async ({ backend, store, namespaceId }) => {
    // The worker's backend is another connection, as another process's
    // would be, connected before the runs start.
    const elsewhere = await store.connect(namespaceId);
    const { backend: watched, calls } = viewOf(backend);
    await untilListening(watched);
    await delay(200); // what the second connection wrote is told by now
    const echo = defineEcho(new OpenWorkflow({ backend: watched }));
    const handles = await Promise.all(
      Array.from({ length: 20 }, (_, i) => echo.run(i)),
    );
    const results = Promise.all(
      handles.map((handle) => handle.result({ timeoutMs: 20_000 })),
    );
    await delay(300);
    // Not finished, as the notifications tell: nothing to read yet.
    assert.equal(calls.get("getWorkflowRunStatuses")?.length ?? 0, 0);
    assert.equal(calls.get("getWorkflowRun")?.length ?? 0, 0);
    const workerSide = new OpenWorkflow({ backend: elsewhere });
    defineEcho(workerSide);
    const worker = workerSide.newWorker({ concurrency: 20 });
    await worker.start();
    try {
      assert.deepEqual(
        await results,
        Array.from({ length: 20 }, (_, i) => i),
      );
    } finally {
      await worker.stop();
    }
  },
  // SQLite's notifications do not tell every finish (see below).
  { targets: POSTGRES_ONLY },
);

testEachBackend(
  "a run that finished before result() was called is read once, whole, for its outcome",
  async ({ backend }) => {
    const { backend: watched, calls } = viewOf(backend);
    await untilListening(watched);
    const ow = new OpenWorkflow({ backend: watched });
    const echo = defineEcho(ow);
    const worker = ow.newWorker();
    const finished = new Promise<void>((resolve) =>
      worker.addEventListener("run-succeeded", () => resolve(), { once: true })
    );
    await worker.start();
    try {
      const handle = await echo.run(7);
      await finished;
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 7);
      // Heard finished before the call: no status read, one whole read.
      assert.equal(calls.get("getWorkflowRunStatuses")?.length ?? 0, 0);
      assert.equal(calls.get("getWorkflowRun")?.length ?? 0, 1);
    } finally {
      await worker.stop();
    }
  },
  { targets: POSTGRES_ONLY },
);

testEachBackend(
  "a run finished by a deadline sweep in this process is found at result(), whether or not a notification told it",
  async ({ backend }) => {
    // SQLite's notifications tell other connections' commits, not which
    // runs finished: a finish its own sweep made is found by a read.
    const ow = new OpenWorkflow({ backend });
    isListening(backend); // subscribes
    const wf = ow.defineWorkflow({ name: "too-late" }, () => null);
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 50),
    });
    await delay(100);
    assert.equal(await ow.newWorker().tick(), 0);
    // Polls too rare to help.
    const error = await handle.result({
      timeoutMs: 3_000,
      pollIntervalMs: 60_000,
      fallbackPollIntervalMs: 60_000,
    }).then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError, String(error));
    assert.equal((error.cause as Error).name, "DeadlineExceededError");
  },
);

for (const untold of ["listening", "changed"] as const) {
  testEachBackend(
    `a run that finished untold (${
      untold === "listening"
        ? "notifications down meanwhile"
        : "another process changed the database"
    }) is read at result(), not waited for`,
    async ({ backend }) => {
      // The handle's notifications are told by hand; the worker runs on
      // the backend itself, so that nothing tells the handle's.
      const view = viewOf(backend, { notifications: true });
      isListening(view.backend); // subscribes
      view.notify({ kind: "listening", listening: true, finishes: true });
      assert.ok(isListening(view.backend));
      const echo = defineEcho(new OpenWorkflow({ backend: view.backend }));
      const handle = await echo.run(5);
      if (untold === "listening") {
        view.notify({ kind: "listening", listening: false });
      }
      const workerSide = new OpenWorkflow({ backend });
      defineEcho(workerSide);
      const worker = workerSide.newWorker({ pollIntervalMs: 20 });
      await worker.start();
      try {
        for (let i = 0; i < 500; i++) {
          const run = await backend.getWorkflowRun({
            workflowRunId: handle.id,
          });
          if (run?.status === "succeeded") break;
          await delay(10);
        }
        view.notify(
          untold === "listening"
            ? { kind: "listening", listening: true, finishes: true }
            : { kind: "changed" },
        );
        // Polls too rare to help: only a read at the call finds it.
        assert.equal(
          await handle.result({
            timeoutMs: 3_000,
            pollIntervalMs: 60_000,
            fallbackPollIntervalMs: 60_000,
          }),
          5,
        );
      } finally {
        await worker.stop();
      }
    },
  );
}
