/**
 * `worker.stop()` under load: the runs in flight finish or are released
 * cleanly (none is left held by the stopped worker), overlapping and
 * repeated stops are harmless, and another worker finishes everything
 * without running any step twice.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { delay } from "../helpers.ts";
import { testEachBackend } from "../helpers.ts";

testEachBackend(
  "stop() during load leaves no run held, is harmless twice, and loses no work",
  async ({ backend, store, namespaceId }) => {
    const calls = new Map<string, number>();
    let stepsDone = 0;
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow<number, number[]>(
        { name: "busy" },
        async ({ input, step, run }) => {
          const fx = (name: string, value: number) =>
            step.run({ name }, async () => {
              const key = `${run.id} ${name}`;
              calls.set(key, (calls.get(key) ?? 0) + 1);
              await delay(5 + (input * 7 + name.length * 13) % 40);
              stepsDone++;
              return value;
            });
          const a = await fx("a", input);
          const [b, c] = await Promise.all([fx("b", a + 1), fx("c", a + 2)]);
          await step.sleep("pause", 50);
          const d = await fx("d", b + c);
          return [a, b, c, d];
        },
      );
    const first = new OpenWorkflow({ backend });
    const wf = define(first);
    const handles = await Promise.all(
      Array.from({ length: 30 }, (_, i) => wf.run(i)),
    );
    const worker = first.newWorker({
      concurrency: 10,
      leaseDurationMs: 5_000,
      pollIntervalMs: 10,
    });
    await worker.start();
    while (stepsDone < 15) await delay(5);
    assert.ok(worker.activeCount > 0, "stopping under load");
    await Promise.all([worker.stop(), worker.stop()]);
    assert.equal(worker.activeCount, 0);
    await worker.stop(); // a third time, on a stopped worker
    // The process would now close its backend and exit.
    await backend.stop();
    // Nothing is held by the stopped worker: every run it had finished,
    // parked or went back to pending, and all of it was written.
    const second = new OpenWorkflow({
      backend: await store.connect(namespaceId),
    });
    const held = (await second.listRuns({ status: "running", limit: 100 }))
      .runs;
    assert.deepEqual(held.map((r) => r.workerId), []);
    const unfinished = await second.listRuns({
      status: ["pending", "sleeping"],
      limit: 100,
    });
    assert.ok(unfinished.runs.length > 0, "some work was left to do");
    // Another worker (another process, in effect) finishes everything.
    define(second);
    const next = second.newWorker({ concurrency: 10, pollIntervalMs: 10 });
    await next.start();
    try {
      for (const [i, { id }] of handles.entries()) {
        const handle = (await second.getRun(id))!;
        assert.deepEqual(
          await handle.result({ timeoutMs: 20_000, pollIntervalMs: 50 }),
          [i, i + 1, i + 2, 2 * i + 3],
        );
      }
    } finally {
      await next.stop();
    }
    // A graceful stop lets steps finish: no step ran twice.
    assert.equal(calls.size, 30 * 4);
    assert.deepEqual([...new Set(calls.values())], [1]);
  },
);

testEachBackend(
  "a stopped worker starts again, and executes runs started meanwhile",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "again" }, (
      { input }: { input: number },
    ) => input * 2);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    assert.equal(await (await wf.run(1)).result(), 2);
    await worker.stop();
    const waiting = await wf.run(2);
    await worker.start();
    try {
      assert.equal(await waiting.result({ timeoutMs: 10_000 }), 4);
      await worker.start(); // starting a started worker does nothing
      assert.equal(await (await wf.run(3)).result({ timeoutMs: 10_000 }), 6);
    } finally {
      await worker.stop();
    }
  },
);
