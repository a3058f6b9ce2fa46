/**
 * `BackendSqlite.listWorkflowRuns`: its query is assembled from fixed
 * fragments; values are always bound, never spliced into the SQL.
 *
 * @module
 */

import type {
  ListWorkflowRunsParams,
  WorkflowRunPage,
} from "../core/backend.ts";
import { type Cursor, toPage } from "../sql/cursor.ts";
import type { Params, SqliteConnection } from "./connection.ts";
import { toWorkflowRun } from "./rows.ts";
import { normalizeId } from "../sql/checks.ts";

/** A statement and its parameters. */
interface Query {
  /** The SQL, with named parameters. */
  sql: string;
  /** The parameters' values. */
  values: Params;
}

/**
 * Runs of namespace `ns` matching `params`, newest first (`created_at`,
 * then `seq`: commit order breaks ties within a millisecond), one row more
 * than the limit to tell whether another page follows.
 *
 * A cursor names the last row of the previous page by creation time and
 * id; the rows after it are the older ones, and the ones of the same
 * millisecond committed before it.
 */
function listWorkflowRunsQuery(
  ns: string,
  params: ListWorkflowRunsParams,
  cursor: Cursor | null,
): Query {
  const where = ["namespace_id = :ns"];
  const values: Params = { ns, limit: params.limit + 1 };
  if (params.workflowName !== undefined) {
    where.push("workflow_name = :name");
    values.name = params.workflowName;
  }
  if (params.statuses !== undefined) {
    where.push("status IN (SELECT value FROM json_each(:statuses))");
    values.statuses = JSON.stringify(params.statuses);
  }
  if (params.parentWorkflowRunId !== undefined) {
    where.push("parent_workflow_run_id = :parentId");
    values.parentId = normalizeId(params.parentWorkflowRunId);
  }
  if (params.createdAfter !== undefined) {
    where.push("created_at >= :createdAfter");
    values.createdAfter = params.createdAfter.getTime();
  }
  if (params.createdBefore !== undefined) {
    where.push("created_at < :createdBefore");
    values.createdBefore = params.createdBefore.getTime();
  }
  if (cursor !== null) {
    where.push(`(created_at < :cursorAt OR (created_at = :cursorAt AND seq < (
      SELECT seq FROM openworkflow_workflow_runs
      WHERE namespace_id = :ns AND id = :cursorId
    )))`);
    values.cursorAt = cursor.createdAtMs;
    values.cursorId = normalizeId(cursor.id);
  }
  return {
    sql: `SELECT * FROM openworkflow_workflow_runs
      WHERE ${where.join(" AND ")}
      ORDER BY created_at DESC, seq DESC
      LIMIT :limit`,
    values,
  };
}

/**
 * A page of the runs of namespace `ns` matching `params`, with the cursor
 * of the next page.
 */
export function selectWorkflowRunPage(
  db: SqliteConnection,
  ns: string,
  params: ListWorkflowRunsParams,
  cursor: Cursor | null,
): WorkflowRunPage {
  const { sql, values } = listWorkflowRunsQuery(ns, params, cursor);
  const rows = db.all(sql, values);
  return toPage(
    rows,
    params.limit,
    toWorkflowRun,
    (row) => [new Date(Number(row.created_at)).toISOString(), String(row.id)],
  );
}
