import assert from "node:assert/strict";
import {
  OpenWorkflow,
  ResultTimeoutError,
  WorkflowFailedError,
  WorkflowRunHandle,
} from "../../mod.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "a workflow runs its steps and returns its output",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const greet = ow.defineWorkflow<{ name: string }, { greeting: string }>(
      { name: "greet" },
      async ({ input, step }) => {
        const greeting = await step.run(
          { name: "generate" },
          () => `Hello, ${input.name}!`,
        );
        return { greeting };
      },
    );
    assert.equal(greet.name, "greet");
    assert.equal(typeof greet.fn, "function");
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await greet.run({ name: "Alice" });
      assert.ok(handle instanceof WorkflowRunHandle);
      assert.equal(handle.workflowRun.status, "pending");
      assert.equal(handle.workflowRun.workflowName, "greet");
      assert.deepEqual(handle.workflowRun.input, { name: "Alice" });
      assert.deepEqual(await handle.result(), { greeting: "Hello, Alice!" });
      const steps = await handle.listStepAttempts();
      assert.deepEqual(steps.map((s) => [s.stepName, s.status, s.output]), [
        ["generate", "succeeded", "Hello, Alice!"],
      ]);
      const run = await handle.refresh();
      assert.equal(run.status, "succeeded");
      assert.equal(run.attempts, 1);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "undefined step and workflow outputs are stored as null",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let seen: unknown = "unset";
    const wf = ow.defineWorkflow({ name: "void" }, async ({ step }) => {
      seen = await step.run({ name: "void-step" }, async () => {});
    });
    const handle = await wf.run();
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(seen, null);
    assert.equal(await handle.result(), null);
    const [attempt] = await handle.listStepAttempts();
    assert.equal(attempt.output, null);
    assert.equal(handle.workflowRun.input, null);
  },
);

testEachBackend(
  "Date values follow JSON semantics in inputs and outputs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const at = new Date("2026-01-02T03:04:05.006Z");
    const wf = ow.defineWorkflow<{ at: Date }, unknown>(
      { name: "dates" },
      async ({ input, step }) => {
        const inside = await step.run(
          { name: "now" },
          () => ({ at, skip: undefined, n: NaN }),
        );
        return { input: input.at, inside };
      },
    );
    const handle = await wf.run({ at });
    await ow.newWorker().tick();
    assert.deepEqual(await handle.result(), {
      input: "2026-01-02T03:04:05.006Z",
      inside: { at: "2026-01-02T03:04:05.006Z", n: null },
    });
  },
);

testEachBackend("parallel steps run concurrently", async ({ backend }) => {
  const ow = new OpenWorkflow({ backend });
  // Each step waits until all three are running (or gives up after 5 s):
  // run one after another, they would never meet.
  const allRunning = Promise.withResolvers<void>();
  let running = 0;
  let maxRunning = 0;
  const work = async (value: string) => {
    maxRunning = Math.max(maxRunning, ++running);
    if (running === 3) allRunning.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      allRunning.promise,
      new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
    ]);
    clearTimeout(timer);
    running--;
    return value;
  };
  const wf = ow.defineWorkflow({ name: "parallel" }, async ({ step }) => {
    const [user, settings, subscription] = await Promise.all([
      step.run({ name: "user" }, () => work("u")),
      step.run({ name: "settings" }, () => work("s")),
      step.run({ name: "subscription" }, () => work("p")),
    ]);
    return { user, settings, subscription };
  });
  const handle = await wf.run();
  await ow.newWorker().tick();
  assert.deepEqual(await handle.result(), {
    user: "u",
    settings: "s",
    subscription: "p",
  });
  assert.equal(maxRunning, 3);
});

testEachBackend(
  "a failed step rejects into the workflow, which may catch it",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const logged: string[] = [];
    const wf = ow.defineWorkflow(
      { name: "with-error-handling" },
      async ({ step }) => {
        try {
          return await step.run({
            name: "risky-operation",
            retry: { maxAttempts: 1 },
          }, () => {
            throw new RangeError("upstream said no");
          });
        } catch (error) {
          await step.run({ name: "log-error" }, () => {
            logged.push(
              `${(error as Error).name}: ${(error as Error).message}`,
            );
          });
          throw error;
        }
      },
    );
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.deepEqual(logged, ["RangeError: upstream said no"]);
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(error.workflowRunId, handle.id);
    assert.match(error.message, /upstream said no/);
    assert.ok(error.cause instanceof Error);
    assert.equal(error.cause.name, "RangeError");
    assert.equal(error.cause.message, "upstream said no");
    assert.match(String(error.cause.stack), /RangeError: upstream said no/);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(attempts.map((a) => [a.stepName, a.status]), [
      ["risky-operation", "failed"],
      ["log-error", "succeeded"],
    ]);
  },
);

