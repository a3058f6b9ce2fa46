/**
 * `GET /metrics`: the Prometheus text format (version 0.0.4). The gauges
 * read from the database are cached for a few seconds, and concurrent
 * scrapes share one read, so that scrapes never become a storm of
 * aggregate queries; this process's counters and histograms come from
 * the telemetry layer.
 *
 * @module
 */

import {
  type Backend,
  type QueueStatistics,
  RUN_STATUSES,
  type WorkflowRunCount,
} from "../core/backend.ts";
import {
  escapeLabelValue,
  renderProcessMetrics,
} from "../telemetry/metrics.ts";

/** What the gauges are made of: one read of the database. */
interface Gauges {
  counts: WorkflowRunCount[] | null;
  statistics: QueueStatistics | null;
}

/** The text format's content type. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Reads the database's gauges at most once per `cacheMs`. */
export class GaugeCache {
  readonly #backend: Backend;
  readonly #cacheMs: number;
  #entry: { expiresAtMs: number; gauges: Promise<Gauges> } | null = null;

  constructor(backend: Backend, cacheMs: number) {
    this.#backend = backend;
    this.#cacheMs = cacheMs;
  }

  /** The gauges: cached, in flight, or read now. A failed read is not kept. */
  read(): Promise<Gauges> {
    const now = performance.now();
    if (this.#entry !== null && now < this.#entry.expiresAtMs) {
      return this.#entry.gauges;
    }
    const gauges = this.#load();
    const entry = { expiresAtMs: Number.POSITIVE_INFINITY, gauges };
    this.#entry = entry;
    gauges.then(
      () => entry.expiresAtMs = performance.now() + this.#cacheMs,
      () => {
        if (this.#entry === entry) this.#entry = null;
      },
    );
    return gauges;
  }

  async #load(): Promise<Gauges> {
    const backend = this.#backend;
    const [counts, statistics] = await Promise.all([
      backend.countWorkflowRuns?.({}) ?? null,
      backend.getQueueStatistics?.() ?? null,
    ]);
    return { counts, statistics };
  }
}

function labels(pairs: Record<string, string>): string {
  return `{${
    Object.entries(pairs).map(([name, value]) =>
      `${name}="${escapeLabelValue(value)}"`
    ).join(",")
  }}`;
}

function ageSeconds(now: Date, since: Date | null): string {
  if (since === null) return "0";
  return String(Math.max(0, (now.getTime() - since.getTime()) / 1_000));
}

/**
 * The metrics page: the database's gauges (or `openworkflow_backend_up 0`
 * when they could not be read), then this process's metrics.
 */
export async function renderMetrics(
  cache: GaugeCache,
  namespaceId: string,
): Promise<string> {
  const lines: string[] = [];
  let gauges: Gauges | null = null;
  try {
    gauges = await cache.read();
  } catch {
    gauges = null;
  }
  const ns = { namespace: namespaceId };
  lines.push(
    "# HELP openworkflow_backend_up Whether the dashboard could read the backend's gauges (1) or not (0).",
    "# TYPE openworkflow_backend_up gauge",
    `openworkflow_backend_up${labels(ns)} ${gauges === null ? 0 : 1}`,
  );
  if (gauges?.counts != null) {
    lines.push(
      "# HELP openworkflow_runs Workflow runs stored, by namespace, workflow and status.",
      "# TYPE openworkflow_runs gauge",
    );
    const byWorkflow = new Map<string, Map<string, number>>();
    for (const { workflowName, status, count } of gauges.counts) {
      let statuses = byWorkflow.get(workflowName);
      if (statuses === undefined) {
        statuses = new Map();
        byWorkflow.set(workflowName, statuses);
      }
      statuses.set(status, (statuses.get(status) ?? 0) + count);
    }
    for (const [workflow, statuses] of byWorkflow) {
      for (const status of RUN_STATUSES) {
        lines.push(
          `openworkflow_runs${labels({ ...ns, workflow, status })} ${
            statuses.get(status) ?? 0
          }`,
        );
      }
    }
  }
  const statistics = gauges?.statistics;
  if (statistics != null) {
    lines.push(
      "# HELP openworkflow_oldest_claimable_run_age_seconds How long the oldest claimable run has waited to be claimed, in seconds (0 when none waits).",
      "# TYPE openworkflow_oldest_claimable_run_age_seconds gauge",
      `openworkflow_oldest_claimable_run_age_seconds${labels(ns)} ${
        ageSeconds(statistics.now, statistics.oldestClaimableAvailableAt)
      }`,
      "# HELP openworkflow_schedule_lag_seconds How far past due the most overdue unpaused schedule is, in seconds (0 when none is due).",
      "# TYPE openworkflow_schedule_lag_seconds gauge",
      `openworkflow_schedule_lag_seconds${labels(ns)} ${
        ageSeconds(statistics.now, statistics.oldestDueScheduleAt)
      }`,
    );
  }
  return `${lines.join("\n")}\n${renderProcessMetrics()}`;
}
