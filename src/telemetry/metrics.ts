/**
 * This process's metrics: recorded once, seen twice. Each instrument feeds
 * an `@opentelemetry/api` instrument (a no-op until the application
 * registers a meter provider) and keeps its own totals, which the
 * dashboard's `/metrics` renders in the Prometheus text format whether or
 * not an SDK is registered.
 *
 * The totals are kept here by hand rather than with a Prometheus client
 * library: the ones on npm (prom-client) depend on Node's `cluster` and
 * `process` and keep a registry of their own; what is needed is a few
 * counters and histograms and their text rendering.
 *
 * @module
 */

import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type UpDownCounter,
} from "@opentelemetry/api";
import { INSTRUMENTATION_NAME } from "./tracing.ts";

/**
 * An OpenTelemetry instrument, made again whenever the global meter
 * provider changes: the API has no proxy for meters, and an instrument
 * made before the application registered its SDK would stay a no-op.
 */
class Instrument<T> {
  #provider: MeterProvider | undefined;
  #instrument: T | undefined;
  constructor(readonly make: (meter: Meter) => T) {}

  get(): T {
    const provider = metrics.getMeterProvider();
    if (provider !== this.#provider || this.#instrument === undefined) {
      this.#provider = provider;
      this.#instrument = this.make(provider.getMeter(INSTRUMENTATION_NAME));
    }
    return this.#instrument;
  }
}

/** Label name (Prometheus) to attribute name (OpenTelemetry). */
const ATTRIBUTES: Readonly<Record<string, string>> = {
  namespace: "openworkflow.namespace.id",
  workflow: "openworkflow.workflow.name",
  outcome: "openworkflow.execution.outcome",
  kind: "openworkflow.step.kind",
  worker: "openworkflow.worker.id",
};

/** Labels of one series. */
export type Labels = Record<string, string>;

/** One series of a metric: its labels, their attributes, and its value. */
interface Series<V> {
  labels: Labels;
  attributes: Attributes;
  value: V;
}

abstract class Metric<V> {
  readonly all = new Map<string, Series<V>>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}

  /** The series of `labels` (always given in the same order by callers). */
  protected at(labels: Labels, initial: () => V): Series<V> {
    const key = seriesKey(labels);
    let series = this.all.get(key);
    if (series === undefined) {
      series = {
        labels: { ...labels },
        attributes: attributes(labels),
        value: initial(),
      };
      this.all.set(key, series);
    }
    return series;
  }

  abstract render(lines: string[]): void;
}

/**
 * A metric whose series are sums: a counter (only ever added to) or a
 * gauge (added to and taken from; an OpenTelemetry up-down counter).
 */
class SumMetric extends Metric<number> {
  readonly #otel: Instrument<Counter | UpDownCounter>;
  constructor(
    name: string,
    otelName: string,
    help: string,
    unit: string,
    type: "counter" | "gauge",
  ) {
    super(name, help, type);
    this.#otel = new Instrument((meter) =>
      type === "counter"
        ? meter.createCounter(otelName, { description: help, unit })
        : meter.createUpDownCounter(otelName, { description: help, unit })
    );
  }

  /** The series of `labels`, to add to repeatedly. */
  series(labels: Labels): { add(n?: number): void } {
    const series = this.at(labels, () => 0);
    return {
      add: (n = 1) => {
        series.value += n;
        this.#otel.get().add(n, series.attributes);
      },
    };
  }

  /** Forgets a series that has gone back to zero (a stopped worker's). */
  forget(labels: Labels): void {
    const key = seriesKey(labels);
    if (this.all.get(key)?.value === 0) this.all.delete(key);
  }

  render(lines: string[]): void {
    for (const { labels, value } of this.all.values()) {
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    }
  }
}

interface Buckets {
  counts: number[];
  sum: number;
  count: number;
}

/** One series of a histogram, to record into without looking it up. */
export interface HistogramSeries {
  /** Records a value in seconds (negative ones as 0; others ignored). */
  record(seconds: number): void;
}

class HistogramMetric extends Metric<Buckets> {
  readonly #otel: Instrument<Histogram>;
  constructor(
    name: string,
    otelName: string,
    help: string,
    readonly bounds: readonly number[],
  ) {
    super(name, help, "histogram");
    this.#otel = new Instrument((meter) =>
      meter.createHistogram(otelName, {
        description: help,
        unit: "s",
        advice: { explicitBucketBoundaries: [...bounds] },
      })
    );
  }

  /** The series of `labels`, to record into repeatedly. */
  series(labels: Labels): HistogramSeries {
    const series = this.at(labels, () => ({
      counts: new Array(this.bounds.length).fill(0),
      sum: 0,
      count: 0,
    }));
    return { record: (seconds) => this.#record(series, seconds) };
  }

  #record(series: Series<Buckets>, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const value = Math.max(0, seconds);
    const buckets = series.value;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        buckets.counts[i]++;
        break;
      }
    }
    buckets.sum += value;
    buckets.count++;
    this.#otel.get().record(value, series.attributes);
  }

  render(lines: string[]): void {
    for (const { labels, value } of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += value.counts[i];
        lines.push(
          `${this.name}_bucket${
            labelText({ ...labels, le: String(bound) })
          } ${cumulative}`,
        );
      });
      lines.push(
        `${this.name}_bucket${
          labelText({ ...labels, le: "+Inf" })
        } ${value.count}`,
      );
      lines.push(`${this.name}_sum${labelText(labels)} ${value.sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${value.count}`);
    }
  }
}

/** Bucket bounds (seconds) of step and queue times. */
const SHORT = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
];

