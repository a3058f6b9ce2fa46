/**
 * Planner statistics kept current through bursts. Every statement of the
 * engine names its namespace, and without statistics (a table never
 * analyzed, or analyzed when it held a few rows) the planner guesses that a
 * namespace holds half a percent of the rows: a burst of runs then gets
 * plans that read every run of the namespace for each batch of writes (a
 * hash join over a scan instead of key lookups), and the work per run grows
 * with the backlog. Autovacuum analyzes a table only after its next nap (a
 * minute by default); workers look every few seconds, and analyze a table
 * that changed by more than half since it was last analyzed.
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

/** Changes since the last analysis below which a table is left alone. */
const MIN_CHANGES = 1_000;

/** The tables whose statistics the claims' and writes' plans depend on. */
const TABLES = ["workflow_runs", "step_attempts"] as const;

/** What one backend remembers of its checks. */
export interface StatisticsState {
  /** When the last check started (`performance.now()`). */
  checkedAt: number;
  /** The check in progress, if any. */
  running: Promise<void> | null;
}

/**
 * Starts a check of the statistics of the tables of `schema` unless one
 * ran within {@linkcode STATISTICS_CHECK_INTERVAL_MS}; returns the check in
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
    now - state.checkedAt < STATISTICS_CHECK_INTERVAL_MS
  ) {
    return state.running;
  }
  state.checkedAt = now;
  state.running = analyzeChanged(sql, schema).catch(() => {}).finally(() => {
    state.running = null;
  });
  return state.running;
}

/**
 * Analyzes each table of `schema` that changed by more than half (and at
 * least {@linkcode MIN_CHANGES} rows) since it was last analyzed. One
 * process at a time, under a transaction-level advisory lock; ANALYZE
 * takes no lock that blocks reads or writes.
 */
async function analyzeChanged(sql: Sql, schema: string): Promise<void> {
  const rows = await sql`
    SELECT c.relname AS name FROM pg_class c
    WHERE c.oid IN (${
    sql.unsafe(TABLES.map((t) => `to_regclass('${schema}.${t}')`).join(", "))
  })
      AND pg_stat_get_mod_since_analyze(c.oid) >= ${MIN_CHANGES}
      AND pg_stat_get_mod_since_analyze(c.oid) > greatest(c.reltuples, 0) / 2`;
  if (rows.length === 0) return;
  await sql.begin(async (tx) => {
    const [{ locked }] = await tx`
      SELECT pg_try_advisory_xact_lock(hashtext(${`openworkflow:analyze:${schema}`})) AS locked`;
    if (locked !== true) return;
    // `name` is one of TABLES: the query read only those.
    for (const { name } of rows) await tx.unsafe(`ANALYZE ${schema}.${name}`);
  });
}
