/**
 * Traces, checked with the OpenTelemetry SDK's in-memory exporter: span
 * names, kinds and attributes; one trace per run across executions, a
 * worker process SIGKILLed mid-step, and a child workflow; the
 * application's own spans inside a step nest under the step's span.
 */

import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { OpenWorkflow } from "../../mod.ts";
import { testEachBackend } from "../helpers.ts";
import { defineFamily } from "../faults/fixtures/family.ts";
import {
  startFamilyWorker,
  untilChildStepRuns,
} from "../faults/fixtures/family_process.ts";

/** Registers an SDK with an in-memory exporter for the test's length. */
function recordSpans(): {
  spans: () => ReadableSpan[];
  [Symbol.dispose](): void;
} {
  // The SDK's in-memory exporter answers each export on a timer: a span
  // ended as a test finishes would leave one running. This one answers at
  // once.
  let finished: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export(spans, done) {
      finished.push(...spans);
      done({ code: 0 }); // ExportResultCode.SUCCESS
    },
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  return {
    spans: () => [...finished],
    [Symbol.dispose]() {
      trace.disable();
      context.disable();
      finished = [];
    },
  };
}

const attr = (span: ReadableSpan, name: string) =>
  span.attributes[`openworkflow.${name}`];
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

testEachBackend(
  "spans: create, execute and step attempts, named and attributed, in one trace per run",
  async ({ backend, namespaceId }) => {
    using recorder = recordSpans();
    const ow = new OpenWorkflow({ backend });
    let flaky = 0;
    const tracer = trace.getTracer("app");
    const wf = ow.defineWorkflow<number, number>(
      { name: "traced", version: "v2" },
      async ({ input, step }) => {
        const a = await step.run({ name: "a" }, () =>
          // The application's own span nests under the step's.
          tracer.startActiveSpan("app.work", (span) => {
            span.end();
            return input + 1;
          }));
        const b = await step.run(
          { name: "b", retry: { initialIntervalMs: 1, maxAttempts: 3 } },
          () => {
            if (++flaky === 1) throw new RangeError("flaky once");
            return a * 2;
          },
        );
        await step.sleep("nap", "1ms");
        return b;
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 10 });
    await worker.start();
    try {
      const handle = await wf.run(1);
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 4);
    } finally {
      await worker.stop();
    }
    const spans = recorder.spans();
    const [create] = spans.filter((s) => s.name === "workflow_run.create");
    assert.ok(create, "a create span");
    assert.equal(create.kind, SpanKind.CLIENT);
    assert.equal(attr(create, "workflow.name"), "traced");
    assert.equal(attr(create, "workflow.version"), "v2");
    assert.equal(attr(create, "namespace.id"), namespaceId);
    const runId = attr(create, "run.id");
    assert.match(String(runId), /^[0-9a-f-]{36}$/);
    const traceId = create.spanContext().traceId;

    const executions = spans.filter((s) => s.name === "workflow_run.execute");
    // Several executions (the retry's backoff and the sleep park the run),
    // each a child of the create span, in its trace.
    assert.ok(executions.length >= 2, `${executions.length} executions`);
    for (const [i, span] of executions.entries()) {
      assert.equal(span.spanContext().traceId, traceId);
      assert.equal(parentOf(span), create.spanContext().spanId);
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(attr(span, "run.id"), runId);
      assert.equal(attr(span, "workflow.name"), "traced");
      assert.equal(attr(span, "execution.attempt"), i + 1);
    }
    assert.deepEqual(
      executions.map((s) => attr(s, "execution.outcome")).at(-1),
      "succeeded",
    );
    assert.ok(
      executions.slice(0, -1).every((s) =>
        attr(s, "execution.outcome") === "released"
      ),
    );

    const steps = spans.filter((s) => s.name === "step_attempt.execute");
    const executionIds = new Set(executions.map((s) => s.spanContext().spanId));
    for (const span of steps) {
      assert.equal(span.spanContext().traceId, traceId);
      assert.ok(executionIds.has(parentOf(span)!), "a child of an execution");
      assert.equal(attr(span, "run.id"), runId);
    }
    const summary = steps.map((s) => [
      attr(s, "step.name"),
      attr(s, "step.kind"),
      attr(s, "execution.attempt"),
      attr(s, "execution.outcome"),
    ]);
    assert.deepEqual(summary.filter(([name]) => name !== "nap"), [
      ["a", "run", 1, "succeeded"],
      ["b", "run", 1, "failed"],
      ["b", "run", 2, "succeeded"],
    ]);
    assert.deepEqual(summary.find(([name]) => name === "nap")?.slice(0, 2), [
      "nap",
      "sleep",
    ]);
    const failed = steps.find((s) =>
      attr(s, "execution.outcome") === "failed"
    )!;
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.status.message, "flaky once");
    assert.equal(failed.attributes["error.type"], "RangeError");

    const [app] = spans.filter((s) => s.name === "app.work");
    const stepA = steps.find((s) => attr(s, "step.name") === "a")!;
    assert.equal(app.spanContext().traceId, traceId);
    assert.equal(parentOf(app), stepA.spanContext().spanId);
  },
);

