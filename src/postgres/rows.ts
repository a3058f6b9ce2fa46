/**
 * Postgres rows as the Backend records: postgres.js parses `json` columns
 * and reads `timestamptz` as a `Date`, so the columns read as they come.
 *
 * @module
 */

import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import {
  type ColumnReader,
  type Row,
  toStepAttempt as mapStepAttempt,
  toWorkflowRun as mapWorkflowRun,
} from "../sql/rows.ts";

export type { Row } from "../sql/rows.ts";

const COLUMNS: ColumnReader = {
  json: (value) => (value ?? null) as JsonValue | null,
  date: (value) => value as Date,
};

/** Converts a `workflow_runs` row. */
export function toWorkflowRun(row: Row): WorkflowRun {
  return mapWorkflowRun(row, COLUMNS);
}

/** Converts a `step_attempts` row. */
export function toStepAttempt(row: Row): StepAttempt {
  return mapStepAttempt(row, COLUMNS);
}
