/**
 * A run that its worker parks and claims again at once (a short retry
 * wait) must be executed by that claim, not left held with nothing
 * running it.
 */

import assert from "node:assert/strict";
import { type Backend, OpenWorkflow } from "../../mod.ts";
import { delay } from "../helpers.ts";
import { testEachBackend } from "../helpers.ts";

/** `backend`, with heartbeats that take `ms` to reach it. */
function slowHeartbeats(backend: Backend, ms: number): Backend {
  return new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property !== "heartbeatWorkflowRun") return value.bind(target);
      return async (...args: unknown[]) => {
        await delay(ms);
        return await value.apply(target, args);
      };
    },
  });
}

testEachBackend(
  // A claim that comes while the worker's previous execution of the run
  // winds down (it parked the run for a short retry wait; a slow heartbeat
  // keeps the execution open) must still be executed.
  "a run parked and claimed again by the same worker at once is executed, not left held",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend: slowHeartbeats(backend, 400) });
    const wf = ow.defineWorkflow({ name: "reclaimed" }, async ({ step }) => {
      await step.run({ name: "slow" }, () => delay(400));
      await step.run({
        name: "retried",
        retry: { maxAttempts: 3, initialIntervalMs: 30, jitter: 0 },
      }, ({ attempt }) => {
        if (attempt === 1) throw new Error("fails once");
        return "ok";
      });
      return "done";
    });
    const claimed = new Map<string, number>();
    // A heartbeat 300 ms after the claim, in flight for 400 ms: it is in
    // flight when the run parks for its 30 ms retry wait, about 410 ms
    // after the claim, and when the worker claims the run again.
    const worker = ow.newWorker({
      concurrency: 20,
      leaseDurationMs: 900,
      pollIntervalMs: 5,
    });
    worker.addEventListener("run-claimed", (event) => {
      const id = event.workflowRunId!;
      claimed.set(id, (claimed.get(id) ?? 0) + 1);
    });
    const handles = await Promise.all(
      Array.from({ length: 10 }, () => wf.run()),
    );
    await worker.start();
    try {
      for (const handle of handles) {
        assert.equal(await handle.result({ timeoutMs: 10_000 }), "done");
      }
    } finally {
      await worker.stop();
    }
    // Every claim of the database was an execution of the worker.
    const unexecuted = [];
    for (const handle of handles) {
      const run = await handle.refresh();
      if (run.attempts !== claimed.get(run.id)) {
        unexecuted.push(`${run.attempts} claims, ${claimed.get(run.id)} run`);
      }
    }
    assert.deepEqual(unexecuted, []);
  },
  {},
);
