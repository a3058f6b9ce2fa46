/**
 * What the engine has to do in a SQLite database at the backend's time:
 * runs executing, work that is due, and when the next work falls due. The
 * time-skipping test environment reads it to know when the engine is idle
 * and where to move its clock next.
 *
 * @module
 */

import type { SqliteConnection } from "./connection.ts";
import { RUNS, UNFINISHED } from "./runs.ts";

/** The activity of one namespace, at one instant of the backend's clock. */
export interface Activity {
  /** The backend's time of the reading (epoch ms). */
  now: number;
  /** Runs held by a worker whose lease has not lapsed. */
  running: number;
  /**
   * Work due now: claimable runs (a lapsed lease included), runs past
   * their deadline, and schedules whose next slot has come.
   */
  due: number;
  /** When the next work falls due after `now` (epoch ms), or `null`. */
  nextDueAt: number | null;
  /** How many rows the connection has changed since it opened. */
  changes: number;
}

interface Source {
  connection: SqliteConnection;
  namespaceId: string;
  now(): number;
}

const sources = new WeakMap<object, Source>();

/** Lets {@linkcode readActivity} read `backend`'s database. */
export function registerActivitySource(backend: object, source: Source): void {
  sources.set(backend, source);
}

/**
 * Reads the activity of `backend`'s namespace, or `null` for an object
 * that is not a `BackendSqlite`.
 */
export function readActivity(backend: object): Promise<Activity> | null {
  const source = sources.get(backend);
  if (source === undefined) return null;
  const { connection, namespaceId: ns } = source;
  return connection.read("read the engine's activity", () => {
    const now = source.now();
    const row = connection.get(
      `SELECT
          (SELECT count(*) FROM ${RUNS} WHERE namespace_id = :ns
             AND status = 'running' AND available_at > :now) AS running,
          (SELECT count(*) FROM ${RUNS} WHERE namespace_id = :ns
             AND status IN ${UNFINISHED} AND available_at <= :now) +
          (SELECT count(*) FROM ${RUNS} WHERE namespace_id = :ns
             AND status IN ${UNFINISHED} AND deadline_at <= :now
             AND (status <> 'running' OR available_at <= :now)) +
          (SELECT count(*) FROM openworkflow_schedules
             WHERE namespace_id = :ns AND paused = 0
               AND next_run_at <= :now) AS due,
          min(
            coalesce((SELECT min(available_at) FROM ${RUNS}
               WHERE namespace_id = :ns AND status IN ('pending', 'sleeping')
                 AND available_at > :now), 1e300),
            coalesce((SELECT min(deadline_at) FROM ${RUNS}
               WHERE namespace_id = :ns AND status IN ${UNFINISHED}
                 AND deadline_at > :now), 1e300),
            coalesce((SELECT min(next_run_at) FROM openworkflow_schedules
               WHERE namespace_id = :ns AND paused = 0
                 AND next_run_at > :now), 1e300)
          ) AS next_due_at,
          total_changes() AS changes`,
      { ns, now },
    )!;
    const next = Number(row.next_due_at);
    return {
      now,
      running: Number(row.running),
      due: Number(row.due),
      nextDueAt: next >= 1e300 ? null : next,
      changes: Number(row.changes),
    };
  });
}
