/**
 * A write that fails because the database went away (an outage, a
 * failover) stops the execution; the worker then hands the run back as
 * soon as the database takes writes again, so that it resumes within
 * moments instead of a lease later.
 */

import assert from "node:assert/strict";
import { type Backend, BackendError, OpenWorkflow } from "../../mod.ts";
import { testEachBackend } from "../helpers.ts";

/** `backend`, whose writes fail with BackendError while `down` is set. */
function flaky(backend: Backend): { backend: Backend; down: boolean } {
  const control = { down: false, backend: undefined as unknown as Backend };
  const writes = new Set([
    "markStepAttemptSucceeded",
    "createStepAttempt",
    "releaseWorkflowRun",
    "heartbeatWorkflowRun",
  ]);
  control.backend = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (control.down && writes.has(String(property))) {
          return Promise.reject(
            new BackendError(`${String(property)} (database down)`),
          );
        }
        return value.apply(target, args);
      };
    },
  });
  return control;
}

testEachBackend(
  "a run whose write failed during an outage resumes within moments of the database coming back, not a lease later",
  async ({ backend }) => {
    const control = flaky(backend);
    const ow = new OpenWorkflow({ backend: control.backend });
    const calls: string[] = [];
    const wf = ow.defineWorkflow({ name: "outage" }, async ({ step }) => {
      const a = await step.run({ name: "a" }, () => {
        calls.push("a");
        // The database goes away while the step runs: its result cannot
        // be stored.
        if (calls.length === 1) control.down = true;
        return 1;
      });
      return await step.run({ name: "b" }, () => {
        calls.push("b");
        return a + 1;
      });
    });
    // A long lease: waiting it out would take 20 s.
    const worker = ow.newWorker({
      leaseDurationMs: 20_000,
      pollIntervalMs: 20,
    });
    await worker.start();
    try {
      const handle = await wf.run();
      const started = performance.now();
      setTimeout(() => control.down = false, 500); // back after half a second
      assert.equal(await handle.result({ timeoutMs: 15_000 }), 2);
      const tookMs = performance.now() - started;
      assert.ok(tookMs < 5_000, `resumed after ${Math.round(tookMs)} ms`);
      // Step a ran again (its first success was never stored), b once.
      assert.deepEqual(calls, ["a", "a", "b"]);
    } finally {
      await worker.stop();
    }
  },
);
