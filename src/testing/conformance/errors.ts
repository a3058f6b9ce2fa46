/** Conformance: how a backend reports bad input and its own end. */

import assert from "node:assert/strict";
import type { DefineCase } from "./define.ts";
import { BackendError } from "../../core/errors.ts";
import { runParams } from "./runs.ts";

export function errorConformance(define: DefineCase): void {
  define(
    "listWorkflowRuns() rejects a cursor it did not make with a TypeError",
    async ({ backend }) => {
      await backend.createWorkflowRun(runParams());
      for (const cursor of ["", "not a cursor", btoa("[1,2]")]) {
        let listing: Promise<unknown> | undefined;
        // A rejected promise, not an exception thrown by the call itself.
        assert.doesNotThrow(() => {
          listing = backend.listWorkflowRuns({ limit: 10, cursor });
        });
        await assert.rejects(listing!, TypeError);
      }
    },
  );

  define(
    "stop() may be called twice; calls after it reject with BackendError",
    async ({ backend, connect, namespaceId }) => {
      const run = await backend.createWorkflowRun(runParams());
      const stopped = await connect(namespaceId);
      assert.equal(
        (await stopped.getWorkflowRun({ workflowRunId: run.id }))?.id,
        run.id,
      );
      await stopped.stop();
      await stopped.stop();
      await assert.rejects(
        stopped.getWorkflowRun({ workflowRunId: run.id }),
        BackendError,
      );
      await assert.rejects(
        stopped.createWorkflowRun(runParams()),
        BackendError,
      );
      await assert.rejects(
        stopped.claimWorkflowRun({ workerId: "w", leaseDurationMs: 1000 }),
        BackendError,
      );
      // Other backend objects on the same store are unaffected.
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: run.id }))?.status,
        "pending",
      );
    },
    ["sharedStore"],
  );
}
