/**
 * This process's metrics: the totals the dashboard's /metrics renders (with
 * no SDK), the same through an OpenTelemetry meter provider, and the claim's
 * `readyAt` the queue lag is measured from.
 */

import assert from "node:assert/strict";
import { metrics } from "@opentelemetry/api";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { OpenWorkflow } from "../../mod.ts";
import { renderProcessMetrics } from "../../src/telemetry/metrics.ts";
import { testEachBackend } from "../helpers.ts";

/** The samples of the text format, by name and labels. */
function samples(text: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    result.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return result;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(
  text: string,
  name: string,
  labels: Record<string, string>,
): number {
  let sum = 0;
  for (const [key, value] of samples(text)) {
    const brace = key.indexOf("{");
    const sampleName = brace < 0 ? key : key.slice(0, brace);
    if (sampleName !== name) continue;
    const all = Object.entries(labels).every(([k, v]) =>
      key.includes(`${k}="${v}"`)
    );
    if (all) sum += value;
  }
  return sum;
}

testEachBackend(
  "process metrics: runs started and finished, step and run durations, queue lag, runs in flight",
  async ({ backend, namespaceId }) => {
    const ow = new OpenWorkflow({ backend });
    const name = `metered-${crypto.randomUUID().slice(0, 8)}`;
    const inStep: string[] = [];
    const wf = ow.defineWorkflow<boolean, string>(
      { name, retry: { maxAttempts: 1 } },
      async ({ input, step }) => {
        await step.run({ name: "first" }, () => {
          // What the dashboard would render while this run executes.
          inStep.push(renderProcessMetrics());
          return 1;
        });
        await step.run({ name: "second", retry: { maxAttempts: 1 } }, () => {
          if (!input) throw new Error("told to fail");
        });
        return "done";
      },
    );
    const worker = ow.newWorker({ pollIntervalMs: 10 });
    await worker.start();
    try {
      const handles = [
        await wf.run(true),
        await wf.run(true),
        await wf.run(false, { availableAt: "150ms" }),
      ];
      for (const handle of handles) {
        await handle.result({ timeoutMs: 10_000 }).catch(() => {});
      }
    } finally {
      await worker.stop();
    }
    // Once the worker stopped, every execution has been counted.
    const during = renderProcessMetrics();
    const labels = { namespace: namespaceId, workflow: name };
    assert.equal(
      total(during, "openworkflow_workflow_runs_started_total", labels),
      3,
    );
    assert.equal(
      total(during, "openworkflow_workflow_runs_finished_total", {
        ...labels,
        outcome: "succeeded",
      }),
      2,
    );
    assert.equal(
      total(during, "openworkflow_workflow_runs_finished_total", {
        ...labels,
        outcome: "failed",
      }),
      1,
    );
    assert.equal(
      total(during, "openworkflow_workflow_run_executions_total", labels),
      3,
    );
    assert.equal(
      total(during, "openworkflow_step_attempt_duration_seconds_count", {
        ...labels,
        kind: "run",
        outcome: "succeeded",
      }),
      5,
    );
    assert.equal(
      total(during, "openworkflow_step_attempt_duration_seconds_count", {
        ...labels,
        outcome: "failed",
      }),
      1,
    );
    assert.equal(
      total(during, "openworkflow_workflow_run_duration_seconds_count", labels),
      3,
    );
    // The delayed run was claimed soon after it became claimable: lag
    // counts from availableAt, not from creation.
    assert.equal(
      total(
        during,
        "openworkflow_workflow_run_queue_lag_seconds_count",
        labels,
      ),
      3,
    );
    const lagSum = total(
      during,
      "openworkflow_workflow_run_queue_lag_seconds_sum",
      labels,
    );
    assert.ok(lagSum >= 0 && lagSum < 3, `lag sum ${lagSum}`);
    // Histogram buckets are cumulative and end with +Inf = count.
    const text = during.split("\n").filter((line) =>
      line.startsWith("openworkflow_workflow_run_duration_seconds_bucket") &&
      line.includes(`workflow="${name}"`) && line.includes('outcome="failed"')
    );
    const counts = text.map((line) => Number(line.split(" ").at(-1)));
    assert.deepEqual([...counts].sort((a, b) => a - b), counts);
    assert.match(text.at(-1)!, /le="\+Inf"\} 1$/);
    // The worker's in-flight series counted the run while it ran, and is
    // gone once the worker stopped.
    assert.equal(inStep.length, 3);
    for (const text of inStep) {
      const inFlight = total(text, "openworkflow_worker_runs_in_flight", {
        worker: worker.id,
      });
      assert.ok(inFlight >= 1 && inFlight <= 3, `in flight: ${inFlight}`);
    }
    assert.ok(!during.includes(`worker="${worker.id}"`));
    // HELP and TYPE come before each metric's samples.
    const lines = during.split("\n");
    for (const family of ["openworkflow_workflow_runs_started_total"]) {
      const help = lines.indexOf(
        lines.find((l) => l.startsWith(`# HELP ${family} `))!,
      );
      assert.equal(lines[help + 1], `# TYPE ${family} counter`);
      assert.ok(lines[help + 2].startsWith(family));
    }
  },
);

