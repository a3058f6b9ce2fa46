/**
 * What waiting `result()` calls cost the database: a handle polls its run's
 * status together with the other handles waiting on the same backend, from
 * its first read, and reads the whole run only once it has finished.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";
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
