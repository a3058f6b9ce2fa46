/**
 * Hostile payloads: values too large, too deep or cyclic are rejected with
 * typed errors without taking the worker down; awkward strings (NUL, lone
 * surrogates, emoji, line separators) round-trip everywhere a value is
 * stored.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  OpenWorkflow,
  PayloadTooLargeError,
  WorkflowFailedError,
} from "../../mod.ts";
import { testEachBackend } from "../helpers.ts";

const MB = 1024 * 1024;

/** The error a failed run's `result()` rejects with, or `null`. */
async function failureOf(
  result: Promise<unknown>,
): Promise<Error | null> {
  const error = await result.then(() => null, (e) => e);
  if (error === null) return null;
  assert.ok(error instanceof WorkflowFailedError, `got ${error}`);
  return error.cause as Error;
}

function nested(depth: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = { next: value };
  return value;
}

testEachBackend(
  "a 50 MB step result fails the step with PayloadTooLargeError and the worker carries on",
  async ({ backend }) => {
    assert.equal(DEFAULT_MAX_PAYLOAD_BYTES, 16 * MB);
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const huge = ow.defineWorkflow({ name: "huge-step" }, async ({ step }) => {
      await step.run({ name: "load" }, () => {
        calls++;
        return "x".repeat(50 * MB);
      });
    });
    const small = ow.defineWorkflow({ name: "small" }, () => "fine");
    const worker = ow.newWorker({ concurrency: 2, pollIntervalMs: 20 });
    await worker.start();
    try {
      const hugeHandle = await huge.run();
      const cause = await failureOf(
        hugeHandle.result({ timeoutMs: 30_000, pollIntervalMs: 50 }),
      );
      assert.equal(cause?.name, "PayloadTooLargeError");
      assert.match(cause!.message, /output of step 'load'/);
      assert.equal(
        (cause as unknown as { limitBytes: number }).limitBytes,
        16 * MB,
      );
      // Nothing of the value was stored.
      const attempts = await hugeHandle.listStepAttempts();
      assert.ok(attempts.every((a) => a.output === null));
      assert.ok(JSON.stringify(attempts).length < 100_000);
      // The same worker goes on with other runs.
      assert.equal(
        await (await small.run()).result({ timeoutMs: 10_000 }),
        "fine",
      );
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "too-large inputs are rejected before anything is written; too-large outputs fail the run",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend, maxPayloadBytes: 1_000 });
    const echo = ow.defineWorkflow<unknown, unknown>(
      { name: "echo" },
      ({ input }) => input,
    );
    const bigOutput = ow.defineWorkflow(
      { name: "big-output" },
      () => "y".repeat(2_000),
    );
    // The limit counts UTF-8 bytes of the JSON text: 998 + 2 quotes.
    const atLimit = "a".repeat(998);
    const overLimit = "é".repeat(500); // 1,000 bytes + 2 quotes
    await assert.rejects(
      echo.run(overLimit),
      (e) =>
        e instanceof PayloadTooLargeError && e.sizeBytes === 1_002 &&
        e.limitBytes === 1_000 && /input of workflow 'echo'/.test(e.message),
    );
    assert.deepEqual((await ow.listRuns()).runs, []);
    const ok = await echo.run(atLimit);
    const tooBig = await bigOutput.run();
    const worker = ow.newWorker({ concurrency: 2 });
    await worker.tick();
    assert.equal(await ok.result(), atLimit);
    const cause = await failureOf(tooBig.result());
    assert.equal(cause?.name, "PayloadTooLargeError");
    assert.match(cause!.message, /output of workflow 'big-output'/);
  },
);

testEachBackend(
  "deeply nested and cyclic values are rejected with TypeError wherever they appear",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = { back: cyclic };
    const echo = ow.defineWorkflow<unknown, unknown>(
      { name: "echo-deep" },
      ({ input }) => input,
    );
    for (const value of [nested(100_000), cyclic]) {
      await assert.rejects(echo.run(value), (e) => e instanceof TypeError);
    }
    assert.deepEqual((await ow.listRuns()).runs, []);
    let stepCalls = 0;
    const deepStep = ow.defineWorkflow(
      { name: "deep-step" },
      async ({ step }) => {
        await step.run({ name: "deep" }, () => {
          stepCalls++;
          return nested(100_000);
        });
      },
    );
    const cyclicStep = ow.defineWorkflow(
      { name: "cyclic-step" },
      async ({ step }) => {
        await step.run({ name: "cyclic" }, () => cyclic);
      },
    );
    const deepReturn = ow.defineWorkflow(
      { name: "deep-return" },
      () => nested(100_000),
    );
    const cyclicReturn = ow.defineWorkflow(
      { name: "cyclic-return" },
      () => cyclic,
    );
    // Just under the nesting limit is fine, and comes back intact.
    const deepOk = ow.defineWorkflow(
      { name: "deep-ok" },
      async ({ step }) =>
        await step.run({ name: "deep-ok" }, () => nested(900)),
    );
    const handles = await Promise.all(
      [deepStep, cyclicStep, deepReturn, cyclicReturn, deepOk].map((wf) =>
        wf.run()
      ),
    );
    const worker = ow.newWorker({ concurrency: 5 });
    await worker.tick();
    const causes = await Promise.all(
      handles.slice(0, 4).map((h) => failureOf(h.result())),
    );
    assert.deepEqual(
      causes.map((c) => c?.name),
      Array(4).fill("NotJsonError"),
    );
    assert.match(
      causes[0]!.message,
      /output of step 'deep': nested deeper than/,
    );
    assert.match(causes[1]!.message, /output of step 'cyclic'.*cyclic/);
    assert.match(
      causes[2]!.message,
      /output of workflow 'deep-return': nested deeper/,
    );
    assert.match(causes[3]!.message, /cyclic/);
    assert.equal(stepCalls, 1, "a value that is not JSON is not retried");
    assert.deepEqual(await handles[4].result(), nested(900));
  },
);

