import assert from "node:assert/strict";
import { OpenWorkflow, WorkflowRunHandle } from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "an idempotency key starts one run, even from concurrent processes",
  async ({ backend, store, namespaceId }) => {
    const clients = [
      new OpenWorkflow({ backend }),
      new OpenWorkflow({ backend: await store.connect(namespaceId) }),
      new OpenWorkflow({ backend: await store.connect(namespaceId) }),
    ];
    const definitions = clients.map((ow) =>
      ow.defineWorkflow<{ order: number }, number>(
        { name: "charge" },
        ({ input }) => input.order,
      )
    );
    const handles = await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) =>
          definitions[i % 3].run({ order: i }, { idempotencyKey: "order-42" }),
      ),
    );
    assert.equal(new Set(handles.map((h) => h.id)).size, 1);
    assert.equal(handles[0].workflowRun.idempotencyKey, "order-42");
    const page = await clients[0].listRuns({ workflowName: "charge" });
    assert.equal(page.runs.length, 1);
    await clients[0].newWorker().tick();
    const result = await handles[5].result();
    assert.equal(typeof result, "number");
    // After completion the key still returns the same, finished run.
    const again = await definitions[0].run({ order: 99 }, {
      idempotencyKey: "order-42",
    });
    assert.equal(again.id, handles[0].id);
    assert.equal(await again.result(), result);
    const other = await definitions[0].run({ order: 7 }, {
      idempotencyKey: "order-43",
    });
    assert.notEqual(other.id, handles[0].id);
  },
);

testEachBackend(
  "workers execute only the versions they have; other runs wait visibly",
  async ({ backend }) => {
    const v1 = new OpenWorkflow({ backend });
    const v2 = new OpenWorkflow({ backend });
    const oldDef = v1.defineWorkflow(
      { name: "checkout", version: "1" },
      () => "v1",
    );
    const newDef = v2.defineWorkflow(
      { name: "checkout", version: "2" },
      () => "v2",
    );
    const oldRun = await oldDef.run();
    const newRun = await newDef.run();
    assert.equal(oldRun.workflowRun.version, "1");
    assert.equal(newRun.workflowRun.version, "2");
    const v2Worker = v2.newWorker({ concurrency: 5 });
    assert.equal(await v2Worker.tick(), 1);
    assert.equal(await v2Worker.tick(), 0);
    assert.equal(await newRun.result(), "v2");
    const waiting = await oldRun.refresh();
    assert.equal(waiting.status, "pending");
    assert.equal(waiting.attempts, 0, "never claimed and released");
    const pending = await v2.listRuns({
      workflowName: "checkout",
      status: "pending",
    });
    assert.deepEqual(pending.runs.map((r) => r.version), ["1"]);
    assert.equal(await v1.newWorker().tick(), 1);
    assert.equal(await oldRun.result(), "v1");
  },
);

testEachBackend(
  "getRun, listRuns and listStepAttempts inspect runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const ok = ow.defineWorkflow({ name: "inspect-ok" }, async ({ step }) => {
      await step.run({ name: "a" }, () => 1);
      await step.run({ name: "b" }, () => 2);
      return "fine";
    });
    const bad = ow.defineWorkflow({ name: "inspect-bad" }, () => {
      throw new Error("bad");
    });
    const handles = [];
    for (let i = 0; i < 5; i++) {
      handles.push(await ok.run({ i }));
      await delay(3); // distinct creation times, for the time-window filter
    }
    const failing = await bad.run();
    await ow.newWorker({ concurrency: 10 }).tick();

    const got = await ow.getRun<string>(handles[2].id);
    assert.ok(got instanceof WorkflowRunHandle);
    assert.equal(got.workflowRun.status, "succeeded");
    assert.deepEqual(got.workflowRun.input, { i: 2 });
    assert.equal(await got.result(), "fine");

    const failed = await ow.listRuns({ status: "failed" });
    assert.deepEqual(failed.runs.map((r) => r.id), [failing.id]);
    const okRuns = await ow.listRuns({
      workflowName: "inspect-ok",
      status: ["succeeded"],
    });
    assert.equal(okRuns.runs.length, 5);

    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof ow.listRuns>> = await ow.listRuns({
        limit: 2,
        cursor,
      });
      ids.push(...page.runs.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(ids, [failing.id, ...handles.map((h) => h.id).reverse()]);

    const window = await ow.listRuns({
      createdAfter: handles[1].workflowRun.createdAt,
      createdBefore: handles[4].workflowRun.createdAt,
    });
    assert.deepEqual(window.runs.map((r) => r.id), [
      handles[3].id,
      handles[2].id,
      handles[1].id,
    ]);

    const steps = await ow.listStepAttempts(handles[0].id);
    assert.deepEqual(steps.map((s) => [s.stepName, s.output]), [["a", 1], [
      "b",
      2,
    ]]);

    await assert.rejects(ow.listRuns({ limit: 0 }), RangeError);
    await assert.rejects(ow.listRuns({ limit: 5000 }), RangeError);
    await assert.rejects(ow.listRuns({ status: "done" as never }), TypeError);
    await assert.rejects(ow.listRuns({ cursor: "garbage" }), TypeError);
    await assert.rejects(
      ow.listRuns({ createdAfter: new Date("x") }),
      TypeError,
    );
    // Past what every backend stores: named, on both backends alike.
    await assert.rejects(
      ow.listRuns({ createdBefore: new Date(Date.UTC(10_000, 0, 1)) }),
      (e) =>
        e instanceof RangeError &&
        /'createdBefore' must be between 0001-01-01/.test(e.message),
    );
  },
);
