/**
 * The read-only statements of `BackendPostgres` for operators: run counts
 * by workflow and status, the queue's oldest times, and a run's signals.
 * Values are always bound, never spliced into the SQL.
 *
 * @module
 */

import type {
  CountWorkflowRunsParams,
  GetNextAvailableAtParams,
  QueueStatistics,
  WorkflowRunCount,
  WorkflowRunSignal,
  WorkflowRunStatus,
} from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import { isUuid } from "../sql/checks.ts";
import { runFilters } from "./list.ts";
import type { Row } from "./rows.ts";
import type { Scope } from "./scope.ts";

/** See `Backend.countWorkflowRuns`. */
export async function countWorkflowRuns(
  s: Scope,
  params: CountWorkflowRunsParams,
): Promise<WorkflowRunCount[]> {
  const { sql, runs, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
    SELECT workflow_name, status, count(*) AS count
    FROM ${runs}
    WHERE namespace_id = ${ns} ${runFilters(s, params)}
    GROUP BY workflow_name, status
    ORDER BY workflow_name, status`;
  return rows.map((row) => ({
    workflowName: String(row.workflow_name),
    status: row.status as WorkflowRunStatus,
    count: Number(row.count),
  }));
}

/**
 * See `Backend.getQueueStatistics`: the minimums come from partial
 * indexes (`workflow_runs_waiting`, `workflow_runs_leased`,
 * `schedules_due`).
 */
export async function selectQueueStatistics(
  s: Scope,
): Promise<QueueStatistics> {
  const { sql, runs, schedules, namespaceId: ns } = s;
  const [row] = await sql<Row[]>`
    SELECT now() AS now,
      least(
        (SELECT min(available_at) FROM ${runs}
          WHERE namespace_id = ${ns} AND status IN ('pending', 'sleeping')
            AND available_at <= now()
            AND (deadline_at IS NULL OR deadline_at > now())),
        (SELECT min(available_at) FROM ${runs}
          WHERE namespace_id = ${ns} AND status = 'running'
            AND available_at <= now()
            AND (deadline_at IS NULL OR deadline_at > now()))
      ) AS oldest_claimable,
      (SELECT min(next_run_at) FROM ${schedules}
        WHERE namespace_id = ${ns} AND NOT paused
          AND next_run_at <= now()) AS oldest_due`;
  return {
    now: row.now as Date,
    oldestClaimableAvailableAt: (row.oldest_claimable ?? null) as Date | null,
    oldestDueScheduleAt: (row.oldest_due ?? null) as Date | null,
  };
}

/**
 * See `Backend.getNextAvailableAt`: the first entry after now in the
 * partial index `workflow_runs_waiting` (namespace, availability) whose
 * run is of one of the workflows.
 */
export async function selectNextAvailableAt(
  s: Scope,
  params: GetNextAvailableAtParams,
): Promise<Date | null> {
  const workflows = params.workflows;
  if (workflows !== undefined && workflows.length === 0) return null;
  const { sql, runs, namespaceId: ns } = s;
  // The workflows as a plain filter on the index scan (a join with them
  // would be planned as a scan of every run and a sort).
  const ofWorkflows = workflows === undefined
    ? sql``
    : sql`AND (${
      workflows.map(({ name, version }) =>
        sql`(r.workflow_name = ${name} AND r.version ${
          version === null ? sql`IS NULL` : sql`= ${version}`
        })`
      ).reduce((all, one) => sql`${all} OR ${one}`)
    })`;
  const rows = await sql<Row[]>`
    SELECT r.available_at FROM ${runs} r
    WHERE r.namespace_id = ${ns}
      AND r.status IN ('pending', 'sleeping')
      AND r.available_at > now()
      ${ofWorkflows}
    ORDER BY r.available_at
    LIMIT 1`;
  return (rows[0]?.available_at ?? null) as Date | null;
}

/** See `Backend.listSignals`. */
export async function selectSignals(
  s: Scope,
  workflowRunId: string,
): Promise<WorkflowRunSignal[]> {
  if (!isUuid(workflowRunId)) return [];
  const { sql, signals, deliveries, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
    SELECT g.id, g.seq, g.signal, g.data, g.workflow_run_id, g.created_at,
      d.delivered_at, d.step_attempt_id
    FROM ${deliveries} d JOIN ${signals} g
      ON g.namespace_id = d.namespace_id AND g.id = d.signal_id
    WHERE d.namespace_id = ${ns} AND d.workflow_run_id = ${workflowRunId}
    UNION ALL
    SELECT g.id, g.seq, g.signal, g.data, g.workflow_run_id, g.created_at,
      NULL, NULL
    FROM ${signals} g
    WHERE g.namespace_id = ${ns} AND g.workflow_run_id = ${workflowRunId}
      AND NOT EXISTS (
        SELECT 1 FROM ${deliveries} d
        WHERE d.namespace_id = ${ns} AND d.signal_id = g.id
          AND d.workflow_run_id = ${workflowRunId}
      )
    ORDER BY seq`;
  return rows.map((row) => ({
    signalId: String(row.id),
    signal: String(row.signal),
    data: (row.data ?? null) as JsonValue | null,
    broadcast: row.workflow_run_id === null,
    sentAt: row.created_at as Date,
    receivedAt: (row.delivered_at ?? null) as Date | null,
    stepAttemptId: row.step_attempt_id === null
      ? null
      : String(row.step_attempt_id),
  }));
}
