/**
 * SQLite rows as the Backend records, and the values written: JSON values
 * are stored as `TEXT`, times as integer epoch milliseconds.
 *
 * @module
 */

import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import { jsonText, type JsonValue } from "../core/json.ts";
import {
  type ColumnReader,
  toStepAttempt as mapStepAttempt,
  toWorkflowRun as mapWorkflowRun,
} from "../sql/rows.ts";
import type { Row } from "./connection.ts";

/** JSON text for a `NOT NULL` column: `null` is stored as the text `null`. */
export function jsonTextNotNull(value: JsonValue | null | undefined): string {
  return jsonText(value) ?? "null";
}

/** Epoch milliseconds for an optional `Date`. */
export function epochMs(value: Date | null | undefined): number | null {
  return value === null || value === undefined ? null : value.getTime();
}

const COLUMNS: ColumnReader = {
  json: (value) =>
    value === null || value === undefined
      ? null
      : JSON.parse(String(value)) as JsonValue,
  date: (value) => new Date(Number(value)),
};

/** A `openworkflow_workflow_runs` row as a {@linkcode WorkflowRun}. */
export function toWorkflowRun(row: Row): WorkflowRun {
  return mapWorkflowRun(row, COLUMNS);
}

/** A `openworkflow_step_attempts` row as a {@linkcode StepAttempt}. */
export function toStepAttempt(row: Row): StepAttempt {
  return mapStepAttempt(row, COLUMNS);
}
