import assert from "node:assert/strict";
import {
  type Backend,
  NotJsonError,
  OpenWorkflow,
  PayloadTooLargeError,
  SignalValidationError,
  type StandardSchemaV1,
  WorkflowRunFinishedError,
  type WorkflowRunHandle,
  WorkflowRunNotFoundError,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

/** Resolves once the run waits for a signal (parked on a wait attempt). */
async function waiting(handle: WorkflowRunHandle<unknown>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const run = await handle.refresh();
    const attempts = await handle.listStepAttempts();
    if (
      run.status === "sleeping" &&
      attempts.some((a) => a.kind === "signal-wait" && a.status === "running")
    ) return;
    await delay(10);
  }
  throw new Error(`run ${handle.id} never waited for a signal`);
}

testEachBackend(
  "waitForSignal() parks the run and resumes it with a signal sent while it waits",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "approval" }, async ({ step }) => {
      const reply = await step.waitForSignal<{ approved: boolean }>({
        signal: "approval",
        name: "manager-approval",
      });
      return reply?.data.approved ? "approved" : "refused";
    });
    const worker = ow.newWorker({ concurrency: 1 });
    await worker.start();
    try {
      const handle = await wf.run();
      await waiting(handle);
      // The execution that parked the run winds down, and frees its slot.
      for (let i = 0; i < 200 && worker.activeCount > 0; i++) await delay(10);
      assert.equal(worker.activeCount, 0, "a waiting run holds no slot");
      const sent = await handle.sendSignal("approval", { approved: true });
      assert.deepEqual(sent, { workflowRunIds: [handle.id] });
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "approved");
      const attempts = await handle.listStepAttempts();
      assert.deepEqual(
        attempts.map((a) => [a.stepName, a.kind, a.status, a.output]),
        [["manager-approval", "signal-wait", "succeeded", {
          data: { approved: true },
        }]],
      );
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a signal sent before the run waits is kept and delivered without parking",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "early" }, async ({ step }) => {
      return (await step.waitForSignal({ signal: "go" }))?.data;
    });
    const handle = await wf.run();
    const sent = await ow.sendSignal({
      signal: "go",
      data: "now",
      workflowRunId: handle.id,
    });
    assert.deepEqual(sent, { workflowRunIds: [] }, "nobody waited yet");
    const worker = ow.newWorker();
    assert.equal(await worker.tick(), 1);
    assert.equal(await handle.result(), "now");
    assert.equal((await handle.refresh()).attempts, 1, "one execution");
  },
);

testEachBackend(
  "each wait receives the oldest undelivered signal of its name, exactly once, in order",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "mailbox" }, async ({ step }) => {
      const got: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        got.push(
          (await step.waitForSignal({ signal: "item", name: `i${i}` }))
            ?.data,
        );
      }
      const other = await step.waitForSignal({ signal: "other" });
      return { got, other: other?.data };
    });
    const handle = await wf.run();
    for (const data of ["a", "b", "c", "d"]) {
      await handle.sendSignal("item", data);
    }
    await handle.sendSignal("other", 1);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), {
        got: ["a", "b", "c"],
        other: 1,
      });
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a broadcast reaches the runs created before it, now or when they wait, once each; not later runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const waiter = ow.defineWorkflow<string, unknown>(
      { name: "waiter" },
      async ({ input, step }) => {
        if (input === "late-waiter") await step.sleep("first", "300ms");
        const first = await step.waitForSignal({
          signal: "deploy",
          name: "first-wait",
          timeout: "1s",
        });
        const second = await step.waitForSignal({
          signal: "deploy",
          name: "second-wait",
          timeout: "300ms",
        });
        return [first?.data ?? null, second?.data ?? null];
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const now = await waiter.run("now");
      const lateWaiter = await waiter.run("late-waiter");
      await waiting(now);
      const sent = await ow.sendSignal({ signal: "deploy", data: "v2" });
      assert.deepEqual(sent.workflowRunIds, [now.id]);
      const afterwards = await waiter.run("created-after");
      assert.deepEqual(await now.result({ timeoutMs: 10_000 }), ["v2", null]);
      assert.deepEqual(await lateWaiter.result({ timeoutMs: 10_000 }), [
        "v2",
        null,
      ]);
      assert.deepEqual(await afterwards.result({ timeoutMs: 10_000 }), [
        null,
        null,
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a broadcast sent between a run's start and its wait is not lost",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "racer" }, async ({ step }) => {
      await step.run({ name: "work" }, () => "done");
      return (await step.waitForSignal({ signal: "ready" }))?.data;
    });
    const handle = await wf.run();
    await ow.sendSignal({ signal: "ready", data: 42 });
    const worker = ow.newWorker();
    assert.equal(await worker.tick(), 1);
    assert.equal(await handle.result(), 42);
  },
);

