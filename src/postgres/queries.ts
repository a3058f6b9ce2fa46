/**
 * The statements of `BackendPostgres` sent one per call, unbatched: reads
 * of run statuses and step attempts, the deadline sweep, and cancellation.
 *
 * @module
 */

import type {
  CancelWorkflowRunParams,
  FailExpiredWorkflowRunsParams,
  StepAttempt,
  WorkflowRun,
} from "../core/backend.ts";
import { jsonText, type Row, toStepAttempt, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./statements.ts";

/** The id and status of each of the runs `ids` (UUIDs) that exists. */
export async function selectWorkflowRunStatuses(
  s: Scope,
  ids: string[],
): Promise<Pick<WorkflowRun, "id" | "status">[]> {
  const { sql, runs, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
      SELECT id, status FROM ${runs}
      WHERE namespace_id = ${ns} AND id IN (
        SELECT value::uuid FROM json_array_elements_text(${
    JSON.stringify(ids)
  }::text::json))`;
  return rows.map((row) => ({
    id: row.id as string,
    status: row.status as WorkflowRun["status"],
  }));
}

/**
 * Fails every unfinished run whose deadline has passed and that no worker
 * holds, and notifies; returns how many.
 */
export async function failExpiredWorkflowRuns(
  s: Scope,
  params: FailExpiredWorkflowRunsParams,
): Promise<number> {
  const { sql, runs, namespaceId: ns, channel } = s;
  const rows = await sql`
      UPDATE ${runs} SET
        status = 'failed', error = ${jsonText(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${ns}
        AND deadline_at IS NOT NULL AND deadline_at <= now()
        AND status IN ('pending', 'running', 'sleeping')
        AND (status <> 'running' OR available_at <= now())
      RETURNING pg_notify(${channel},
        json_build_array('f', ${ns}::text, id, 'failed', NULL, error)::text)`;
  return rows.length;
}

/**
 * Cancels the run if unfinished, and notifies; returns it, or `null` when
 * no unfinished run has that id.
 */
export async function cancelUnfinishedWorkflowRun(
  s: Scope,
  params: CancelWorkflowRunParams,
): Promise<WorkflowRun | null> {
  const { sql, runs, namespaceId: ns, channel } = s;
  const [row] = await sql<Row[]>`
      UPDATE ${runs} SET
        status = 'canceled', error = ${jsonText(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
        AND status IN ('pending', 'running', 'sleeping')
      RETURNING *, pg_notify(${channel},
        json_build_array('f', ${ns}::text, id, 'canceled', NULL, error)::text)`;
  return row === undefined ? null : toWorkflowRun(row);
}

/** The attempts of run `workflowRunId` (a UUID), oldest first. */
export async function selectStepAttempts(
  s: Scope,
  workflowRunId: string,
): Promise<StepAttempt[]> {
  const { sql, steps, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND workflow_run_id = ${workflowRunId}
      ORDER BY seq`;
  return rows.map(toStepAttempt);
}

/** Attempt `stepAttemptId` (a UUID), or `null`. */
export async function selectStepAttempt(
  s: Scope,
  stepAttemptId: string,
): Promise<StepAttempt | null> {
  const { sql, steps, namespaceId: ns } = s;
  const [row] = await sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND id = ${stepAttemptId}`;
  return row === undefined ? null : toStepAttempt(row);
}
