/**
 * Conversions between Postgres rows and the Backend records.
 *
 * @module
 */

import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";

/** A row as postgres.js returns it. */
export type Row = Record<string, unknown>;

/** JSON text for a `json` parameter (`null` stays SQL `NULL`). */
export function jsonText(value: JsonValue | null | undefined): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID (every id this backend makes is one). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** Converts a `workflow_runs` row. */
export function toWorkflowRun(row: Row): WorkflowRun {
  return {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    status: row.status as WorkflowRun["status"],
    workerId: row.worker_id as string | null,
    config: row.config as JsonValue,
    context: (row.context ?? null) as JsonValue | null,
    input: (row.input ?? null) as JsonValue | null,
    output: (row.output ?? null) as JsonValue | null,
    error: (row.error ?? null) as JsonValue | null,
    availableAt: row.available_at as Date,
    deadlineAt: row.deadline_at as Date | null,
    createdAt: row.created_at as Date,
    completedAt: row.completed_at as Date | null,
    idempotencyKey: row.idempotency_key as string | null,
    attempts: row.attempts as number,
    startedAt: row.started_at as Date | null,
    updatedAt: row.updated_at as Date,
  };
}

/** Converts a `step_attempts` row. */
export function toStepAttempt(row: Row): StepAttempt {
  return {
    id: row.id as string,
    workflowRunId: row.workflow_run_id as string,
    stepName: row.step_name as string,
    kind: row.kind as StepAttempt["kind"],
    status: row.status as StepAttempt["status"],
    config: row.config as JsonValue,
    context: (row.context ?? null) as JsonValue | null,
    output: (row.output ?? null) as JsonValue | null,
    error: (row.error ?? null) as JsonValue | null,
    createdAt: row.created_at as Date,
    completedAt: row.completed_at as Date | null,
  };
}
