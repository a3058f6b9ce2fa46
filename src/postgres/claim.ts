/**
 * The claim statement of `BackendPostgres`, in a module of its own so that
 * the benchmarks explain the very statement the engine sends (they run it
 * through a driver that records it).
 *
 * @module
 */

import type { ClaimWorkflowRunsParams, WorkflowRun } from "../core/backend.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./scope.ts";

/**
 * The session settings of every pool connection (postgres.js
 * `connection` option, sent when the connection starts). No JIT: row
 * estimates of JSON parameters are guesses, and a JIT compilation costs far
 * more than these short statements. DateStyle ISO: the driver reads
 * timestamps as ISO text; sent with the connection, it overrides a
 * server, database or role default and `options=-c datestyle=…`.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  application_name: "openworkflow",
  jit: "off",
  DateStyle: "ISO, MDY",
};

/**
 * Claims up to `params.limit` claimable runs, longest-waiting first, and
 * returns them oldest first.
 */
export async function claimWorkflowRuns(
  s: Scope,
  params: ClaimWorkflowRunsParams,
): Promise<WorkflowRun[]> {
  const { sql, runs, namespaceId: ns } = s;
  const workflows = params.workflows;
  if (workflows !== undefined && workflows.length === 0) return [];
  const claimable = sql`
      r.namespace_id = ${ns}
      AND r.status IN ('pending', 'running', 'sleeping')
      AND r.available_at <= now()
      AND (r.deadline_at IS NULL OR r.deadline_at > now())`;
  // With workflows named, each is looked up on its own through the
  // (namespace, workflow, availability) index: runs of workflows this
  // worker does not have are never scanned, however many wait.
  const candidates = workflows === undefined
    ? sql`
        SELECT r.id FROM ${runs} r
        WHERE ${claimable}
        ORDER BY r.available_at, r.created_at
        LIMIT ${params.limit}
        FOR UPDATE SKIP LOCKED`
    : sql`
        SELECT c.id FROM json_to_recordset(${
      JSON.stringify(
        workflows.map(({ name, version }) => ({ name, version })),
      )
    }::text::json) AS w(name text, version text)
        CROSS JOIN LATERAL (
          SELECT r.id, r.available_at, r.created_at FROM ${runs} r
          WHERE ${claimable}
            AND r.workflow_name = w.name
            AND r.version IS NOT DISTINCT FROM w.version
          ORDER BY r.available_at, r.created_at
          LIMIT ${params.limit}
          FOR UPDATE SKIP LOCKED
        ) c
        ORDER BY c.available_at, c.created_at
        LIMIT ${params.limit}`;
  const rows = await sql<Row[]>`
      WITH candidates AS (${candidates})
      UPDATE ${runs} r SET
        status = 'running',
        worker_id = ${params.workerId},
        wake_requested = false,
        attempts = r.attempts + 1,
        available_at = now() + ${params.leaseDurationMs} * interval '1 millisecond',
        started_at = coalesce(r.started_at, now()),
        updated_at = now()
      FROM candidates c
      WHERE r.namespace_id = ${ns} AND r.id = c.id
      RETURNING r.*`;
  return rows.map(toWorkflowRun).sort((a, b) =>
    a.createdAt.getTime() - b.createdAt.getTime()
  );
}
