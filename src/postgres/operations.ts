/**
 * The operators' statements of `BackendPostgres`: retry and fork of runs,
 * deletion of finished runs in bounded batches, and maintenance locks.
 * Each is one statement.
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
import { availablePayload } from "./notifications.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./scope.ts";

/**
 * The context of a retried run: its workflow-level failures reset, and
 * the step attempts made up to now no longer counted by the step retry
 * policies (the execution reads `retryCutoff` as it reads a workflow-level
 * retry's).
 */
const RETRIED_CONTEXT = `(CASE WHEN json_typeof(r.context) = 'object'
    THEN r.context::jsonb ELSE '{}'::jsonb END
  || jsonb_build_object('workflowFailures', 0, 'retryCutoff',
    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::json`;

/** Makes a failed or canceled run claimable again. */
export async function retryWorkflowRun(
  s: Scope,
  id: string,
): Promise<RetryWorkflowRunOutcome> {
  const { sql, runs, namespaceId: ns, channel } = s;
  const rows = await sql<Row[]>`
    WITH target AS (
      SELECT id, status FROM ${runs}
      WHERE namespace_id = ${ns} AND id = ${id}
      FOR UPDATE
    ),
    retried AS (
      UPDATE ${runs} r SET status = 'pending', available_at = now(),
        error = NULL, output = NULL, completed_at = NULL, deadline_at = NULL,
        worker_id = NULL, wake_requested = false, updated_at = now(),
        context = ${sql.unsafe(RETRIED_CONTEXT)}
      FROM target t
      WHERE r.namespace_id = ${ns} AND r.id = t.id
        AND t.status IN ('failed', 'canceled')
      RETURNING r.*, pg_notify(${channel}, ${availablePayload(ns)})
    )
    SELECT t.status AS prior_status, retried.*
    FROM target t LEFT JOIN retried ON true`;
  const row = rows[0];
  if (row === undefined) return { kind: "not-found" };
  if (row.id === null) {
    return {
      kind: "not-retryable",
      status: row.prior_status as WorkflowRunStatus,
    };
  }
  return { kind: "retried", workflowRun: toWorkflowRun(row) };
}

/**
 * Creates a run like `params.workflowRunId`, with the step attempts that
 * succeeded before `params.fromStep` copied.
 */
export async function forkWorkflowRun(
  s: Scope,
  params: ForkWorkflowRunParams,
): Promise<ForkWorkflowRunOutcome> {
  const { sql, runs, steps, namespaceId: ns, channel } = s;
  const from = params.fromStep;
  const rows = await sql<Row[]>`
    WITH source AS (
      SELECT * FROM ${runs}
      WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
    ),
    cut AS (
      SELECT min(seq) AS seq FROM ${steps}
      WHERE namespace_id = ${ns} AND workflow_run_id = ${params.workflowRunId}
        AND step_name = ${from}
    ),
    forked AS (
      INSERT INTO ${runs} (namespace_id, id, workflow_name, version, status,
        config, input, available_at, priority, concurrency_key,
        concurrency_limit, rate_key, rate_limit, rate_period_ms,
        forked_from_workflow_run_id)
      SELECT ${ns}, ${params.id}, workflow_name, version, 'pending', config,
        input, now(), priority, concurrency_key, concurrency_limit, rate_key,
        rate_limit, rate_period_ms, id
      FROM source
      WHERE ${from}::text IS NULL OR (SELECT seq FROM cut) IS NOT NULL
      RETURNING *, pg_notify(${channel}, ${availablePayload(ns)})
    ),
    copied AS (
      INSERT INTO ${steps} (namespace_id, id, workflow_run_id, step_name,
        kind, status, config, context, output, error, created_at,
        completed_at)
      SELECT ${ns}, gen_random_uuid(), f.id, a.step_name, a.kind, a.status,
        a.config, a.context, a.output, a.error, a.created_at, a.completed_at
      FROM ${steps} a, forked f
      WHERE a.namespace_id = ${ns}
        AND a.workflow_run_id = ${params.workflowRunId}
        AND a.status = 'succeeded' AND a.seq < (SELECT seq FROM cut)
      ORDER BY a.seq
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM source) AS found,
      (SELECT count(*) FROM copied) AS copied, forked.*
    FROM (SELECT 1) AS one LEFT JOIN forked ON true`;
  const row = rows[0];
  if (Number(row.found) === 0) return { kind: "not-found" };
  if (row.id === null) return { kind: "step-not-found" };
  return {
    kind: "forked",
    workflowRun: toWorkflowRun(row),
    copiedSteps: Number(row.copied),
  };
}

/** Deletes one batch of finished runs and what belongs to them. */
export async function deleteWorkflowRuns(
  s: Scope,
  params: DeleteWorkflowRunsParams,
): Promise<number> {
  const { sql, runs, steps, signals, deliveries, namespaceId: ns } = s;
  const [row] = await sql<Row[]>`
    WITH doomed AS MATERIALIZED (
      SELECT id FROM ${runs}
      WHERE namespace_id = ${ns}
        AND status IN ('succeeded', 'failed', 'canceled')
        AND status IN (SELECT json_array_elements_text(${
    JSON.stringify(params.statuses)
  }::text::json))
        AND completed_at < ${params.finishedBefore.toISOString()}::timestamptz
        AND (${params.workflowName ?? null}::text IS NULL
          OR workflow_name = ${params.workflowName ?? null})
      ORDER BY completed_at
      LIMIT ${params.limit}
      FOR UPDATE SKIP LOCKED
    ),
    steps_gone AS (
      DELETE FROM ${steps}
      WHERE namespace_id = ${ns} AND workflow_run_id IN (SELECT id FROM doomed)
    ),
    deliveries_gone AS (
      DELETE FROM ${deliveries}
      WHERE namespace_id = ${ns} AND workflow_run_id IN (SELECT id FROM doomed)
    ),
    signals_gone AS (
      DELETE FROM ${signals}
      WHERE namespace_id = ${ns} AND workflow_run_id IN (SELECT id FROM doomed)
    ),
    orphaned AS (
      UPDATE ${runs} SET parent_workflow_run_id = NULL
      WHERE namespace_id = ${ns}
        AND parent_workflow_run_id IN (SELECT id FROM doomed)
        AND id NOT IN (SELECT id FROM doomed)
    ),
    gone AS (
      DELETE FROM ${runs}
      WHERE namespace_id = ${ns} AND id IN (SELECT id FROM doomed)
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`;
  return Number(row.n);
}

/** Takes or renews a named lock; whether the owner holds it now. */
export async function acquireMaintenanceLock(
  s: Scope,
  params: MaintenanceLockParams,
): Promise<boolean> {
  const { sql, locks, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
    INSERT INTO ${locks} AS l (namespace_id, name, owner_id, expires_at)
    VALUES (${ns}, ${params.name}, ${params.ownerId},
      now() + ${params.durationMs} * interval '1 millisecond')
    ON CONFLICT (namespace_id, name) DO UPDATE
      SET owner_id = EXCLUDED.owner_id, expires_at = EXCLUDED.expires_at
      WHERE l.owner_id = EXCLUDED.owner_id OR l.expires_at <= now()
    RETURNING 1`;
  return rows.length === 1;
}

/** Releases a named lock if the owner holds it. */
export async function releaseMaintenanceLock(
  s: Scope,
  params: Pick<MaintenanceLockParams, "name" | "ownerId">,
): Promise<void> {
  const { sql, locks, namespaceId: ns } = s;
  await sql`
    DELETE FROM ${locks}
    WHERE namespace_id = ${ns} AND name = ${params.name}
      AND owner_id = ${params.ownerId}`;
}
