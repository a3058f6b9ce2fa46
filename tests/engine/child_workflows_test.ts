import assert from "node:assert/strict";
import {
  OpenWorkflow,
  StepTimeoutError,
  WorkflowCanceledError,
  WorkflowFailedError,
  type WorkflowRunHandle,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

/** Resolves once `check` holds for the run, polling. */
async function until(
  handle: WorkflowRunHandle<unknown>,
  check: (status: string) => boolean,
): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check((await handle.refresh()).status)) return;
    await delay(10);
  }
  throw new Error(`run ${handle.id} never reached the expected status`);
}

testEachBackend(
  "step.runWorkflow() returns the child's output; a worker with concurrency 1 runs both",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let childCalls = 0;
    const price = ow.defineWorkflow<{ items: number }, number>(
      { name: "price" },
      async ({ input, step }) =>
        await step.run({ name: "compute" }, () => {
          childCalls++;
          return input.items * 5;
        }),
    );
    const order = ow.defineWorkflow({ name: "order" }, async ({ step }) => {
      const total = await step.runWorkflow(price, { items: 3 }, {
        name: "price",
        timeout: "1h",
      });
      await step.sleep("replay", 50); // the parent replays the child step
      return `total ${total}`;
    });
    const worker = ow.newWorker({ concurrency: 1, pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await order.run();
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "total 15");
      const children = await ow.listRuns({ parentWorkflowRunId: handle.id });
      assert.equal(children.runs.length, 1, "a replay starts no second child");
      const child = children.runs[0];
      assert.equal(child.parentWorkflowRunId, handle.id);
      assert.equal(child.workflowName, "price");
      assert.equal(child.status, "succeeded");
      assert.equal(childCalls, 1);
      assert.equal((await handle.refresh()).parentWorkflowRunId, null);
      const step = (await handle.listStepAttempts())[0];
      assert.deepEqual([step.kind, step.status, step.output], [
        "workflow",
        "succeeded",
        15,
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a failed child rejects with WorkflowFailedError whose cause is the child's error, also on replay",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const charge = ow.defineWorkflow({ name: "charge" }, () => {
      throw new RangeError("card declined");
    });
    const seen: unknown[] = [];
    const order = ow.defineWorkflow({ name: "checkout" }, async ({ step }) => {
      try {
        await step.runWorkflow(charge, null);
        return "charged";
      } catch (error) {
        seen.push([
          error instanceof WorkflowFailedError,
          (error as Error).cause instanceof RangeError,
          ((error as Error).cause as Error).message,
        ]);
        await step.sleep("replay", 50);
        return "refunded";
      }
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await order.run();
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "refunded");
      assert.deepEqual(seen, [
        [true, true, "card declined"],
        [true, true, "card declined"],
      ]);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a canceled child rejects with WorkflowCanceledError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const slow = ow.defineWorkflow({ name: "slow" }, async ({ step }) => {
      await step.sleep("forever", "1h");
    });
    const parent = ow.defineWorkflow({ name: "waits" }, async ({ step }) => {
      try {
        await step.runWorkflow(slow, null);
        return "finished";
      } catch (error) {
        return error instanceof WorkflowCanceledError ? "canceled" : "other";
      }
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await parent.run();
      let childId: string | undefined;
      for (let i = 0; i < 500 && childId === undefined; i++) {
        childId = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
          .runs[0]?.id;
        await delay(10);
      }
      const child = (await ow.getRun(childId!))!;
      await until(child, (status) => status === "sleeping");
      await child.cancel();
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "canceled");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a child that outlasts its timeout is canceled, and the step fails with StepTimeoutError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const slow = ow.defineWorkflow({ name: "too-slow" }, async ({ step }) => {
      await step.sleep("long", "1h");
    });
    const parent = ow.defineWorkflow(
      { name: "impatient" },
      async ({ step }) => {
        try {
          await step.runWorkflow(slow, null, { name: "slow", timeout: 200 });
          return "finished";
        } catch (error) {
          return error instanceof StepTimeoutError
            ? "timed out"
            : String(error);
        }
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await parent.run();
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "timed out");
      const [child] = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
        .runs;
      assert.equal(child.status, "canceled");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "canceling a parent cancels its runWorkflow children recursively; startWorkflow children keep running",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const leaf = ow.defineWorkflow({ name: "leaf" }, async ({ step }) => {
      await step.sleep("wait", "1h");
    });
    const middle = ow.defineWorkflow({ name: "middle" }, async ({ step }) => {
      await step.runWorkflow(leaf, null);
    });
    const detached = ow.defineWorkflow<null, string>(
      { name: "audit" },
      async ({ step }) => {
        await step.sleep("a-moment", "300ms");
        return "audited";
      },
    );
    const root = ow.defineWorkflow({ name: "root" }, async ({ step }) => {
      const { workflowRunId } = await step.startWorkflow(detached, null);
      await step.runWorkflow(middle, null);
      return workflowRunId;
    });
    const worker = ow.newWorker({ pollIntervalMs: 20, concurrency: 5 });
    await worker.start();
    try {
      const handle = await root.run();
      // Wait for the whole tree: root -> audit (detached), middle -> leaf.
      let tree: { id: string; workflowName: string }[] = [];
      for (let i = 0; i < 500; i++) {
        const children = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
          .runs;
        const middleRun = children.find((r) => r.workflowName === "middle");
        const grandchildren = middleRun === undefined
          ? []
          : (await ow.listRuns({ parentWorkflowRunId: middleRun.id })).runs;
        tree = [...children, ...grandchildren];
        if (tree.length === 3) break;
        await delay(10);
      }
      assert.deepEqual(tree.map((r) => r.workflowName).sort(), [
        "audit",
        "leaf",
        "middle",
      ]);
      await handle.cancel();
      const byName = new Map(tree.map((r) => [r.workflowName, r.id]));
      for (const name of ["middle", "leaf"]) {
        const run = (await ow.getRun(byName.get(name)!))!;
        assert.equal((await run.refresh()).status, "canceled", name);
      }
      const audit = (await ow.getRun<string>(byName.get("audit")!))!;
      assert.equal(await audit.result({ timeoutMs: 10_000 }), "audited");
      assert.equal(
        (await audit.refresh()).parentWorkflowRunId,
        handle.id,
        "a detached child records its parent",
      );
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "runWorkflow() and startWorkflow() refuse bad arguments without writing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const child = ow.defineWorkflow({ name: "kid" }, () => 1);
    const parent = ow.defineWorkflow(
      { name: "bad-parent" },
      async ({ step }) => {
        const errors: string[] = [];
        const attempts: (() => Promise<unknown>)[] = [
          () => step.runWorkflow(null as never, null),
          () => step.runWorkflow(child, () => 1, { name: "fn-input" }),
          () => step.runWorkflow(child, null, { name: "t", timeout: -1 }),
          () => step.startWorkflow(child, 10n, { name: "bigint" }),
        ];
        for (const attempt of attempts) {
          try {
            await attempt();
          } catch (error) {
            errors.push((error as Error).name);
          }
        }
        return errors;
      },
    );
    const handle = await parent.run();
    await ow.newWorker().tick();
    assert.deepEqual(await handle.result(), [
      "TypeError",
      "NotJsonError",
      "RangeError",
      "NotJsonError",
    ]);
    assert.deepEqual(
      (await ow.listRuns({ parentWorkflowRunId: handle.id })).runs,
      [],
    );
    assert.deepEqual(await handle.listStepAttempts(), []);
  },
);
