/**
 * The mapping of `workflow_runs` and `step_attempts` rows to records, shared
 * by both SQL backends: the columns are the same, only how a JSON or time
 * column reads differs (postgres.js parses them; SQLite stores text and
 * epoch milliseconds), which each backend says with a `ColumnReader`.
 *
 * @module
 */

import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";

/** A row: column name to value. */
export type Row = Record<string, unknown>;

/** How a backend reads its JSON and time columns. */
export interface ColumnReader {
  /** A JSON column; SQL `NULL` is `null`. */
  json(value: unknown): JsonValue | null;
  /** A `NOT NULL` time column. */
  date(value: unknown): Date;
}

function dateOrNull(read: ColumnReader, value: unknown): Date | null {
  return value === null || value === undefined ? null : read.date(value);
}

/** A `workflow_runs` row as a `WorkflowRun`. */
export function toWorkflowRun(row: Row, read: ColumnReader): WorkflowRun {
  const run: WorkflowRun = {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    status: row.status as WorkflowRun["status"],
    workerId: row.worker_id as string | null,
    config: read.json(row.config) as JsonValue,
    context: read.json(row.context),
    input: read.json(row.input),
    output: read.json(row.output),
    error: read.json(row.error),
    availableAt: read.date(row.available_at),
    deadlineAt: dateOrNull(read, row.deadline_at),
    createdAt: read.date(row.created_at),
    completedAt: dateOrNull(read, row.completed_at),
    idempotencyKey: row.idempotency_key as string | null,
    attempts: Number(row.attempts),
    startedAt: dateOrNull(read, row.started_at),
    updatedAt: read.date(row.updated_at),
    parentWorkflowRunId: (row.parent_workflow_run_id ?? null) as string | null,
    priority: Number(row.priority ?? 0),
    concurrencyKey: (row.concurrency_key ?? null) as string | null,
    rateLimitKey: (row.rate_key ?? null) as string | null,
    forkedFromWorkflowRunId: (row.forked_from_workflow_run_id ?? null) as
      | string
      | null,
  };
  // Only a claim's rows have it.
  if (row.ready_at != null) run.readyAt = read.date(row.ready_at);
  return run;
}

/** A `step_attempts` row as a `StepAttempt`. */
export function toStepAttempt(row: Row, read: ColumnReader): StepAttempt {
  return {
    id: row.id as string,
    workflowRunId: row.workflow_run_id as string,
    stepName: row.step_name as string,
    kind: row.kind as StepAttempt["kind"],
    status: row.status as StepAttempt["status"],
    config: read.json(row.config) as JsonValue,
    context: read.json(row.context),
    output: read.json(row.output),
    error: read.json(row.error),
    createdAt: read.date(row.created_at),
    completedAt: dateOrNull(read, row.completed_at),
  };
}
