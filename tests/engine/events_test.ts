import assert from "node:assert/strict";
import {
  OpenWorkflow,
  type WorkerEvent,
  type WorkerEventType,
  WorkflowCanceledError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";
import { withLogRecords } from "../log_records.ts";

testEachBackend(
  "a worker dispatches typed events and logs them through LogTape",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
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
    });
  },
);

/** Resolves with the first event of `type` the worker dispatches. */
function nextEvent(
  worker: EventTarget & {
    addEventListener(
      type: WorkerEventType,
      listener: (event: WorkerEvent) => void,
      options?: { once?: boolean },
    ): void;
  },
  type: WorkerEventType,
): Promise<WorkerEvent> {
  return new Promise((resolve) =>
    worker.addEventListener(type, resolve, { once: true })
  );
}

testEachBackend(
  "a succeeded run dispatches run-succeeded, logged at debug level",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "fine" }, () => 42);
      const worker = ow.newWorker();
      const succeeded = nextEvent(worker, "run-succeeded");
      const handle = await wf.run();
      assert.equal(await worker.tick(), 1);
      const event = await succeeded;
      assert.equal(await handle.result(), 42);
      assert.equal(event.workflowRunId, handle.id);
      assert.equal(event.workflowName, "fine");
      assert.equal(event.workerId, worker.id);
      assert.equal(event.error, undefined);
      const record = records.find((r) =>
        r.rawMessage ===
          "Run {workflowRunId} of {workflowName} succeeded"
      );
      assert.equal(record?.level, "debug");
      assert.equal(record?.properties.workflowRunId, handle.id);
    });
  },
);

testEachBackend(
  "a worker nobody listens to still logs its events through LogTape",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "unheard" }, () => 7);
      const worker = ow.newWorker();
      const handle = await wf.run();
      assert.equal(await worker.tick(), 1);
      assert.equal(await handle.result(), 7);
      const messages = records
        .filter((r) => r.properties.workflowRunId === handle.id)
        .map((r) => [r.rawMessage, r.level]);
      assert.deepEqual(messages, [
        [
          "Claimed run {workflowRunId} of {workflowName} (attempt {attempt})",
          "debug",
        ],
        ["Run {workflowRunId} of {workflowName} succeeded", "debug"],
      ]);
    });
  },
);

testEachBackend(
  "a run canceled mid-step dispatches lease-lost with the cancellation",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
      const ow = new OpenWorkflow({ backend });
      let entered!: () => void;
      const inStep = new Promise<void>((resolve) => entered = resolve);
      const wf = ow.defineWorkflow({ name: "long" }, async ({ step }) => {
        await step.run(
          { name: "wait" },
          ({ signal }) =>
            new Promise<void>((_, reject) => {
              entered();
              signal.addEventListener("abort", () => reject(signal.reason));
            }),
        );
      });
      const worker = ow.newWorker();
      const lost = nextEvent(worker, "lease-lost");
      const handle = await wf.run();
      await worker.start();
      try {
        await inStep;
        await handle.cancel();
        const event = await lost;
        assert.ok(event.error instanceof WorkflowCanceledError);
        assert.equal(event.workflowRunId, handle.id);
        await assert.rejects(handle.result(), WorkflowCanceledError);
      } finally {
        await worker.stop();
      }
      const record = records.find((r) =>
        r.properties.workflowRunId === handle.id && r.level === "warning"
      );
      assert.ok(record?.properties.error instanceof WorkflowCanceledError);
    });
  },
);

testEachBackend(
  "a backend that fails under a running worker dispatches error, logged at error level",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
      const ow = new OpenWorkflow({ backend });
      ow.defineWorkflow({ name: "any" }, () => null);
      const worker = ow.newWorker();
      await worker.start();
      try {
        const failed = nextEvent(worker, "error");
        await backend.stop(); // every later call fails
        const event = await failed;
        assert.ok(event.error instanceof Error);
        assert.equal(event.workerId, worker.id);
        const record = records.find((r) => r.level === "error");
        assert.equal(record?.properties.workerId, worker.id);
        assert.equal(record?.category.join("."), "openworkflow.worker");
      } finally {
        await worker.stop();
      }
    });
  },
);

testEachBackend(
  "a listener that throws or rejects is logged and breaks neither the worker nor the process",
  async ({ backend }) => {
    await withLogRecords(async (records) => {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "watched" }, () => "done");
      const worker = ow.newWorker();
      const seen: string[] = [];
      const throwing = () => {
        seen.push("throwing");
        throw new Error("listener bug");
      };
      worker.addEventListener("run-claimed", throwing);
      worker.addEventListener("run-claimed", () => {
        seen.push("async");
        return Promise.reject(new Error("async listener bug"));
      });
      worker.addEventListener("run-claimed", () => seen.push("after"));
      const handle = await wf.run();
      assert.equal(await worker.tick(), 1);
      assert.equal(await handle.result(), "done");
      assert.deepEqual(seen, ["throwing", "async", "after"]);
      await delay(0); // the rejection is logged a turn later
      const logged = records
        .filter((r) =>
          r.rawMessage === "A listener of {eventType} threw: {error}"
        )
        .map((r) => [
          r.level,
          r.properties.eventType,
          (r.properties.error as Error).message,
        ]);
      assert.deepEqual(logged, [
        ["error", "run-claimed", "listener bug"],
        ["error", "run-claimed", "async listener bug"],
      ]);

      // The same listener maps to the same registration, so it can be removed.
      worker.removeEventListener("run-claimed", throwing);
      seen.length = 0;
      await wf.run();
      assert.equal(await worker.tick(), 1);
      assert.deepEqual(seen, ["async", "after"]);
    });
  },
);

testEachBackend(
  "a step that reads its signal only after an await still hears the run canceled",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let entered!: () => void;
    const inStep = new Promise<void>((resolve) => entered = resolve);
    let heard!: (reason: unknown) => void;
    const aborted = new Promise<unknown>((resolve) => heard = resolve);
    const wf = ow.defineWorkflow({ name: "late-signal" }, async ({ step }) => {
      await step.run({ name: "wait" }, async (context) => {
        await delay(10);
        // Read once the call is under way (and raced), not at its start.
        const signal = context.signal;
        entered();
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => {
            heard(signal.reason);
            resolve();
          })
        );
      });
    });
    const worker = ow.newWorker();
    const handle = await wf.run();
    await worker.start();
    try {
      await inStep;
      await handle.cancel();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reason = await Promise.race([
        aborted,
        new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
      ]);
      clearTimeout(timer);
      assert.ok(reason instanceof WorkflowCanceledError, `${reason}`);
    } finally {
      await worker.stop();
    }
  },
);
