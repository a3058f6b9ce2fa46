/**
 * Planner statistics kept current through bursts. Every statement of the
 * engine names its namespace, and without statistics (a table never
 * analyzed, or analyzed when it held a few rows) the planner guesses that a
 * namespace holds half a percent of the rows: a burst of runs then gets
 * plans that read every run of the namespace for each batch of writes (a
 * hash join over a scan instead of key lookups), and the work per run grows
 * with the backlog. Autovacuum analyzes a table only after its next nap (a
 * minute by default); workers look every half second, and analyze a table
 * that changed by more than half since it was last analyzed, or that was
 * never analyzed and holds a few dozen rows (its first statistics say that
 * one namespace holds them all). Until every table has statistics, they
 * look sooner: every 50 ms at first, then less often.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";

/**
 * How often a backend's claims look at the statistics while they find
 * runs (a claim that finds none does not look: an idle worker sends no
 * more queries).
 */
export const STATISTICS_CHECK_INTERVAL_MS = 500;

/**
 * How often claims look at first, while a table has no statistics yet
 * (doubling at each look that finds one still too small to analyze).
 */
export const FIRST_STATISTICS_CHECK_INTERVAL_MS = 50;

/** Changes since the last analysis below which a table is left alone. */
const MIN_CHANGES = 1_000;

/** The rows a table never analyzed holds when it is analyzed. */
const MIN_FIRST_ROWS = 50;

/** The tables whose statistics the claims' and writes' plans depend on. */
const TABLES = ["workflow_runs", "step_attempts"] as const;

/** What one backend remembers of its checks. */
export interface StatisticsState {
  /** When the last check started (`performance.now()`). */
  checkedAt: number;
  /** The check in progress, if any. */
  running: Promise<void> | null;
  /**
   * How long after a check the next may start: shorter while a table has
   * no statistics yet.
   */
  intervalMs: number;
}

/** The state of a backend that has not checked yet. */
export function newStatisticsState(): StatisticsState {
  return {
    checkedAt: -Infinity,
    running: null,
    intervalMs: FIRST_STATISTICS_CHECK_INTERVAL_MS,
  };
}

/**
 * Starts a check of the statistics of the tables of `schema` unless one
 * ran within the state's interval ({@linkcode STATISTICS_CHECK_INTERVAL_MS}
 * once every table has statistics); returns the check in
 * progress (or `null`), which never rejects: a check that fails is tried
 * again at the next interval. Callers need not wait for it, except the
 * first claim of a backend, whose plans (and those of the writes after it)
 * are the ones a burst made before the worker started needs current.
 */
export function checkStatistics(
  sql: Sql,
  schema: string,
  state: StatisticsState,
): Promise<void> | null {
  const now = performance.now();
  if (
    state.running !== null ||
    now - state.checkedAt < state.intervalMs
  ) {
    return state.running;
  }
  state.checkedAt = now;
  state.running = analyzeChanged(sql, schema).then((unanalyzed) => {
    state.intervalMs = unanalyzed
      ? Math.min(state.intervalMs * 2, STATISTICS_CHECK_INTERVAL_MS)
      : STATISTICS_CHECK_INTERVAL_MS;
  }, () => {}).finally(() => {
    state.running = null;
  });
  return state.running;
}

/**
 * Analyzes each table of `schema` that changed by more than half (and at
 * least {@linkcode MIN_CHANGES} rows) since it was last analyzed, or that
 * was never analyzed and holds {@linkcode MIN_FIRST_ROWS} rows or more (its
 * rows are counted, up to that, only while it has no statistics: the
 * counters of changes reach the server up to a second late). One process
 * at a time, under a transaction-level advisory lock; ANALYZE takes no lock
 * that blocks reads or writes.
 *
 * @returns Whether a table was left without statistics.
 */
async function analyzeChanged(sql: Sql, schema: string): Promise<boolean> {
  // `schema` is a checked identifier, and the table names are ours.
  const rows = await sql.unsafe<
    { name: string; due: boolean; unanalyzed: boolean }[]
  >(
    TABLES.map((table) => `
      SELECT '${table}' AS name,
        (m >= ${MIN_CHANGES} AND m > greatest(c.reltuples, 0) / 2)
          OR (c.reltuples < 0 AND (
            SELECT count(*) FROM (
              SELECT 1 FROM ${schema}.${table} LIMIT ${MIN_FIRST_ROWS}
            ) rows
          ) >= ${MIN_FIRST_ROWS}) AS due,
        c.reltuples < 0 AS unanalyzed
      FROM pg_class c,
        LATERAL (SELECT pg_stat_get_mod_since_analyze(c.oid) AS m) changes
      WHERE c.oid = to_regclass('${schema}.${table}')`).join(" UNION ALL "),
  );
  const due = rows.filter((row) => row.due);
  const analyzed = due.length > 0 &&
    await sql.begin(async (tx) => {
      const [{ locked }] = await tx`
        SELECT pg_try_advisory_xact_lock(hashtext(${`openworkflow:analyze:${schema}`})) AS locked`;
      if (locked !== true) return false; // another process analyzes them
      // `name` is one of TABLES.
      for (const { name } of due) await tx.unsafe(`ANALYZE ${schema}.${name}`);
      return true;
    });
  return rows.some((row) => row.unanalyzed && !(row.due && analyzed));
}
