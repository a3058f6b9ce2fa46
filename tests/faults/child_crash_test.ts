/**
 * A parent whose worker process is SIGKILLed while its child runs: another
 * worker finishes the child, the child's end wakes the parent, and the
 * parent returns the child's output; no second child is started.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { testEachBackend } from "../helpers.ts";
import { defineFamily } from "./fixtures/family.ts";
import {
  startFamilyWorker,
  untilChildStepRuns,
} from "./fixtures/family_process.ts";

testEachBackend(
  "a parent whose worker is SIGKILLed while its child runs finishes on another worker",
  async ({ backend, namespaceId }) => {
    const ow = new OpenWorkflow({ backend });
    const { parent } = defineFamily(ow);
    await using process = await startFamilyWorker(backend, namespaceId);
    const handle = await parent.run(21);
    assert.ok(
      await untilChildStepRuns(ow, handle.id),
      "the child's slow step ran in the other process",
    );
    await process.kill();
    const worker = ow.newWorker({
      leaseDurationMs: 1_000,
      pollIntervalMs: 20,
    });
    await worker.start();
    try {
      assert.equal(await handle.result({ timeoutMs: 20_000 }), "doubled: 42");
    } finally {
      await worker.stop();
    }
    const children = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
      .runs;
    assert.equal(children.length, 1, "one child, however many executions");
    const attempts = await ow.listStepAttempts(children[0].id);
    assert.deepEqual(attempts.map((a) => a.status), ["failed", "succeeded"]);
    assert.equal(
      (attempts[0].error as { name: string }).name,
      "StepInterruptedError",
    );
  },
);