testEachBackend(
  "spans: a failed run, a cancel and a signal are recorded with their errors",
  async ({ backend }) => {
    using recorder = recordSpans();
    const ow = new OpenWorkflow({ backend });
    const broken = ow.defineWorkflow({ name: "broken" }, async ({ step }) => {
      await step.run({ name: "boom", retry: { maxAttempts: 1 } }, () => {
        throw new TypeError("no such thing");
      });
    });
    const waiting = ow.defineWorkflow({ name: "waiting" }, async ({ step }) => {
      await step.waitForSignal({ signal: "go", timeout: "1h" });
      await step.sleep("long", "1h");
    });
    const worker = ow.newWorker({ pollIntervalMs: 10 });
    await worker.start();
    try {
      const failing = await broken.run();
      await assert.rejects(failing.result({ timeoutMs: 10_000 }));
      const parked = await waiting.run();
      await ow.sendSignal({ signal: "go", workflowRunId: parked.id });
      await ow.cancelRun(parked.id);
      await assert.rejects(
        ow.sendSignal({ signal: "go", workflowRunId: crypto.randomUUID() }),
      );
    } finally {
      await worker.stop();
    }
    const spans = recorder.spans();
    const execution = spans.find((s) =>
      s.name === "workflow_run.execute" && attr(s, "workflow.name") === "broken"
    )!;
    assert.equal(attr(execution, "execution.outcome"), "failed");
    assert.equal(execution.status.code, SpanStatusCode.ERROR);
    assert.equal(execution.attributes["error.type"], "TypeError");

    const [cancel] = spans.filter((s) => s.name === "workflow_run.cancel");
    assert.equal(cancel.kind, SpanKind.CLIENT);
    assert.equal(attr(cancel, "workflow.name"), "waiting");
    assert.equal(cancel.status.code, SpanStatusCode.UNSET);

    const sends = spans.filter((s) => s.name === "signal.send");
    assert.equal(sends.length, 2);
    assert.equal(attr(sends[0], "signal.name"), "go");
    assert.equal(sends[0].status.code, SpanStatusCode.UNSET);
    assert.equal(sends[1].status.code, SpanStatusCode.ERROR);
    assert.equal(
      sends[1].attributes["error.type"],
      "WorkflowRunNotFoundError",
    );
  },
);

testEachBackend(
  "spans: one trace across a SIGKILLed worker process and a child workflow",
  async ({ backend, namespaceId }) => {
    using recorder = recordSpans();
    const ow = new OpenWorkflow({ backend });
    const { parent } = defineFamily(ow);
    {
      await using process = await startFamilyWorker(backend, namespaceId);
      const handle = await parent.run(21);
      assert.ok(
        await untilChildStepRuns(ow, handle.id),
        "the child's step ran in the other process",
      );
      await process.kill();
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
    }
    const spans = recorder.spans();
    const [create] = spans.filter((s) => s.name === "workflow_run.create");
    const traceId = create.spanContext().traceId;
    // Every span here (the other process's are lost with it) is in the
    // parent's trace: the executions after the crash, the child's too.
    for (const span of spans) {
      assert.equal(span.spanContext().traceId, traceId, span.name);
    }
    const executions = spans.filter((s) => s.name === "workflow_run.execute");
    const byWorkflow = (name: string) =>
      executions.filter((s) => attr(s, "workflow.name") === name);
    assert.ok(
      byWorkflow("family-child").length >= 1,
      "the child executed here",
    );
    assert.ok(
      byWorkflow("family-parent").length >= 1,
      "the parent resumed here",
    );
    // The parent's execution here is a second one (the first was killed),
    // still a child of the create span.
    const parentExecution = byWorkflow("family-parent")[0];
    assert.ok(Number(attr(parentExecution, "execution.attempt")) >= 2);
    assert.equal(parentOf(parentExecution), create.spanContext().spanId);
    // The child's interrupted step is retried here as its second attempt.
    const retried = spans.find((s) =>
      s.name === "step_attempt.execute" &&
      attr(s, "step.name") === "slow-double"
    )!;
    assert.equal(attr(retried, "execution.attempt"), 2);
    assert.equal(attr(retried, "execution.outcome"), "succeeded");
  },
);
