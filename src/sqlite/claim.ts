/**
 * The claim statement of `BackendSqlite`, in a module of its own like
 * Postgres's: the benchmarks explain the very statement the engine sends.
 *
 * @module
 */

import type { ClaimWorkflowRunsParams, WorkflowRun } from "../core/backend.ts";
import type { Params, SqliteConnection } from "./connection.ts";
import { toWorkflowRun } from "./rows.ts";

import { RUNS, UNFINISHED } from "./runs.ts";

/** A statement and its parameters. */
export interface Statement {
  sql: string;
  params: Params;
}

/**
 * The claim statement: it marks up to `params.limit` claimable runs as
 * held, longest-waiting first, and returns them. Exported so that the
 * benchmarks explain the very statement the engine runs.
 */
export function claimStatement(
  ns: string,
  now: number,
  params: ClaimWorkflowRunsParams,
): Statement {
  const workflows = params.workflows;
  const claimable = `r.namespace_id = :ns
        AND r.status IN ${UNFINISHED}
        AND r.available_at <= :now
        AND (r.deadline_at IS NULL OR r.deadline_at > :now)`;
  // With workflows named, each is looked up on its own through the
  // (namespace, workflow, availability) index, so that runs of workflows
  // this worker does not have are never scanned. The selectors are bound
  // as parameters; only their count shapes the SQL.
  const candidates = workflows === undefined
    ? `SELECT r.seq FROM ${RUNS} AS r
      WHERE ${claimable}
      ORDER BY r.available_at, r.created_at, r.seq
      LIMIT :limit`
    : `SELECT seq FROM (${
      workflows.map((_, i) =>
        `SELECT * FROM (
          SELECT r.seq, r.available_at, r.created_at FROM ${RUNS} AS r
          WHERE ${claimable}
            AND r.workflow_name = :name${i} AND r.version IS :version${i}
          ORDER BY r.available_at, r.created_at, r.seq
          LIMIT :limit
        )`
      ).join(" UNION ALL ")
    })
      ORDER BY available_at, created_at, seq
      LIMIT :limit`;
  const selectors: Params = {};
  workflows?.forEach(({ name, version }, i) => {
    selectors[`name${i}`] = name;
    selectors[`version${i}`] = version;
  });
  return {
    sql: `UPDATE ${RUNS} SET
      status = 'running',
      worker_id = :workerId,
      wake_requested = 0,
      attempts = attempts + 1,
      available_at = :leaseEnd,
      started_at = coalesce(started_at, :now),
      updated_at = :now
    WHERE seq IN (${candidates})
    RETURNING *`,
    params: {
      ns,
      now,
      workerId: params.workerId,
      leaseEnd: now + params.leaseDurationMs,
      limit: params.limit,
      ...selectors,
    },
  };
}

/**
 * Claims up to `params.limit` claimable runs, longest-waiting first, and
 * returns them oldest first.
 */
export function claimWorkflowRuns(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: ClaimWorkflowRunsParams,
): WorkflowRun[] {
  if (params.workflows !== undefined && params.workflows.length === 0) {
    return [];
  }
  const statement = claimStatement(ns, now, params);
  const rows = db.all(statement.sql, statement.params);
  rows.sort((a, b) =>
    Number(a.created_at) - Number(b.created_at) ||
    Number(a.seq) - Number(b.seq)
  );
  return rows.map(toWorkflowRun);
}
