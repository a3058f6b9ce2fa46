/**
 * The batched statements of `BackendPostgres`. Each takes many items as one
 * JSON parameter (`json_to_recordset`), so that one statement and one commit
 * serve many concurrent calls; each returns one outcome per item.
 *
 * @module
 */

import type postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import type {
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  HeartbeatWorkflowRunParams,
  ReleaseWorkflowRunParams,
  StepAttempt,
  WorkflowRun,
} from "../core/backend.ts";
import { LeaseLostError } from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import { availablePayload } from "./notifications.ts";
import { jsonText, type Row, toStepAttempt, toWorkflowRun } from "./rows.ts";

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
}

/** Items as one JSON parameter. */
function items(list: unknown[]): string {
  return JSON.stringify(list);
}

function lost(item: { workflowRunId: string; workerId: string }): Error {
  return new LeaseLostError(item.workflowRunId, item.workerId);
}

/** Inserts runs; returns each created run, or the existing one of its key. */
export async function createWorkflowRuns(
  s: Scope,
  batch: (CreateWorkflowRunParams & { id: string })[],
): Promise<WorkflowRun[]> {
  const { sql, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
    INSERT INTO ${s.runs} (
      namespace_id, id, workflow_name, version, status, idempotency_key,
      config, context, input, available_at, deadline_at
    )
    SELECT ${ns}, v.id, v.workflow_name, v.version, 'pending', v.idempotency_key,
      v.config::json, v.context::json, v.input::json,
      coalesce(v.available_at, now() + v.after_ms * interval '1 millisecond'),
      v.deadline_at
    FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.id,
      workflow_name: p.workflowName,
      version: p.version,
      idempotency_key: p.idempotencyKey,
      config: jsonText(p.config),
      context: jsonText(p.context),
      input: jsonText(p.input),
      available_at: p.availableAt?.toISOString() ?? null,
      after_ms: p.availableAfterMs ?? 0,
      deadline_at: p.deadlineAt?.toISOString() ?? null,
    })))
  }::text::json) AS v(
      id uuid, workflow_name text, version text, idempotency_key text,
      config text, context text, input text,
      available_at timestamptz, after_ms double precision, deadline_at timestamptz
    )
    ON CONFLICT (namespace_id, workflow_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *, CASE WHEN available_at <= now()
      THEN pg_notify(${s.channel}, ${availablePayload(ns)})
      ELSE pg_notify(${s.channel}, json_build_array('a', ${ns}::text,
        (extract(epoch FROM available_at) * 1000)::bigint)::text)
      END AS notified`;
  const created = new Map(rows.map((row) => [row.id as string, row]));
  const results: WorkflowRun[] = [];
  for (const p of batch) {
    const row = created.get(p.id);
    if (row !== undefined) {
      results.push(toWorkflowRun(row));
      continue;
    }
    // The idempotency key was taken: return the run that has it.
    const [existing] = await sql<Row[]>`
      SELECT * FROM ${s.runs}
      WHERE namespace_id = ${ns} AND workflow_name = ${p.workflowName}
        AND idempotency_key = ${p.idempotencyKey}`;
    results.push(toWorkflowRun(existing));
  }
  return results;
}

/** Reads runs by id; `null` for ids of no run. */
export async function getWorkflowRuns(
  s: Scope,
  ids: string[],
): Promise<(WorkflowRun | null)[]> {
  const rows = await s.sql<Row[]>`
    SELECT * FROM ${s.runs}
    WHERE namespace_id = ${s.namespaceId}
      AND id IN (
        SELECT value::uuid FROM json_array_elements_text(${
    JSON.stringify(ids)
  }::text::json)
      )`;
  const byId = new Map(rows.map((row) => [row.id as string, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row === undefined ? null : toWorkflowRun(row);
  });
}

/** Extends leases; `LeaseLostError` for runs the worker does not own. */
export async function heartbeatWorkflowRuns(
  s: Scope,
  batch: HeartbeatWorkflowRunParams[],
): Promise<(void | Error)[]> {
  const rows = await s.sql<Row[]>`
    UPDATE ${s.runs} r SET
      available_at = now() + v.lease_ms * interval '1 millisecond',
      updated_at = now()
    FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.workflowRunId,
      worker_id: p.workerId,
      lease_ms: p.leaseDurationMs,
    })))
  }::text::json) AS v(id uuid, worker_id text, lease_ms double precision)
    WHERE r.namespace_id = ${s.namespaceId} AND r.id = v.id
      AND r.status = 'running' AND r.worker_id = v.worker_id
    RETURNING r.id`;
  return outcomes(batch, rows);
}

/** One finishing write of a run by its owner. */
export type RunTransition =
  | {
    kind: "succeeded";
    workflowRunId: string;
    workerId: string;
    output: JsonValue | null;
  }
  | {
    kind: "failed";
    workflowRunId: string;
    workerId: string;
    error: JsonValue;
  }
  | ({ kind: "release" } & ReleaseWorkflowRunParams);

/**
 * Completes, fails or releases runs, fenced to their owners, and notifies:
 * `finished` for completed and failed runs, `available` for released ones.
 */
export async function transitionWorkflowRuns(
  s: Scope,
  batch: RunTransition[],
): Promise<(void | Error)[]> {
  const ns = s.namespaceId;
  const rows = await s.sql<Row[]>`
    UPDATE ${s.runs} r SET
      status = CASE v.kind WHEN 'release' THEN v.status ELSE v.kind END,
      output = CASE v.kind WHEN 'succeeded' THEN v.output::json ELSE r.output END,
      error = CASE v.kind WHEN 'failed' THEN v.error::json ELSE r.error END,
      context = CASE WHEN v.set_context THEN v.context::json ELSE r.context END,
      available_at = CASE v.kind WHEN 'release'
        THEN coalesce(v.available_at, now()) ELSE r.available_at END,
      completed_at = CASE v.kind WHEN 'release' THEN NULL ELSE now() END,
      updated_at = now()
    FROM json_to_recordset(${
    items(batch.map((p) => ({
      kind: p.kind,
      id: p.workflowRunId,
      worker_id: p.workerId,
      output: p.kind === "succeeded" ? jsonText(p.output) : null,
      error: p.kind === "failed" ? jsonText(p.error) : null,
      status: p.kind === "release" ? p.status : null,
      available_at: p.kind === "release"
        ? p.availableAt?.toISOString() ?? null
        : null,
      set_context: p.kind === "release" && p.context !== undefined,
      context: p.kind === "release" ? jsonText(p.context) : null,
    })))
  }::text::json) AS v(
      kind text, id uuid, worker_id text, output text, error text,
      status text, available_at timestamptz, set_context boolean, context text
    )
    WHERE r.namespace_id = ${ns} AND r.id = v.id
      AND r.status = 'running' AND r.worker_id = v.worker_id
    RETURNING r.id, CASE WHEN v.kind = 'release' THEN pg_notify(${s.channel},
        json_build_array('a', ${ns}::text,
          (extract(epoch FROM r.available_at) * 1000)::bigint)::text)
      ELSE pg_notify(${s.channel}, CASE
        WHEN coalesce(octet_length(v.output), 0) + coalesce(octet_length(v.error), 0) < 7000
        THEN json_build_array('f', ${ns}::text, r.id, v.kind, v.output::json, v.error::json)::text
        ELSE json_build_array('f', ${ns}::text, r.id)::text END)
      END AS notified`;
  return outcomes(batch, rows);
}

/** Creates running step attempts, fenced to the runs' owners. */
export async function createStepAttempts(
  s: Scope,
  batch: (CreateStepAttemptParams & { id: string })[],
): Promise<(StepAttempt | Error)[]> {
  const ns = s.namespaceId;
  const rows = await s.sql<Row[]>`
    INSERT INTO ${s.steps} (
      namespace_id, id, workflow_run_id, step_name, kind, status, config, context
    )
    SELECT ${ns}, v.id, v.run_id, v.step_name, v.kind, 'running',
      v.config::json, v.context::json
    FROM ROWS FROM (json_to_recordset(${
    items(batch.map((p) => ({
      id: p.id,
      run_id: p.workflowRunId,
      worker_id: p.workerId,
      step_name: p.stepName,
      kind: p.kind,
      config: jsonText(p.config),
      context: jsonText(p.context),
    })))
  }::text::json) AS (
      id uuid, run_id uuid, worker_id text, step_name text, kind text,
      config text, context text
    )) WITH ORDINALITY AS v(id, run_id, worker_id, step_name, kind, config, context, n)
    WHERE EXISTS (
      SELECT 1 FROM ${s.runs} r
      WHERE r.namespace_id = ${ns} AND r.id = v.run_id
        AND r.status = 'running' AND r.worker_id = v.worker_id
    )
    ORDER BY v.n
    RETURNING *`;
  const byId = new Map(rows.map((row) => [row.id as string, row]));
  return batch.map((p) => {
    const row = byId.get(p.id);
    return row === undefined ? lost(p) : toStepAttempt(row);
  });
}

/** One finishing write of a step attempt. */
export interface StepTransition {
  workflowRunId: string;
  stepAttemptId: string;
  workerId: string;
  status: "succeeded" | "failed";
  output: JsonValue | null;
  error: JsonValue | null;
}

/** Finishes running step attempts, fenced to the runs' owners. */
export async function finishStepAttempts(
  s: Scope,
  batch: StepTransition[],
): Promise<(void | Error)[]> {
  const ns = s.namespaceId;
  const rows = await s.sql<Row[]>`
    UPDATE ${s.steps} a SET
      status = v.status, output = v.output::json, error = v.error::json,
      completed_at = clock_timestamp()
    FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.stepAttemptId,
      run_id: p.workflowRunId,
      worker_id: p.workerId,
      status: p.status,
      output: jsonText(p.output),
      error: jsonText(p.error),
    })))
  }::text::json) AS v(
      id uuid, run_id uuid, worker_id text, status text, output text, error text
    )
    WHERE a.namespace_id = ${ns} AND a.id = v.id
      AND a.workflow_run_id = v.run_id AND a.status = 'running'
      AND EXISTS (
        SELECT 1 FROM ${s.runs} r
        WHERE r.namespace_id = ${ns} AND r.id = v.run_id
          AND r.status = 'running' AND r.worker_id = v.worker_id
      )
    RETURNING a.id`;
  return outcomes(batch, rows, (p) => p.stepAttemptId);
}

/**
 * One outcome per item: done when a returned row has the item's id (by
 * default its run's), else `LeaseLostError`.
 */
function outcomes<T extends { workflowRunId: string; workerId: string }>(
  batch: T[],
  rows: Row[],
  idOf: (item: T) => string = (item) => item.workflowRunId,
): (void | Error)[] {
  const done = new Set(rows.map((row) => row.id as string));
  return batch.map((p) => done.has(idOf(p)) ? undefined : lost(p));
}
