/**
 * Conformance: `getNextAvailableAt()`, the time the namespace's next
 * waiting run falls due: pending and sleeping runs only, later than now,
 * of the workflows asked about, in this namespace.
 */

import assert from "node:assert/strict";
import type { Backend } from "../../core/backend.ts";
import type { DefineCase } from "./define.ts";
import { createClaimed, runParams } from "./runs.ts";

/** The backend's `getNextAvailableAt()`, which must be implemented. */
function nextAvailableAt(backend: Backend) {
  assert.equal(
    typeof backend.getNextAvailableAt,
    "function",
    "getNextAvailableAt() is implemented",
  );
  return backend.getNextAvailableAt!.bind(backend);
}

export function nextAvailableConformance(define: DefineCase): void {
  define(
    "getNextAvailableAt() returns the earliest future availableAt of the namespace's waiting runs",
    async ({ backend, connect }) => {
      const next = nextAvailableAt(backend);
      assert.equal(await next({}), null);
      const soon = new Date(Date.now() + 60_000);
      const later = new Date(Date.now() + 120_000);
      // Another namespace's run, due sooner, does not count.
      const other = await connect(`other-${crypto.randomUUID()}`);
      await other.createWorkflowRun(
        runParams("email", { availableAt: new Date(Date.now() + 30_000) }),
      );
      // Nor does a run due now: it is claimable, not coming.
      await backend.createWorkflowRun(runParams("email"));
      await backend.createWorkflowRun(
        runParams("email", { availableAt: later }),
      );
      assert.deepEqual(await next({}), later);
      await backend.createWorkflowRun(
        runParams("report", { availableAt: soon, version: "2" }),
      );
      assert.deepEqual(await next({}), soon);
      assert.deepEqual(
        await next({ workflows: [{ name: "email", version: null }] }),
        later,
      );
      assert.deepEqual(
        await next({
          workflows: [
            { name: "email", version: null },
            { name: "report", version: "2" },
          ],
        }),
        soon,
      );
      assert.equal(
        await next({ workflows: [{ name: "report", version: null }] }),
        null,
      );
      assert.equal(await next({ workflows: [] }), null);
    },
    ["sharedStore", "nextAvailableAt"],
  );

  define(
    "getNextAvailableAt() counts sleeping runs and passes over running and finished ones",
    async ({ backend }) => {
      const next = nextAvailableAt(backend);
      // A running run's availableAt is its lease: not a due time.
      const held = await createClaimed(backend, "w1", 60_000);
      assert.equal(await next({}), null);
      const wakeAt = new Date(Date.now() + 90_000);
      await backend.releaseWorkflowRun({
        workflowRunId: held,
        workerId: "w1",
        status: "sleeping",
        availableAt: wakeAt,
      });
      assert.deepEqual(await next({}), wakeAt);
      const finished = await backend.createWorkflowRun(
        runParams("wf", { availableAt: new Date(Date.now() + 10_000) }),
      );
      assert.deepEqual(await next({}), finished.availableAt);
      await backend.cancelWorkflowRun({
        workflowRunId: finished.id,
        error: { message: "canceled" },
      });
      assert.deepEqual(await next({}), wakeAt);
    },
    ["nextAvailableAt"],
  );
}
