/**
 * A parent whose worker process is SIGKILLed while its child runs: another
 * worker finishes the child, the child's end wakes the parent, and the
 * parent returns the child's output; no second child is started.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { DATABASE_URL, delay, testEachBackend } from "../helpers.ts";
import { defineFamily } from "./fixtures/family.ts";

const WORKER = new URL("./fixtures/family_worker.ts", import.meta.url).pathname;

testEachBackend(
  "a parent whose worker is SIGKILLed while its child runs finishes on another worker",
  async ({ backend, namespaceId }) => {
    const location = "path" in backend
      ? (backend as { path: string }).path
      : DATABASE_URL;
    const kind = "path" in backend ? "sqlite" : "postgres";
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", WORKER, kind, location, namespaceId],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const ow = new OpenWorkflow({ backend });
    const { parent } = defineFamily(ow);
    let killed = false;
    try {
      const reader = process.stdout.getReader();
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /ready/);
      reader.releaseLock();
      const handle = await parent.run(21);
      // The child's slow step is under way in the other process.
      for (let i = 0; i < 1000; i++) {
        const [child] = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
          .runs;
        const steps = child === undefined
          ? []
          : await ow.listStepAttempts(child.id);
        if (steps.some((a) => a.status === "running")) break;
        await delay(10);
      }
      process.kill("SIGKILL");
      killed = true;
      await process.status;
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
    } finally {
      if (!killed) {
        process.kill("SIGKILL");
        await process.status;
      }
      await process.stdout.cancel().catch(() => {});
    }
  },
);
