/**
 * What every statement of `BackendPostgres` needs (the connection pool, the
 * namespace, the tables), and the helpers of the batched statements: each
 * takes many items as one JSON parameter (`json_to_recordset`), so that one
 * statement and one commit serve many concurrent calls, and returns one
 * outcome per item.
 *
 * @module
 */

import type postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import { LeaseLostError } from "../core/errors.ts";
import type { Row } from "./rows.ts";

/** What every statement needs. */
export interface Scope {
  sql: Sql;
  namespaceId: string;
  /** The NOTIFY channel. */
  channel: string;
  /** The `workflow_runs` table, as an identifier fragment. */
  runs: postgres.Helper<string, []>;
  /** The `step_attempts` table, as an identifier fragment. */
  steps: postgres.Helper<string, []>;
  /** The `signals` table, as an identifier fragment. */
  signals: postgres.Helper<string, []>;
  /** The `signal_deliveries` table, as an identifier fragment. */
  deliveries: postgres.Helper<string, []>;
  /** The `schedules` table, as an identifier fragment. */
  schedules: postgres.Helper<string, []>;
  /** The `flow_gates` table, as an identifier fragment. */
  gates: postgres.Helper<string, []>;
  /** The `maintenance_locks` table, as an identifier fragment. */
  locks: postgres.Helper<string, []>;
}

/** Items as one JSON parameter. */
export function items(list: unknown[]): string {
  return JSON.stringify(list);
}

export function lost(item: { workflowRunId: string; workerId: string }): Error {
  return new LeaseLostError(item.workflowRunId, item.workerId);
}

/**
 * One outcome per item: done when a returned row has the item's id (by
 * default its run's), else `LeaseLostError`.
 */
export function outcomes<T extends { workflowRunId: string; workerId: string }>(
  batch: T[],
  rows: Row[],
  idOf: (item: T) => string = (item) => item.workflowRunId,
): (void | Error)[] {
  const done = new Set(rows.map((row) => row.id as string));
  return batch.map((p) => done.has(idOf(p)) ? undefined : lost(p));
}
