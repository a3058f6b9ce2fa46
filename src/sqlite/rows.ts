/**
 * Conversions between SQLite rows and the backend's records: JSON values
 * are stored as `TEXT`, times as integer epoch milliseconds.
 *
 * @module
 */

import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import type { Row } from "./connection.ts";

/** JSON text for a `TEXT` column; `null` (and `undefined`) stay SQL `NULL`. */
export function jsonText(value: JsonValue | null | undefined): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** JSON text for a `NOT NULL` column: `null` is stored as the text `null`. */
export function jsonTextNotNull(value: JsonValue | null | undefined): string {
  return JSON.stringify(value ?? null);
}

/** Epoch milliseconds for an optional `Date`. */
export function epochMs(value: Date | null | undefined): number | null {
  return value === null || value === undefined ? null : value.getTime();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The stored form of an id: lower-case, as `crypto.randomUUID()` makes
 * them. `null` for a value that is no UUID, and so names no record.
 */
export function normalizeId(value: unknown): string | null {
  return typeof value === "string" && UUID.test(value)
    ? value.toLowerCase()
    : null;
}

function json(value: Row[string]): JsonValue | null {
  return value === null ? null : JSON.parse(String(value)) as JsonValue;
}

function date(value: Row[string]): Date {
  return new Date(Number(value));
}

function dateOrNull(value: Row[string]): Date | null {
  return value === null ? null : new Date(Number(value));
}

/** A `openworkflow_workflow_runs` row as a {@linkcode WorkflowRun}. */
export function toWorkflowRun(row: Row): WorkflowRun {
  return {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    status: row.status as WorkflowRun["status"],
    workerId: row.worker_id as string | null,
    config: json(row.config),
    context: json(row.context),
    input: json(row.input),
    output: json(row.output),
    error: json(row.error),
    availableAt: date(row.available_at),
    deadlineAt: dateOrNull(row.deadline_at),
    createdAt: date(row.created_at),
    completedAt: dateOrNull(row.completed_at),
    idempotencyKey: row.idempotency_key as string | null,
    attempts: Number(row.attempts),
    startedAt: dateOrNull(row.started_at),
    updatedAt: date(row.updated_at),
  };
}

/** A `openworkflow_step_attempts` row as a {@linkcode StepAttempt}. */
export function toStepAttempt(row: Row): StepAttempt {
  return {
    id: row.id as string,
    workflowRunId: row.workflow_run_id as string,
    stepName: row.step_name as string,
    kind: row.kind as StepAttempt["kind"],
    status: row.status as StepAttempt["status"],
    config: json(row.config),
    context: json(row.context),
    output: json(row.output),
    error: json(row.error),
    createdAt: date(row.created_at),
    completedAt: dateOrNull(row.completed_at),
  };
}