testEachBackend(
  "process metrics reach an OpenTelemetry meter provider registered after the engine loaded",
  async ({ backend, namespaceId }) => {
    const exporter = new InMemoryMetricExporter(
      AggregationTemporality.CUMULATIVE,
    );
    const reader = new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: 3_600_000,
    });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      const ow = new OpenWorkflow({ backend });
      const name = `otel-metered-${crypto.randomUUID().slice(0, 8)}`;
      const wf = ow.defineWorkflow({ name }, async ({ step }) => {
        await step.run({ name: "only" }, () => 1);
      });
      const worker = ow.newWorker({ pollIntervalMs: 10 });
      await worker.start();
      try {
        await (await wf.run()).result({ timeoutMs: 10_000 });
      } finally {
        await worker.stop();
      }
      await reader.forceFlush();
      const exported = exporter.getMetrics().flatMap((r) =>
        r.scopeMetrics.filter((s) => s.scope.name === "@openworkflow/core")
          .flatMap((s) => s.metrics)
      );
      const byName = new Map(
        exported.map((m) => [m.descriptor.name, m.dataPoints]),
      );
      const ours = (metric: string) =>
        (byName.get(metric) ?? []).filter((p) =>
          p.attributes["openworkflow.workflow.name"] === name
        );
      const started = ours("openworkflow.workflow_run.started");
      assert.equal(started.length, 1);
      assert.equal(started[0].value, 1);
      assert.equal(
        started[0].attributes["openworkflow.namespace.id"],
        namespaceId,
      );
      const finished = ours("openworkflow.workflow_run.finished");
      assert.equal(
        finished[0].attributes["openworkflow.execution.outcome"],
        "succeeded",
      );
      const steps = ours("openworkflow.step_attempt.duration");
      assert.equal(steps[0].attributes["openworkflow.step.kind"], "run");
      assert.equal((steps[0].value as { count: number }).count, 1);
      assert.equal(
        (ours("openworkflow.workflow_run.queue_lag")[0].value as {
          count: number;
        }).count,
        1,
      );
      assert.ok(byName.has("openworkflow.worker.runs_in_flight"));
      assert.ok(byName.has("openworkflow.workflow_run.duration"));
    } finally {
      metrics.disable();
      await provider.shutdown();
    }
  },
);

testEachBackend(
  "a claimed run carries readyAt, the availableAt it had when claimed",
  async ({ backend }) => {
    const due = new Date(Date.now() - 60_000);
    const run = await backend.createWorkflowRun({
      workflowName: "ready",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: due,
      deadlineAt: null,
      idempotencyKey: null,
    });
    const [claimed] = await backend.claimWorkflowRuns({
      workerId: "w",
      leaseDurationMs: 10_000,
      limit: 5,
    });
    assert.equal(claimed.id, run.id);
    assert.equal(claimed.readyAt?.getTime(), due.getTime());
    assert.ok(claimed.availableAt.getTime() > Date.now());
    // Only claims say it.
    const read = await backend.getWorkflowRun({ workflowRunId: run.id });
    assert.equal(read !== null && "readyAt" in read, false);
    // A keyed run (concurrency limit) is claimed by the other statement.
    const keyed = await backend.createWorkflowRun({
      workflowName: "ready",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: due,
      deadlineAt: null,
      idempotencyKey: null,
      concurrencyKey: "k",
      concurrencyLimit: 1,
    });
    const [second] = await backend.claimWorkflowRuns({
      workerId: "w",
      leaseDurationMs: 10_000,
      limit: 5,
    });
    assert.equal(second.id, keyed.id);
    assert.equal(second.readyAt?.getTime(), due.getTime());
  },
);