testEachBackend(
  "thrown non-Error values become well-formed stored errors",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const values: unknown[] = ["plain string", null, 42, { code: 7 }];
    const handles = [];
    for (const [i, value] of values.entries()) {
      const wf = ow.defineWorkflow({ name: `throws-${i}` }, () => {
        throw value;
      });
      handles.push(await wf.run());
    }
    await ow.newWorker({ concurrency: 4 }).tick();
    const messages = [];
    for (const handle of handles) {
      const error = await handle.result().then(() => null, (e) => e);
      assert.ok(error instanceof WorkflowFailedError);
      assert.equal((error.cause as Error).name, "Error");
      messages.push((error.cause as Error).message);
    }
    assert.deepEqual(messages, [
      "plain string",
      "Non-error value thrown: null",
      "Non-error value thrown: 42",
      'Non-error value thrown: {"code":7}',
    ]);
  },
);

testEachBackend(
  "result() times out, honours its signal, and leaves the run alone",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "never-executed" }, () => 1);
    const handle = await wf.run();
    const timeout = await handle.result({ timeoutMs: 150, pollIntervalMs: 50 })
      .then(
        () => null,
        (e) => e,
      );
    assert.ok(timeout instanceof ResultTimeoutError);
    assert.equal(timeout.timeoutMs, 150);
    assert.equal(timeout.workflowRunId, handle.id);
    const reason = new Error("stop waiting");
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(
      handle.result({ signal: controller.signal }),
      (e) => e === reason,
    );
    assert.equal((await handle.refresh()).status, "pending");
    await ow.newWorker().tick();
    assert.equal(await handle.result(), 1);
  },
);

testEachBackend(
  "a worker only claims runs of workflows it has",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const mine = ow.defineWorkflow({ name: "mine" }, () => "mine");
    const otherClient = new OpenWorkflow({ backend });
    const theirs = otherClient.defineWorkflow(
      { name: "theirs" },
      () => "theirs",
    );
    const theirsHandle = await theirs.run();
    const mineHandle = await mine.run();
    assert.equal(await ow.newWorker({ concurrency: 5 }).tick(), 1);
    assert.equal(await mineHandle.result(), "mine");
    assert.equal((await theirsHandle.refresh()).status, "pending");
    assert.equal(await otherClient.newWorker().tick(), 1);
    assert.equal(await theirsHandle.result(), "theirs");
  },
);

testEachBackend(
  "a step name used twice in a run fails the run with DuplicateStepNameError, not retried",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const retry = { maxAttempts: 3, initialIntervalMs: 1 };
    const wf = ow.defineWorkflow({ name: "loop", retry }, async ({ step }) => {
      const out = [];
      for (const item of ["a", "b"]) {
        out.push(
          await step.run({ name: "process" }, () => {
            calls++;
            return item.toUpperCase();
          }),
        );
      }
      return out;
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    const error = await handle.result().then(
      () => assert.fail("the run should fail"),
      (error: WorkflowFailedError) => error,
    );
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause as Error;
    assert.equal(cause.name, "DuplicateStepNameError");
    assert.match(cause.message, /Step name 'process' is used more than once/);
    assert.equal(calls, 1, "the second use runs nothing");
    const names = (await handle.listStepAttempts()).map((a) => a.stepName);
    assert.deepEqual(names, ["process"]);
    const run = await handle.refresh();
    assert.equal(run.status, "failed");
    assert.equal(run.attempts, 1, "the workflow-level retry does not apply");
  },
);

testEachBackend(
  "a repeated name is an error for sleeps too, and a loop with indexed names works",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "indexed" }, async ({ step }) => {
      const out = [];
      for (const [i, item] of ["a", "b", "c"].entries()) {
        out.push(
          await step.run({ name: `process-${i}` }, () => item.toUpperCase()),
        );
      }
      await step.run({ name: "nap" }, () => null);
      await step.sleep("nap", 1).catch((error: Error) => out.push(error.name));
      return out;
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.deepEqual(await handle.result(), [
      "A",
      "B",
      "C",
      "DuplicateStepNameError",
    ]);
  },
);

testEachBackend(
  "worker.tick() claims up to its concurrency and awaits the runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "tick" }, async ({ step }) => {
      await step.run({ name: "s" }, () => delay(10));
      return "done";
    });
    const handles = await Promise.all([wf.run(), wf.run(), wf.run()]);
    const worker = ow.newWorker({ concurrency: 2 });
    assert.equal(await worker.tick(), 2);
    assert.equal(await worker.tick(), 1);
    assert.equal(await worker.tick(), 0);
    for (const handle of handles) assert.equal(await handle.result(), "done");
  },
);
