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

/**
 * UUIDs as one Postgres array literal, for `id = ANY(${uuids(ids)}::uuid[])`.
 *
 * Each batched statement names the rows it touches this way besides its
 * join with the items: a condition on the primary key that the plan
 * serves by looking each key up, whatever the statistics say about the
 * namespace (without it, the planner guesses that a namespace holds a few
 * rows, and reads them all instead, each batch). The plan is generic (see
 * `SESSION_SETTINGS`), made for an array of unknown length, so it holds
 * for a batch of one key and of 500 alike.
 *
 * Fences and reads by key go through {@linkcode runByKey}.
 */
export function uuids(ids: readonly string[]): string {
  return `{${ids.map((id) => `"${id.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}

/**
 * Run `id` (an expression over the items) found by its primary key alone,
 * as a subquery to join `LATERAL` or test with `EXISTS`: `OFFSET 0` keeps
 * the planner from turning it into a join or pushing other conditions
 * into it, so it is one primary-key lookup per item whatever the
 * statistics say (conditions such as `status = 'running'` go outside: in
 * it, they would let a partial index of running runs be scanned instead).
 */
export function runByKey(
  s: Scope,
  id: ReturnType<Scope["sql"]>,
): ReturnType<Scope["sql"]> {
  return s.sql`(SELECT * FROM ${s.runs} k
    WHERE k.namespace_id = ${s.namespaceId} AND k.id = ${id} OFFSET 0)`;
}

/**
 * Whether run `runId` is held by `workerId` (expressions over the items):
 * the fence of every write of a worker.
 */
export function heldBy(
  s: Scope,
  runId: ReturnType<Scope["sql"]>,
  workerId: ReturnType<Scope["sql"]>,
): ReturnType<Scope["sql"]> {
  return s.sql`EXISTS (SELECT 1 FROM ${runByKey(s, runId)} o
    WHERE o.status = 'running' AND o.worker_id = ${workerId})`;
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
