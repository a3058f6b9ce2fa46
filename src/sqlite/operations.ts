/**
 * The operators' statements of `BackendSqlite`: retry and fork of runs,
 * deletion of finished runs in bounded batches, and maintenance locks.
 * Each runs in one write transaction.
 *
 * @module
 */

import type {
  DeleteWorkflowRunsParams,
  ForkWorkflowRunOutcome,
  ForkWorkflowRunParams,
  MaintenanceLockParams,
  RetryWorkflowRunOutcome,
  WorkflowRunStatus,
} from "../core/backend.ts";
import type { SqliteConnection } from "./connection.ts";
import { toWorkflowRun } from "./rows.ts";
import { RUNS } from "./runs.ts";

const STEPS = "openworkflow_step_attempts";
const SIGNALS = "openworkflow_signals";
const DELIVERIES = "openworkflow_signal_deliveries";
const LOCKS = "openworkflow_maintenance_locks";

/**
 * Makes a failed or canceled run claimable again: its workflow-level
 * failures reset, and the step attempts made up to now no longer counted
 * by the step retry policies (`retryCutoff`, as a workflow-level retry
 * sets it).
 */
export function retryWorkflowRun(
  db: SqliteConnection,
  ns: string,
  now: number,
  id: string,
): RetryWorkflowRunOutcome {
  const found = db.get(
    `SELECT status FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
    { ns, id },
  );
  if (found === undefined) return { kind: "not-found" };
  const status = found.status as WorkflowRunStatus;
  if (status !== "failed" && status !== "canceled") {
    return { kind: "not-retryable", status };
  }
  const row = db.get(
    `UPDATE ${RUNS} SET status = 'pending', available_at = :now,
      error = NULL, output = NULL, completed_at = NULL, deadline_at = NULL,
      worker_id = NULL, wake_requested = 0, updated_at = :now,
      context = CASE WHEN json_type(context) = 'object'
        THEN json_set(context, '$.workflowFailures', 0,
          '$.retryCutoff', :cutoff)
        ELSE json_object('workflowFailures', 0, 'retryCutoff', :cutoff) END
    WHERE namespace_id = :ns AND id = :id
    RETURNING *`,
    { ns, id, now, cutoff: new Date(now).toISOString() },
  );
  return { kind: "retried", workflowRun: toWorkflowRun(row!) };
}

/**
 * Creates a run like `params.workflowRunId`, with the step attempts that
 * succeeded before `params.fromStep` copied.
 */
export function forkWorkflowRun(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: ForkWorkflowRunParams,
): ForkWorkflowRunOutcome {
  const source = { ns, id: params.workflowRunId };
  const found = db.get(
    `SELECT 1 AS found FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
    source,
  );
  if (found === undefined) return { kind: "not-found" };
  let cut: number | null = null;
  if (params.fromStep !== null) {
    const row = db.get(
      `SELECT min(seq) AS seq FROM ${STEPS}
      WHERE namespace_id = :ns AND workflow_run_id = :id AND step_name = :step`,
      { ...source, step: params.fromStep },
    );
    if (row?.seq == null) return { kind: "step-not-found" };
    cut = Number(row.seq);
  }
  const run = db.get(
    `INSERT INTO ${RUNS} (namespace_id, id, workflow_name, version, status,
      config, input, available_at, created_at, updated_at, priority,
      concurrency_key, concurrency_limit, rate_key, rate_limit,
      rate_period_ms, forked_from_workflow_run_id)
    SELECT namespace_id, :newId, workflow_name, version, 'pending', config,
      input, :now, :now, :now, priority, concurrency_key, concurrency_limit,
      rate_key, rate_limit, rate_period_ms, id
    FROM ${RUNS} WHERE namespace_id = :ns AND id = :id
    RETURNING *`,
    { ...source, newId: params.id, now },
  );
  let copied = 0;
  if (cut !== null) {
    const attempts = db.all(
      `SELECT * FROM ${STEPS}
      WHERE namespace_id = :ns AND workflow_run_id = :id
        AND status = 'succeeded' AND seq < :cut
      ORDER BY seq`,
      { ...source, cut },
    );
    for (const a of attempts) {
      db.run(
        `INSERT INTO ${STEPS} (namespace_id, id, workflow_run_id, step_name,
          kind, status, config, context, output, error, created_at,
          completed_at)
        VALUES (:ns, :id, :run, :name, :kind, :status, :config, :context,
          :output, :error, :createdAt, :completedAt)`,
        {
          ns,
          id: crypto.randomUUID(),
          run: params.id,
          name: a.step_name,
          kind: a.kind,
          status: a.status,
          config: a.config,
          context: a.context,
          output: a.output,
          error: a.error,
          createdAt: a.created_at,
          completedAt: a.completed_at,
        },
      );
      copied++;
    }
  }
  return {
    kind: "forked",
    workflowRun: toWorkflowRun(run!),
    copiedSteps: copied,
  };
}