/** Bucket bounds (seconds) of run durations: up to a week. */
const LONG = [
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  300,
  1800,
  3600,
  21600,
  86400,
  604800,
];

/** The runs this process's workers started (claimed for the first time). */
export const runsStarted = new SumMetric(
  "openworkflow_workflow_runs_started_total",
  "openworkflow.workflow_run.started",
  "Runs this process's workers started (claimed for the first time).",
  "{run}",
  "counter",
);

/** The runs this process's workers finished, by outcome. */
export const runsFinished = new SumMetric(
  "openworkflow_workflow_runs_finished_total",
  "openworkflow.workflow_run.finished",
  "Runs this process's workers finished, by outcome (succeeded, failed, canceled).",
  "{run}",
  "counter",
);

/** Executions of runs by this process's workers, by how they ended. */
export const executions = new SumMetric(
  "openworkflow_workflow_run_executions_total",
  "openworkflow.workflow_run.executions",
  "Executions of runs by this process's workers, by how each ended (succeeded, failed, canceled, released, aborted, error).",
  "{execution}",
  "counter",
);

/** How long step attempts took, by kind and outcome. */
export const stepAttemptDuration = new HistogramMetric(
  "openworkflow_step_attempt_duration_seconds",
  "openworkflow.step_attempt.duration",
  "How long the step attempts this process executed took, by step kind and outcome.",
  SHORT,
);

/** How long runs took from creation to their end, by outcome. */
export const runDuration = new HistogramMetric(
  "openworkflow_workflow_run_duration_seconds",
  "openworkflow.workflow_run.duration",
  "How long the runs this process finished took from creation to their end, by outcome.",
  LONG,
);

/** How long runs waited to be claimed after becoming claimable. */
export const queueLag = new HistogramMetric(
  "openworkflow_workflow_run_queue_lag_seconds",
  "openworkflow.workflow_run.queue_lag",
  "How long runs waited between becoming claimable and being claimed by this process's workers.",
  SHORT,
);

/** Runs each of this process's workers executes now. */
export const runsInFlight = new SumMetric(
  "openworkflow_worker_runs_in_flight",
  "openworkflow.worker.runs_in_flight",
  "Runs each of this process's workers is executing now.",
  "{run}",
  "gauge",
);

/** The outcomes of an execution the metrics tell apart. */
export type ExecutionOutcome =
  | "succeeded"
  | "failed"
  | "canceled"
  | "released"
  | "aborted"
  | "error";

/** The metrics of one workflow's runs, its series looked up once. */
export interface WorkflowMetrics {
  /** A run of the workflow was claimed for the first time. */
  started(): void;
  /** A run was claimed `seconds` after it became claimable. */
  queued(seconds: number): void;
  /**
   * An execution ended with `outcome`; for a run that finished, how long
   * it took since its creation.
   */
  executed(outcome: ExecutionOutcome, runSeconds: number | null): void;
}

const workflowMetrics = new Map<string, WorkflowMetrics>();

/** The metrics of the runs of `workflow` in `namespace`. */
export function metricsOf(
  namespace: string | undefined,
  workflow: string,
): WorkflowMetrics {
  const key = `${namespace ?? ""}\u0000${workflow}`;
  let found = workflowMetrics.get(key);
  if (found === undefined) {
    const labels: Labels = namespace === undefined
      ? { workflow }
      : { namespace, workflow };
    const started = runsStarted.series(labels);
    const lag = queueLag.series(labels);
    const byOutcome = new Map<
      string,
      {
        executed: { add(): void };
        finished?: { add(): void };
        duration?: HistogramSeries;
      }
    >();
    found = {
      started: () => started.add(),
      queued: (seconds) => lag.record(seconds),
      executed: (outcome, runSeconds) => {
        let series = byOutcome.get(outcome);
        if (series === undefined) {
          const withOutcome = { ...labels, outcome };
          const finished = outcome === "succeeded" || outcome === "failed" ||
            outcome === "canceled";
          series = {
            executed: executions.series(withOutcome),
            ...(finished
              ? {
                finished: runsFinished.series(withOutcome),
                duration: runDuration.series(withOutcome),
              }
              : {}),
          };
          byOutcome.set(outcome, series);
        }
        series.executed.add();
        if (series.finished !== undefined && runSeconds !== null) {
          series.finished.add();
          series.duration!.record(runSeconds);
        }
      },
    };
    workflowMetrics.set(key, found);
  }
  return found;
}

const ALL: readonly Metric<unknown>[] = [
  runsStarted,
  runsFinished,
  executions,
  stepAttemptDuration,
  runDuration,
  queueLag,
  runsInFlight,
] as Metric<unknown>[];

/**
 * This process's metrics in the Prometheus text format (version 0.0.4):
 * `# HELP` and `# TYPE` lines, then the samples, for each metric that has
 * any; an empty string when none has.
 */
export function renderProcessMetrics(): string {
  const lines: string[] = [];
  for (const metric of ALL) {
    if (metric.all.size === 0) continue;
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
    lines.push(`# TYPE ${metric.name} ${metric.type}`);
    metric.render(lines);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function attributes(labels: Labels): Attributes {
  const result: Attributes = {};
  for (const [name, value] of Object.entries(labels)) {
    result[ATTRIBUTES[name] ?? `openworkflow.${name}`] = value;
  }
  return result;
}

function seriesKey(labels: Labels): string {
  let key = "";
  for (const name in labels) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}

/** `{a="x",b="y"}`, values escaped as the text format says. */
export function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([name, value]) =>
    `${name}="${escapeLabelValue(value)}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** A label value with `\`, `"` and line feeds escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')
    .replaceAll("\n", "\\n");
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
