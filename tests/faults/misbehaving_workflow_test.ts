/**
 * Workflow functions that misbehave: steps never awaited, non-Error values
 * thrown (strings, null, undefined, symbols, cyclic objects, errors whose
 * properties throw), `undefined` returned. Each run ends with a well-formed
 * stored error or a `null` output, and the worker process survives.
 */

import assert from "node:assert/strict";
import { OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import { delay } from "../helpers.ts";
import { testEachBackend } from "../helpers.ts";

/** Collects unhandled rejections (which would end a worker process). */
function catchUnhandled(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    reasons.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  return {
    reasons,
    stop: () => globalThis.removeEventListener("unhandledrejection", listener),
  };
}

/** The stored error of a failed run, as `result()` hands it back. */
async function storedError(result: Promise<unknown>): Promise<Error> {
  const error = await result.then(() => null, (e) => e);
  assert.ok(error instanceof WorkflowFailedError, `got ${error}`);
  const cause = error.cause as Error;
  assert.ok(cause instanceof Error);
  assert.equal(typeof cause.name, "string");
  assert.equal(typeof cause.message, "string");
  return cause;
}

testEachBackend(
  "thrown non-Error values and hostile errors become well-formed stored errors",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const cyclic: Record<string, unknown> = { code: 1 };
    cyclic.self = cyclic;
    class GetterError extends Error {
      override name = "GetterError";
      get detail(): string {
        throw new Error("getter exploded");
      }
    }
    const withThrowingProperty = new Error("has a bad property");
    Object.defineProperty(withThrowingProperty, "code", {
      enumerable: true,
      get() {
        throw new Error("property exploded");
      },
    });
    const selfCaused = new Error("caused by itself");
    selfCaused.cause = selfCaused;
    const withBigInt = Object.assign(new Error("bigint inside"), { n: 10n });
    const thrown: [string, () => unknown, RegExp][] = [
      ["string", () => "plain string", /^plain string$/],
      ["null", () => null, /null/],
      ["undefined", () => undefined, /undefined/],
      ["symbol", () => Symbol("sym"), /Symbol\(sym\)|Non-error value/],
      ["bigint", () => 10n, /Non-error value thrown/],
      ["cyclic object", () => cyclic, /Non-error value/],
      ["function", () => () => 1, /Non-error value/],
      ["getter error", () => new GetterError("has a getter"), /has a getter/],
      ["throwing property", () => withThrowingProperty, /bad property/],
      ["self-caused", () => selfCaused, /caused by itself/],
      ["bigint property", () => withBigInt, /bigint inside/],
    ];
    const handles = [];
    for (const [i, [, make]] of thrown.entries()) {
      const wf = ow.defineWorkflow({ name: `throws-${i}` }, () => {
        throw make();
      });
      handles.push(await wf.run());
    }
    const worker = ow.newWorker({ concurrency: thrown.length });
    assert.equal(await worker.tick(), thrown.length);
    for (const [i, handle] of handles.entries()) {
      const [what, , message] = thrown[i];
      const cause = await storedError(handle.result());
      assert.match(cause.message, message, what);
      assert.equal((await handle.refresh()).status, "failed", what);
    }
  },
);

testEachBackend(
  "a workflow returning undefined, or nothing at all, succeeds with null",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const handles = await Promise.all([
      ow.defineWorkflow({ name: "returns-undefined" }, () => undefined).run(),
      ow.defineWorkflow({ name: "returns-nothing" }, () => {}).run(),
      ow.defineWorkflow({ name: "async-nothing" }, async () => {}).run(),
      ow.defineWorkflow(
        { name: "returns-undefined-step" },
        async ({ step }) => {
          return await step.run({ name: "nothing" }, () => undefined);
        },
      ).run(),
    ]);
    await ow.newWorker({ concurrency: 4 }).tick();
    for (const handle of handles) {
      assert.equal(await handle.result(), null);
      const run = await handle.refresh();
      assert.equal(run.output, null);
      assert.equal(run.status, "succeeded");
    }
  },
);

testEachBackend(
  "a workflow that never awaits its steps still records them and finishes",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const ran: string[] = [];
    const wf = ow.defineWorkflow({ name: "fire-and-forget" }, ({ step }) => {
      step.run({ name: "first" }, async () => {
        await delay(50);
        ran.push("first");
        return 1;
      });
      step.run({ name: "second" }, () => {
        ran.push("second");
        return 2;
      });
      return "returned early";
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    assert.equal(await handle.result(), "returned early");
    assert.deepEqual(ran.sort(), ["first", "second"]);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(
      attempts.map((a) => [a.stepName, a.status, a.output]).sort(),
      [["first", "succeeded", 1], ["second", "succeeded", 2]],
    );
  },
);

testEachBackend(
  // A step the workflow never awaits, and which fails, must not end the
  // process with an unhandled rejection.
  "a failing step that is never awaited does not crash the process",
  async ({ backend }) => {
    const unhandled = catchUnhandled();
    try {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow(
        { name: "forgotten-failure" },
        ({ step }) => {
          step.run({ name: "fails", retry: { maxAttempts: 1 } }, () => {
            throw new Error("nobody listens");
          });
          return "returned early";
        },
      );
      const handle = await wf.run();
      await ow.newWorker().tick();
      await delay(50);
      assert.deepEqual(unhandled.reasons.map(String), []);
      const run = await handle.refresh();
      assert.ok(run.status === "succeeded" || run.status === "failed");
    } finally {
      unhandled.stop();
    }
  },
  {},
);