testEachBackend(
  "a step result over the payload limit is not retried",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend, maxPayloadBytes: 1_000 });
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "too-big" }, async ({ step }) => {
      await step.run(
        { name: "load", retry: { maxAttempts: 3, initialIntervalMs: 0 } },
        () => {
          calls++;
          return "x".repeat(2_000);
        },
      );
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 10 });
    await worker.start();
    try {
      const cause = await failureOf(handle.result({ timeoutMs: 10_000 }));
      assert.equal(cause?.name, "PayloadTooLargeError");
      assert.equal(calls, 1);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  // A step that throws an Error carrying a huge message (an HTTP body, a
  // dump) is stored with its message and stack cut, within the limit.
  "an error with a 50 MB message is stored within the payload limit",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "huge-error" }, async ({ step }) => {
      await step.run({ name: "fails", retry: { maxAttempts: 1 } }, () => {
        throw new Error("e".repeat(50 * MB));
      });
    });
    const handle = await wf.run();
    await ow.newWorker().tick();
    const cause = await failureOf(handle.result());
    assert.equal(cause?.name, "Error");
    const [attempt] = await handle.listStepAttempts();
    const run = await handle.refresh();
    const bytes = (value: unknown) =>
      new TextEncoder().encode(JSON.stringify(value)).length;
    assert.ok(bytes(attempt.error) <= DEFAULT_MAX_PAYLOAD_BYTES);
    assert.ok(bytes(run.error) <= DEFAULT_MAX_PAYLOAD_BYTES);
  },
);

/** Strings that trip up encoders, drivers and databases. */
const AWKWARD = {
  nul: "a\u0000b",
  loneHigh: "x\ud800y",
  loneLow: "\udfff",
  reversedPair: "\udc00\ud800",
  emoji: "🚀👩‍👩‍👧‍👦🏳️‍🌈",
  lineSeparators: "\u2028\u2029\r\n",
  bom: "\ufeffstart",
  rtl: "\u202eevil",
  backslashes: "\\u0000 \\\\ \\",
  quotes: `'"\`;--`,
};

testEachBackend(
  "NUL, lone surrogates, emoji and friends round-trip through inputs, steps, outputs and errors",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const keyed = Object.fromEntries(
      Object.entries(AWKWARD).map(([key, value]) => [value, key]),
    );
    const wf = ow.defineWorkflow<typeof AWKWARD, unknown>(
      { name: "awkward" },
      async ({ input, step }) => {
        const echoed = await step.run({ name: "echo" }, () => input);
        const inverted = await step.run({ name: "keys" }, () => keyed);
        const caught = await step.run(
          { name: "throws", retry: { maxAttempts: 1 } },
          () => {
            throw new Error(Object.values(AWKWARD).join("|"));
          },
        ).catch((error: Error) => error.message);
        return { echoed, inverted, caught };
      },
    );
    const failing = ow.defineWorkflow({ name: "awkward-failure" }, () => {
      throw new RangeError(
        `boom ${AWKWARD.nul} ${AWKWARD.loneHigh} ${AWKWARD.emoji}`,
      );
    });
    const handle = await wf.run(AWKWARD);
    assert.deepEqual(handle.workflowRun.input, AWKWARD);
    const failed = await failing.run();
    await ow.newWorker({ concurrency: 2 }).tick();
    assert.deepEqual(await handle.result(), {
      echoed: AWKWARD,
      inverted: keyed,
      caught: Object.values(AWKWARD).join("|"),
    });
    assert.deepEqual((await handle.refresh()).input, AWKWARD);
    const steps = await handle.listStepAttempts();
    assert.deepEqual(steps.find((s) => s.stepName === "echo")?.output, AWKWARD);
    const cause = await failureOf(failed.result());
    assert.equal(cause?.name, "RangeError");
    assert.equal(
      cause?.message,
      `boom ${AWKWARD.nul} ${AWKWARD.loneHigh} ${AWKWARD.emoji}`,
    );
  },
);
