/**
 * `BackendPostgres.listWorkflowRuns`: a page of runs, newest first, and
 * the cursor of the next one. Values are always bound, never spliced into
 * the SQL.
 *
 * @module
 */

import type {
  ListWorkflowRunsParams,
  WorkflowRunPage,
} from "../core/backend.ts";
import { isUuid } from "../sql/checks.ts";
import { type Cursor, toPage } from "../sql/cursor.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./scope.ts";

/**
 * The `AND ...` conditions of the run filters that listing and counting
 * share: workflow name and creation time range.
 */
export function runFilters(
  s: Scope,
  params: {
    workflowName?: string;
    createdAfter?: Date;
    createdBefore?: Date;
  },
): ReturnType<Scope["sql"]> {
  const { sql } = s;
  return sql`${
    params.workflowName === undefined
      ? sql``
      : sql`AND workflow_name = ${params.workflowName}`
  } ${
    params.createdAfter === undefined
      ? sql``
      : sql`AND created_at >= ${params.createdAfter}`
  } ${
    params.createdBefore === undefined
      ? sql``
      : sql`AND created_at < ${params.createdBefore}`
  }`;
}

/**
 * A page of the runs matching `params`, newest first (`created_at`, then
 * `id`), with the cursor of the next page. A cursor names the last row of
 * the previous page; the rows after it come before it in that order.
 */
export async function selectWorkflowRunPage(
  s: Scope,
  params: ListWorkflowRunsParams,
  cursor: Cursor | null,
): Promise<WorkflowRunPage> {
  const { sql, runs, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
      SELECT *, to_char(created_at AT TIME ZONE 'UTC',
          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_text
      FROM ${runs}
      WHERE namespace_id = ${ns}
        ${runFilters(s, params)}
        ${
    params.statuses === undefined
      ? sql``
      : sql`AND status IN (SELECT json_array_elements_text(${
        JSON.stringify(params.statuses)
      }::text::json))`
  }
        ${
    params.parentWorkflowRunId === undefined
      ? sql``
      : isUuid(params.parentWorkflowRunId)
      ? sql`AND parent_workflow_run_id = ${params.parentWorkflowRunId}`
      : sql`AND false`
  }
        ${
    cursor === null
      ? sql``
      : sql`AND (created_at, id) < (${cursor.createdAt}::text::timestamptz, ${cursor.id}::uuid)`
  }
      ORDER BY created_at DESC, id DESC
      LIMIT ${params.limit + 1}`;
  return toPage(
    rows,
    params.limit,
    toWorkflowRun,
    (row) => [String(row.created_at_text), String(row.id)],
  );
}
