/**
 * The side-effect ledger of the chaos harness: a table, next to the
 * engine's tables in the same database, into which every step function
 * invocation inserts one row before it does anything else.
 *
 * The check that no completed step runs again rests on one column,
 * `after_success`. The insert computes it in the same statement (Postgres,
 * read committed: the statement's snapshot) or the same write transaction
 * (SQLite, `BEGIN IMMEDIATE`: serialized with every engine write) as
 * "does this step already have a `succeeded` attempt?". The database is
 * the arbiter, so the answer does not depend on any process's clock: a row
 * with `after_success = true` is a side effect committed after the engine
 * had recorded that step as succeeded, i.e. a completed step executed
 * again. Because the insert is the first thing a step function does, a
 * legitimate re-execution (the earlier owner crashed before its success
 * was recorded) always inserts before the success is recorded and reads
 * `false`.
 *
 * `inserted_at` (the database clock on Postgres, the machine clock the
 * SQLite backend also uses) gives a second, independent check against the
 * succeeded attempt's `completed_at`.
 */

import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import type { EffectRecorder, SideEffect } from "./workflows.ts";

/** The ledger's table name, in both databases. */
export const EFFECTS_TABLE = "chaos_side_effects";

/** Creates the ledger in a Postgres database. */
export const POSTGRES_EFFECTS_DDL =
  `CREATE TABLE IF NOT EXISTS ${EFFECTS_TABLE} (
  effect_id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  run_id uuid NOT NULL,
  step_name text NOT NULL,
  worker_id text NOT NULL,
  attempt integer NOT NULL,
  inserted_at timestamptz NOT NULL,
  after_success boolean NOT NULL
)`;

/** Creates the ledger in a SQLite database. */
export const SQLITE_EFFECTS_DDL = `CREATE TABLE IF NOT EXISTS ${EFFECTS_TABLE} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  effect_id TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL,
  step_name TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  inserted_at INTEGER NOT NULL,
  after_success INTEGER NOT NULL
)`;

/** An {@linkcode EffectRecorder} that can be closed. */
export interface EffectLedger extends EffectRecorder {
  /** Closes the ledger's connection. */
  close(): Promise<void>;
}

/**
 * Records side effects in a Postgres database whose engine schema is
 * `openworkflow`. One attempt per side effect: an error (a dropped
 * connection, a restarting server) fails the step attempt, which the engine
 * retries.
 */
export function postgresLedger(
  url: string,
  namespaceId: string,
  workerId: string,
): EffectLedger {
  // fetch_types off: postgres.js 3.4.9 lets a connection killed while it
  // fetches array types escape as an unhandled rejection (porsager/postgres
  // #1192, #1223), which would crash this process on a dropped connection.
  const sql = postgres(url, {
    max: 2,
    onnotice: () => {},
    connect_timeout: 5,
    fetch_types: false,
  });
  return {
    async record(effect: SideEffect): Promise<void> {
      await sql`
        INSERT INTO ${sql(EFFECTS_TABLE)} (
          effect_id, run_id, step_name, worker_id, attempt, inserted_at,
          after_success
        ) VALUES (
          ${crypto.randomUUID()}, ${effect.runId}, ${effect.stepName},
          ${workerId}, ${effect.attempt}, clock_timestamp(),
          EXISTS (
            SELECT 1 FROM openworkflow.step_attempts
            WHERE namespace_id = ${namespaceId}
              AND workflow_run_id = ${effect.runId}
              AND step_name = ${effect.stepName} AND status = 'succeeded'
          )
        )`;
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 1 });
    },
  };
}

/**
 * Records side effects in the SQLite database file the engine uses, through
 * a connection of its own that never blocks on a lock: a busy database is
 * retried on a timer, as the engine's own connection does.
 */
export function sqliteLedger(
  path: string,
  namespaceId: string,
  workerId: string,
): EffectLedger {
  const db = new DatabaseSync(path, { timeout: 0 });
  const insert = db.prepare(
    `INSERT INTO ${EFFECTS_TABLE} (
      effect_id, run_id, step_name, worker_id, attempt, inserted_at,
      after_success
    ) VALUES (
      :id, :run, :step, :worker, :attempt, :now,
      EXISTS (
        SELECT 1 FROM openworkflow_step_attempts
        WHERE namespace_id = :ns AND workflow_run_id = :run
          AND step_name = :step AND status = 'succeeded'
      )
    )`,
  );
  return {
    async record(effect: SideEffect): Promise<void> {
      const params = {
        id: crypto.randomUUID(),
        run: effect.runId,
        step: effect.stepName,
        worker: workerId,
        attempt: effect.attempt,
        ns: namespaceId,
      };
      await retryBusy(() => {
        db.exec("BEGIN IMMEDIATE");
        try {
          insert.run({ ...params, now: Date.now() });
          db.exec("COMMIT");
        } catch (error) {
          if (db.isTransaction) db.exec("ROLLBACK");
          throw error;
        }
      });
    },
    close(): Promise<void> {
      db.close();
      return Promise.resolve();
    },
  };
}

/** Whether a `node:sqlite` error means "locked, try again". */
export function isSqliteBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  if (typeof code === "number") {
    return (code & 0xff) === 5 || (code & 0xff) === 6;
  }
  return error instanceof Error && /database .*is locked/.test(error.message);
}

/** Runs `fn`, retrying on a timer while the SQLite database is locked. */
export async function retryBusy<T>(fn: () => T, limitMs = 20_000): Promise<T> {
  const startedAt = performance.now();
  for (let retries = 0;; retries++) {
    try {
      return fn();
    } catch (error) {
      if (!isSqliteBusy(error) || performance.now() - startedAt > limitMs) {
        throw error;
      }
      const capMs = Math.min(2 * 2 ** retries, 40);
      await new Promise((resolve) =>
        setTimeout(resolve, 1 + Math.random() * capMs)
      );
    }
  }
}