testEachBackend(
  "two workers deliver one broadcast to each waiting run exactly once",
  async ({ backend, store, namespaceId }) => {
    const other = await store.connect(namespaceId);
    const define = (b: Backend) => {
      const ow = new OpenWorkflow({ backend: b });
      const wf = ow.defineWorkflow({ name: "fan" }, async ({ step }) => {
        const got = await step.waitForSignal({ signal: "fire", name: "one" });
        const again = await step.waitForSignal({
          signal: "fire",
          name: "two",
          timeout: "200ms",
        });
        return [got?.data, again?.data ?? null];
      });
      return { ow, wf };
    };
    const a = define(backend);
    const b = define(other);
    const handles = await Promise.all(
      Array.from({ length: 10 }, () => a.wf.run()),
    );
    const workers = [
      a.ow.newWorker({ pollIntervalMs: 20, concurrency: 5 }),
      b.ow.newWorker({ pollIntervalMs: 20, concurrency: 5 }),
    ];
    for (const worker of workers) await worker.start();
    try {
      for (const handle of handles) await waiting(handle);
      const sent = await b.ow.sendSignal({ signal: "fire", data: "x" });
      assert.deepEqual(
        [...sent.workflowRunIds].sort(),
        handles.map((h) => h.id).sort(),
      );
      for (const handle of handles) {
        assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), [
          "x",
          null,
        ]);
      }
    } finally {
      for (const worker of workers) await worker.stop();
    }
  },
);

testEachBackend(
  "a second send with the same idempotency key stores and delivers nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "keyed" }, async ({ step }) => {
      const first = await step.waitForSignal({ signal: "pay", name: "a" });
      const second = await step.waitForSignal({
        signal: "pay",
        name: "b",
        timeout: "200ms",
      });
      return [first?.data, second?.data ?? null];
    });
    const handle = await wf.run();
    const send = () =>
      ow.sendSignal({
        signal: "pay",
        data: 1,
        workflowRunId: handle.id,
        idempotencyKey: "payment-77",
      });
    const first = await send();
    assert.deepEqual(await send(), first);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), [1, null]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a wait that times out returns null and the run goes on",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "patient" }, async ({ step }) => {
      const reply = await step.waitForSignal({ signal: "never", timeout: 150 });
      return await step.run({ name: "after" }, () => reply === null);
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      assert.equal(await handle.result({ timeoutMs: 10_000 }), true);
      const wait = (await handle.listStepAttempts())[0];
      assert.deepEqual([wait.kind, wait.status, wait.output], [
        "signal-wait",
        "succeeded",
        null,
      ]);
    } finally {
      await worker.stop();
    }
  },
);

/** A Standard Schema for `{ amount: number }` that doubles the amount. */
const amountSchema: StandardSchemaV1<unknown, { amount: number }> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate(value) {
      const amount = (value as { amount?: unknown } | null)?.amount;
      return typeof amount === "number"
        ? { value: { amount: amount * 2 } }
        : { issues: [{ message: "Expected number", path: ["amount"] }] };
    },
  },
};

