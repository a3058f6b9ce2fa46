/**
 * The read-only statements of `BackendSqlite` for operators: run counts by
 * workflow and status, the queue's oldest times, and a run's signals.
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
import { normalizeId } from "../sql/checks.ts";
import type { Params, SqliteConnection } from "./connection.ts";

const RUNS = "openworkflow_workflow_runs";
const SCHEDULES = "openworkflow_schedules";
const SIGNALS = "openworkflow_signals";
const DELIVERIES = "openworkflow_signal_deliveries";

/** See `Backend.countWorkflowRuns`. */
export function countWorkflowRuns(
  db: SqliteConnection,
  ns: string,
  params: CountWorkflowRunsParams,
): WorkflowRunCount[] {
  const where = ["namespace_id = :ns"];
  const values: Params = { ns };
  if (params.workflowName !== undefined) {
    where.push("workflow_name = :name");
    values.name = params.workflowName;
  }
  if (params.createdAfter !== undefined) {
    where.push("created_at >= :createdAfter");
    values.createdAfter = params.createdAfter.getTime();
  }
  if (params.createdBefore !== undefined) {
    where.push("created_at < :createdBefore");
    values.createdBefore = params.createdBefore.getTime();
  }
  const rows = db.all(
    `SELECT workflow_name, status, count(*) AS count FROM ${RUNS}
      WHERE ${where.join(" AND ")}
      GROUP BY workflow_name, status
      ORDER BY workflow_name, status`,
    values,
  );
  return rows.map((row) => ({
    workflowName: String(row.workflow_name),
    status: row.status as WorkflowRunStatus,
    count: Number(row.count),
  }));
}

/**
 * See `Backend.getQueueStatistics`: both minimums come from partial
 * indexes (`openworkflow_workflow_runs_claimable`,
 * `openworkflow_schedules_due`).
 */
export function selectQueueStatistics(
  db: SqliteConnection,
  ns: string,
  now: number,
): QueueStatistics {
  const row = db.get(
    `SELECT
      (SELECT min(available_at) FROM ${RUNS}
        WHERE namespace_id = :ns
          AND status IN ('pending', 'running', 'sleeping')
          AND available_at <= :now
          AND (deadline_at IS NULL OR deadline_at > :now)) AS oldest_claimable,
      (SELECT min(next_run_at) FROM ${SCHEDULES}
        WHERE namespace_id = :ns AND paused = 0
          AND next_run_at <= :now) AS oldest_due`,
    { ns, now },
  );
  const date = (value: unknown) =>
    value === null || value === undefined ? null : new Date(Number(value));
  return {
    now: new Date(now),
    oldestClaimableAvailableAt: date(row?.oldest_claimable),
    oldestDueScheduleAt: date(row?.oldest_due),
  };
}

/**
 * See `Backend.getNextAvailableAt`: the first entry after now in the
 * partial index `openworkflow_workflow_runs_claimable` (namespace,
 * availability) whose run waits (running runs, whose availability is their
 * lease, are passed over) and is of one of the workflows.
 */
export function selectNextAvailableAt(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: GetNextAvailableAtParams,
): Date | null {
  const workflows = params.workflows;
  if (workflows !== undefined && workflows.length === 0) return null;
  const row = db.get(
    // The first term matches the index's own, so that SQLite may use it.
    `SELECT r.available_at FROM ${RUNS} r
      WHERE r.namespace_id = :ns
        AND r.status IN ('pending', 'running', 'sleeping')
        AND r.status <> 'running'
        AND r.available_at > :now
        AND (:all = 1 OR EXISTS (
          SELECT 1 FROM json_each(:workflows) w
          WHERE w.value ->> '$[0]' = r.workflow_name
            AND w.value ->> '$[1]' IS r.version))
      ORDER BY r.available_at
      LIMIT 1`,
    {
      ns,
      now,
      all: workflows === undefined ? 1 : 0,
      workflows: JSON.stringify(
        (workflows ?? []).map(({ name, version }) => [name, version]),
      ),
    },
  );
  return row === undefined ? null : new Date(Number(row.available_at));
}

/** See `Backend.listSignals`. */
export function selectSignals(
  db: SqliteConnection,
  ns: string,
  workflowRunId: string,
): WorkflowRunSignal[] {
  const id = normalizeId(workflowRunId);
  if (id === null) return [];
  const rows = db.all(
    `SELECT g.id, g.seq, g.signal, g.data, g.workflow_run_id, g.created_at,
        d.delivered_at, d.step_attempt_id
      FROM ${DELIVERIES} d JOIN ${SIGNALS} g
        ON g.namespace_id = d.namespace_id AND g.id = d.signal_id
      WHERE d.namespace_id = :ns AND d.workflow_run_id = :id
      UNION ALL
      SELECT g.id, g.seq, g.signal, g.data, g.workflow_run_id, g.created_at,
        NULL, NULL
      FROM ${SIGNALS} g
      WHERE g.namespace_id = :ns AND g.workflow_run_id = :id
        AND NOT EXISTS (
          SELECT 1 FROM ${DELIVERIES} d
          WHERE d.namespace_id = :ns AND d.signal_id = g.id
            AND d.workflow_run_id = :id
        )
      ORDER BY seq`,
    { ns, id },
  );
  return rows.map((row) => ({
    signalId: String(row.id),
    signal: String(row.signal),
    data: row.data === null || row.data === undefined
      ? null
      : JSON.parse(String(row.data)) as JsonValue,
    broadcast: row.workflow_run_id === null,
    sentAt: new Date(Number(row.created_at)),
    receivedAt: row.delivered_at === null || row.delivered_at === undefined
      ? null
      : new Date(Number(row.delivered_at)),
    stepAttemptId: row.step_attempt_id === null ||
        row.step_attempt_id === undefined
      ? null
      : String(row.step_attempt_id),
  }));
}
