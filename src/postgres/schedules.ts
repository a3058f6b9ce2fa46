/**
 * The statements of `BackendPostgres` on schedules; see `Backend` and
 * `core/schedules.ts`. `fireSchedule` is a compare-and-set on `next_run_at`
 * and the runs' inserts in one transaction: of the workers that find a
 * schedule due at once, one fires it.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import type {
  CreateScheduleParams,
  CreateScheduleResult,
  DueSchedules,
  FireScheduleParams,
  Schedule,
  ScheduleCatchUp,
  UpdateScheduleParams,
  WorkflowRun,
} from "../core/backend.ts";
import { jsonText, type JsonValue } from "../core/json.ts";
import { availablePayload } from "./notifications.ts";
import type { Row } from "./rows.ts";
import { createWorkflowRuns } from "./runs.ts";
import type { Scope } from "./scope.ts";

function toSchedule(row: Row): Schedule {
  return {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    cron: row.cron as string,
    timezone: row.timezone as string,
    input: (row.input ?? null) as JsonValue | null,
    catchUp: row.catch_up as ScheduleCatchUp,
    paused: row.paused as boolean,
    nextRunAt: row.next_run_at as Date,
    lastRunAt: row.last_run_at as Date | null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

/** Notifies workers that a schedule is due at `at`. */
function notifyDue(s: Scope, at: Date) {
  return s.sql`pg_notify(${s.channel}, ${
    availablePayload(s.namespaceId, at.getTime())
  })`;
}

/** Schedule `id`, or `null`. */
export async function selectSchedule(
  s: Scope,
  id: string,
): Promise<Schedule | null> {
  const [row] = await s.sql<Row[]>`
    SELECT * FROM ${s.schedules}
    WHERE namespace_id = ${s.namespaceId} AND id = ${id}`;
  return row === undefined ? null : toSchedule(row);
}

/** The namespace's schedules, by id. */
export async function selectSchedules(s: Scope): Promise<Schedule[]> {
  const rows = await s.sql<Row[]>`
    SELECT * FROM ${s.schedules} WHERE namespace_id = ${s.namespaceId}
    ORDER BY id`;
  return rows.map(toSchedule);
}

/** Creates a schedule, or finds (and maybe updates) the one with its id. */
export async function insertSchedule(
  s: Scope,
  params: CreateScheduleParams,
): Promise<CreateScheduleResult> {
  const ns = s.namespaceId;
  const input = jsonText(params.input);
  const [created] = await s.sql<Row[]>`
    INSERT INTO ${s.schedules} (
      namespace_id, id, workflow_name, version, cron, timezone, input,
      catch_up, next_run_at
    ) VALUES (
      ${ns}, ${params.id}, ${params.workflowName}, ${params.version},
      ${params.cron}, ${params.timezone}, ${input}::text::json,
      ${params.catchUp}, ${params.nextRunAt}
    )
    ON CONFLICT (namespace_id, id) DO NOTHING
    RETURNING *, ${notifyDue(s, params.nextRunAt)}`;
  if (created !== undefined) {
    return { schedule: toSchedule(created), created: true };
  }
  if (params.ifExists === "update") {
    const [row] = await s.sql<Row[]>`
      UPDATE ${s.schedules} SET workflow_name = ${params.workflowName},
        version = ${params.version}, input = ${input}::text::json,
        catch_up = ${params.catchUp}, updated_at = now(),
        next_run_at = CASE
          WHEN cron = ${params.cron} AND timezone = ${params.timezone}
          THEN next_run_at ELSE ${params.nextRunAt} END,
        cron = ${params.cron}, timezone = ${params.timezone}
      WHERE namespace_id = ${ns} AND id = ${params.id}
      RETURNING *, pg_notify(${s.channel}, json_build_array('a', ${ns}::text,
        (extract(epoch FROM next_run_at) * 1000)::bigint)::text)`;
    if (row !== undefined) return { schedule: toSchedule(row), created: false };
  }
  const existing = await selectSchedule(s, params.id);
  // Deleted in between: try again.
  if (existing === null) return await insertSchedule(s, params);
  return { schedule: existing, created: false };
}

/** Pauses or resumes a schedule; `null` when there is none. */
export async function updateSchedule(
  s: Scope,
  params: UpdateScheduleParams,
): Promise<Schedule | null> {
  const [row] = await s.sql<Row[]>`
    UPDATE ${s.schedules} SET paused = ${params.paused}, updated_at = now(),
      next_run_at = coalesce(${
    params.nextRunAt ?? null
  }::timestamptz, next_run_at)
    WHERE namespace_id = ${s.namespaceId} AND id = ${params.id}
    RETURNING *, pg_notify(${s.channel}, json_build_array('a',
      ${s.namespaceId}::text,
      (extract(epoch FROM next_run_at) * 1000)::bigint)::text)`;
  return row === undefined ? null : toSchedule(row);
}

/** Deletes a schedule; whether there was one. */
export async function deleteSchedule(s: Scope, id: string): Promise<boolean> {
  const rows = await s.sql`
    DELETE FROM ${s.schedules}
    WHERE namespace_id = ${s.namespaceId} AND id = ${id}
    RETURNING id`;
  return rows.length > 0;
}

/** The due schedules, now, and the next due time. */
export async function selectDueSchedules(
  s: Scope,
  limit: number,
): Promise<DueSchedules> {
  const ns = s.namespaceId;
  const rows = await s.sql<Row[]>`
    SELECT sc.*, now() AS read_at, (
      SELECT min(next_run_at) FROM ${s.schedules}
      WHERE namespace_id = ${ns} AND NOT paused AND next_run_at > now()
    ) AS next_due_at
    FROM (SELECT now()) AS t
    LEFT JOIN LATERAL (
      SELECT * FROM ${s.schedules}
      WHERE namespace_id = ${ns} AND NOT paused AND next_run_at <= now()
      ORDER BY next_run_at LIMIT ${limit}
    ) sc ON true`;
  const first = rows[0];
  return {
    schedules: rows.filter((row) => row.id !== null).map(toSchedule),
    now: first.read_at as Date,
    nextDueAt: first.next_due_at as Date | null,
  };
}

/** Fires a due schedule once; `null` when it lost the compare-and-set. */
export async function fireSchedule(
  s: Scope,
  params: FireScheduleParams,
): Promise<WorkflowRun[] | null> {
  return await s.sql.begin(async (transaction) => {
    const sql = transaction as unknown as Sql;
    const rows = await sql`
      UPDATE ${s.schedules} SET next_run_at = ${params.nextRunAt},
        last_run_at = coalesce(${params.lastRunAt}::timestamptz, last_run_at),
        updated_at = now()
      WHERE namespace_id = ${s.namespaceId} AND id = ${params.id}
        AND NOT paused AND next_run_at = ${params.expectedNextRunAt}
      RETURNING pg_notify(${s.channel}, json_build_array('a',
        ${s.namespaceId}::text,
        (extract(epoch FROM next_run_at) * 1000)::bigint)::text)`;
    if (rows.length === 0) return null;
    if (params.runs.length === 0) return [];
    return await createWorkflowRuns(
      { ...s, sql },
      params.runs.map((run) => ({ ...run, id: crypto.randomUUID() })),
    );
  });
}