/** Deletes one batch of finished runs and what belongs to them. */
export function deleteWorkflowRuns(
  db: SqliteConnection,
  ns: string,
  params: DeleteWorkflowRunsParams,
): number {
  const doomed = db.all(
    `SELECT id FROM ${RUNS} INDEXED BY openworkflow_workflow_runs_finished
    WHERE namespace_id = :ns
      AND status IN ('succeeded', 'failed', 'canceled')
      AND status IN (SELECT value FROM json_each(:statuses))
      AND completed_at < :before
      AND (:name IS NULL OR workflow_name = :name)
    ORDER BY completed_at
    LIMIT :limit`,
    {
      ns,
      statuses: JSON.stringify(params.statuses),
      before: params.finishedBefore.getTime(),
      name: params.workflowName ?? null,
      limit: params.limit,
    },
  ).map((row) => row.id as string);
  if (doomed.length === 0) return 0;
  const ids = { ns, ids: JSON.stringify(doomed) };
  const inDoomed = "IN (SELECT value FROM json_each(:ids))";
  db.run(
    `DELETE FROM ${STEPS} WHERE namespace_id = :ns AND workflow_run_id ${inDoomed}`,
    ids,
  );
  db.run(
    `DELETE FROM ${DELIVERIES}
    WHERE namespace_id = :ns AND workflow_run_id ${inDoomed}`,
    ids,
  );
  db.run(
    `DELETE FROM ${SIGNALS} WHERE namespace_id = :ns AND workflow_run_id ${inDoomed}`,
    ids,
  );
  db.run(
    `UPDATE ${RUNS} SET parent_workflow_run_id = NULL
    WHERE namespace_id = :ns AND parent_workflow_run_id ${inDoomed}
      AND id NOT ${inDoomed}`,
    ids,
  );
  return db.run(
    `DELETE FROM ${RUNS} WHERE namespace_id = :ns AND id ${inDoomed}`,
    ids,
  );
}

/** Takes or renews a named lock; whether the owner holds it now. */
export function acquireMaintenanceLock(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: MaintenanceLockParams,
): boolean {
  const row = db.get(
    `INSERT INTO ${LOCKS} (namespace_id, name, owner_id, expires_at)
    VALUES (:ns, :name, :owner, :expires)
    ON CONFLICT (namespace_id, name) DO UPDATE
      SET owner_id = excluded.owner_id, expires_at = excluded.expires_at
      WHERE ${LOCKS}.owner_id = excluded.owner_id
        OR ${LOCKS}.expires_at <= :now
    RETURNING 1 AS held`,
    {
      ns,
      name: params.name,
      owner: params.ownerId,
      expires: now + params.durationMs,
      now,
    },
  );
  return row !== undefined;
}

/** Releases a named lock if the owner holds it. */
export function releaseMaintenanceLock(
  db: SqliteConnection,
  ns: string,
  params: Pick<MaintenanceLockParams, "name" | "ownerId">,
): void {
  db.run(
    `DELETE FROM ${LOCKS}
    WHERE namespace_id = :ns AND name = :name AND owner_id = :owner`,
    { ns, name: params.name, owner: params.ownerId },
  );
}
