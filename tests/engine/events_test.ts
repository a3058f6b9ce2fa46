import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  OpenWorkflow,
  type WorkerEvent,
  type WorkerEventType,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "a worker dispatches typed events and logs them through LogTape",
  async ({ backend }) => {
    const records: LogRecord[] = [];
    await configure({
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        { category: ["openworkflow"], lowestLevel: "debug", sinks: ["memory"] },
        { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
      ],
    });
    try {
      const ow = new OpenWorkflow({ backend });
      let calls = 0;
      const wf = ow.defineWorkflow({ name: "eventful" }, async ({ step }) => {
        await step.run({
          name: "flaky",
          retry: { maxAttempts: 2, initialIntervalMs: 50 },
        }, () => {
          if (++calls === 1) throw new Error("first attempt fails");
        });
        throw new TypeError("the run fails");
      });
      const worker = ow.newWorker();
      const events: [WorkerEventType, string | null, number | null][] = [];
      const listener = (event: WorkerEvent) =>
        events.push([
          event.type as WorkerEventType,
          event.stepName,
          event.attempt,
        ]);
      for (
        const type of [
          "run-claimed",
          "run-succeeded",
          "run-failed",
          "run-released",
          "step-failed",
          "lease-lost",
          "error",
        ] as const
      ) worker.addEventListener(type, listener);
      let failedError: unknown;
      worker.addEventListener(
        "run-failed",
        (event) => failedError = event.error,
      );
      const handle = await wf.run();
      await worker.tick();
      await delay(100);
      await worker.tick();
      await assert.rejects(handle.result());
      assert.deepEqual(events, [
        ["run-claimed", null, 1],
        ["step-failed", "flaky", 1],
        ["run-released", null, null],
        ["run-claimed", null, 2],
        ["run-failed", null, null],
      ]);
      assert.equal(
        (failedError as { message: string }).message,
        "the run fails",
      );
      worker.removeEventListener("run-claimed", listener);

      const logged = records.map((
        r,
      ) => [r.level, r.category.join("."), r.properties.workflowRunId]);
      assert.ok(logged.length >= 5);
      assert.ok(
        logged.every(([, category, id]) =>
          category === "openworkflow.worker" && id === handle.id
        ),
      );
      const stepFailed = records.find((r) => r.properties.stepName === "flaky");
      assert.equal(stepFailed?.level, "warning");
      assert.equal(stepFailed?.properties.attempt, 1);
      assert.equal(stepFailed?.properties.workflowName, "eventful");
      assert.equal(stepFailed?.properties.workerId, worker.id);
    } finally {
      await reset();
    }
  },
);
