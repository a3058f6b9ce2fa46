/**
 * The statements of `BackendSqlite` on schedules; see `Backend` and
 * `core/schedules.ts`. One writer at a time makes the compare-and-set of
 * `fireSchedule` exact.
 *
 * @module
 */

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
import type { Row, SqliteConnection } from "./connection.ts";
import { insertWorkflowRun } from "./runs.ts";

const SCHEDULES = "openworkflow_schedules";

function toSchedule(row: Row): Schedule {
  return {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    cron: row.cron as string,
    timezone: row.timezone as string,
    input: row.input === null
      ? null
      : JSON.parse(String(row.input)) as JsonValue,
    catchUp: row.catch_up as ScheduleCatchUp,
    paused: Number(row.paused) === 1,
    nextRunAt: new Date(Number(row.next_run_at)),
    lastRunAt: row.last_run_at === null
      ? null
      : new Date(Number(row.last_run_at)),
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}

/** Schedule `id`, or `null`. */
export function selectSchedule(
  db: SqliteConnection,
  ns: string,
  id: string,
): Schedule | null {
  const row = db.get(
    `SELECT * FROM ${SCHEDULES} WHERE namespace_id = :ns AND id = :id`,
    { ns, id },
  );
  return row === undefined ? null : toSchedule(row);
}

/** The namespace's schedules, by id. */
export function selectSchedules(db: SqliteConnection, ns: string): Schedule[] {
  return db.all(
    `SELECT * FROM ${SCHEDULES} WHERE namespace_id = :ns ORDER BY id`,
    { ns },
  ).map(toSchedule);
}

/** Creates a schedule, or finds (and maybe updates) the one with its id. */
export function insertSchedule(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: CreateScheduleParams,
): CreateScheduleResult {
  const existing = selectSchedule(db, ns, params.id);
  const values = {
    ns,
    id: params.id,
    name: params.workflowName,
    version: params.version,
    cron: params.cron,
    timezone: params.timezone,
    input: jsonText(params.input),
    catchUp: params.catchUp,
    nextRunAt: params.nextRunAt.getTime(),
    now,
  };
  if (existing === null) {
    db.run(
      `INSERT INTO ${SCHEDULES} (
        namespace_id, id, workflow_name, version, cron, timezone, input,
        catch_up, next_run_at, created_at, updated_at
      ) VALUES (
        :ns, :id, :name, :version, :cron, :timezone, :input, :catchUp,
        :nextRunAt, :now, :now
      )`,
      values,
    );
    return { schedule: selectSchedule(db, ns, params.id)!, created: true };
  }
  if (params.ifExists === "update") {
    db.run(
      `UPDATE ${SCHEDULES} SET workflow_name = :name, version = :version,
        input = :input, catch_up = :catchUp, updated_at = :now,
        next_run_at = CASE WHEN cron = :cron AND timezone = :timezone
          THEN next_run_at ELSE :nextRunAt END,
        cron = :cron, timezone = :timezone
      WHERE namespace_id = :ns AND id = :id`,
      values,
    );
    return { schedule: selectSchedule(db, ns, params.id)!, created: false };
  }
  return { schedule: existing, created: false };
}

/** Pauses or resumes a schedule; `null` when there is none. */
export function updateSchedule(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: UpdateScheduleParams,
): Schedule | null {
  db.run(
    `UPDATE ${SCHEDULES} SET paused = :paused, updated_at = :now,
      next_run_at = coalesce(:nextRunAt, next_run_at)
    WHERE namespace_id = :ns AND id = :id`,
    {
      ns,
      id: params.id,
      now,
      paused: params.paused ? 1 : 0,
      nextRunAt: params.nextRunAt?.getTime() ?? null,
    },
  );
  return selectSchedule(db, ns, params.id);
}

/** Deletes a schedule; whether there was one. */
export function deleteSchedule(
  db: SqliteConnection,
  ns: string,
  id: string,
): boolean {
  return db.run(
    `DELETE FROM ${SCHEDULES} WHERE namespace_id = :ns AND id = :id`,
    { ns, id },
  ) > 0;
}

/** The due schedules, now, and the next due time. */
export function selectDueSchedules(
  db: SqliteConnection,
  ns: string,
  now: number,
  limit: number,
): DueSchedules {
  const schedules = db.all(
    `SELECT * FROM ${SCHEDULES}
    WHERE namespace_id = :ns AND paused = 0 AND next_run_at <= :now
    ORDER BY next_run_at LIMIT :limit`,
    { ns, now, limit },
  ).map(toSchedule);
  const next = db.get(
    `SELECT min(next_run_at) AS at FROM ${SCHEDULES}
    WHERE namespace_id = :ns AND paused = 0 AND next_run_at > :now`,
    { ns, now },
  );
  return {
    schedules,
    now: new Date(now),
    nextDueAt: next?.at == null ? null : new Date(Number(next.at)),
  };
}

/** Fires a due schedule once; `null` when it lost the compare-and-set. */
export function fireSchedule(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: FireScheduleParams,
): WorkflowRun[] | null {
  const changed = db.run(
    `UPDATE ${SCHEDULES} SET next_run_at = :nextRunAt, updated_at = :now,
      last_run_at = coalesce(:lastRunAt, last_run_at)
    WHERE namespace_id = :ns AND id = :id AND paused = 0
      AND next_run_at = :expected`,
    {
      ns,
      id: params.id,
      now,
      nextRunAt: params.nextRunAt.getTime(),
      lastRunAt: params.lastRunAt?.getTime() ?? null,
      expected: params.expectedNextRunAt.getTime(),
    },
  );
  if (changed === 0) return null;
  return params.runs.map((run) => insertWorkflowRun(db, ns, now, run));
}