testEachBackend(
  "a schema transforms valid data, and fails the step for good on invalid data, naming the signal and the issues",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "typed" }, async ({ step }) => {
      const good = await step.waitForSignal({
        signal: "amount",
        name: "good",
        schema: amountSchema,
      });
      try {
        await step.waitForSignal({
          signal: "amount",
          name: "bad",
          schema: amountSchema,
        });
        return "accepted";
      } catch (error) {
        await step.sleep("replay", 50); // the replay sees the same error
        return {
          good: good?.data.amount,
          isValidationError: error instanceof SignalValidationError,
          message: (error as Error).message,
        };
      }
    });
    const handle = await wf.run();
    await handle.sendSignal("amount", { amount: 21 });
    await handle.sendSignal("amount", { amount: "lots" });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), {
        good: 42,
        isValidationError: true,
        message: "Signal 'amount' failed its schema: amount: Expected number",
      });
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "step.sendSignal() is a step: a replay never sends twice",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const receiver = ow.defineWorkflow(
      { name: "receiver" },
      async ({ step }) => {
        const one = await step.waitForSignal({ signal: "ping", name: "one" });
        const two = await step.waitForSignal({
          signal: "ping",
          name: "two",
          timeout: "300ms",
        });
        return [one?.data, two?.data ?? null];
      },
    );
    const sender = ow.defineWorkflow<string, unknown>(
      { name: "sender" },
      async ({ input, step }) => {
        const sent = await step.sendSignal({
          signal: "ping",
          data: "hello",
          workflowRunId: input,
        });
        await step.sleep("replay", 100); // the run is executed again
        return sent.workflowRunIds.length;
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const target = await receiver.run();
      await waiting(target);
      const handle = await sender.run(target.id);
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 1);
      assert.deepEqual(await target.result({ timeoutMs: 10_000 }), [
        "hello",
        null,
      ]);
      const attempts = await handle.listStepAttempts();
      assert.deepEqual(attempts.map((a) => [a.kind, a.status]), [
        ["signal-send", "succeeded"],
        ["sleep", "succeeded"],
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "step.sendSignal() to an unknown or finished run fails the step with a typed error",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const done = ow.defineWorkflow({ name: "done" }, () => "ok");
    const finished = await done.run();
    const sender = ow.defineWorkflow<string, unknown>(
      { name: "bad-sender" },
      async ({ input, step }) => {
        const outcomes = [];
        for (
          const [name, id] of [["unknown", crypto.randomUUID()], [
            "finished",
            input,
          ]]
        ) {
          try {
            await step.sendSignal({ signal: "x", workflowRunId: id, name });
          } catch (error) {
            outcomes.push((error as Error).name);
          }
        }
        return outcomes;
      },
    );
    const handle = await sender.run(finished.id);
    const worker = ow.newWorker();
    await worker.tick();
    await worker.tick();
    assert.deepEqual(await handle.result(), [
      "WorkflowRunNotFoundError",
      "WorkflowRunFinishedError",
    ]);
  },
);

testEachBackend(
  "bad signals are refused with typed errors and store nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend, maxPayloadBytes: 1024 });
    const wf = ow.defineWorkflow({ name: "target" }, async ({ step }) => {
      const got = await step.waitForSignal({ signal: "s", timeout: "200ms" });
      return got?.data ?? null;
    });
    const handle = await wf.run();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (
      const data of [() => 1, 10n, cyclic, { nested: { fn: () => 1 } }]
    ) {
      await assert.rejects(
        ow.sendSignal({ signal: "s", data, workflowRunId: handle.id }),
        (e) =>
          e instanceof NotJsonError && e instanceof TypeError &&
          e.message.includes("signal 's'"),
      );
    }
    await assert.rejects(
      ow.sendSignal({
        signal: "s",
        data: "x".repeat(2048),
        workflowRunId: handle.id,
      }),
      PayloadTooLargeError,
    );
    await assert.rejects(
      handle.sendSignal("s", "x".repeat(2048)),
      PayloadTooLargeError,
      "a handle keeps to its client's limit",
    );
    for (const signal of ["", null, 7]) {
      await assert.rejects(
        ow.sendSignal({ signal: signal as string, workflowRunId: handle.id }),
        (e) => e instanceof TypeError && /'signal'/.test(e.message),
      );
    }
    await assert.rejects(
      ow.sendSignal({ signal: "s", workflowRunId: crypto.randomUUID() }),
      WorkflowRunNotFoundError,
    );
    await assert.rejects(
      ow.sendSignal({ signal: "s", workflowRunId: "not-a-uuid" }),
      WorkflowRunNotFoundError,
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.equal(await handle.result({ timeoutMs: 10_000 }), null);
    } finally {
      await worker.stop();
    }
    await assert.rejects(
      handle.sendSignal("s", 1),
      (e) =>
        e instanceof WorkflowRunFinishedError && e.status === "succeeded" &&
        e.workflowRunId === handle.id,
    );
  },
);

testEachBackend(
  "hostile signal names and data are data, never SQL",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const names = [
      "'; DROP TABLE signals; --",
      'quote " and \\ backslash',
      "emoji 🚀 and ünïcödé",
      "$1 ${x} %s",
    ];
    const wf = ow.defineWorkflow({ name: "hostile" }, async ({ step }) => {
      const got = [];
      for (const signal of names) {
        got.push((await step.waitForSignal({ signal }))?.data);
      }
      return got;
    });
    const handle = await wf.run();
    for (const signal of names) {
      await handle.sendSignal(signal, { echo: signal, nul: "a\u0000b" });
    }
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.deepEqual(
        await handle.result({ timeoutMs: 10_000 }),
        names.map((signal) => ({ echo: signal, nul: "a\u0000b" })),
      );
    } finally {
      await worker.stop();
    }
  },
);
