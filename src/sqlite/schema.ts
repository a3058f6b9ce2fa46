/**
 * The SQLite schema, as numbered migrations recorded in a
 * `openworkflow_schema_migrations` table and applied in one `BEGIN
 * IMMEDIATE` transaction, so that any number of processes may open the same
 * file at once.
 *
 * Times are integer epoch milliseconds; JSON values are `TEXT`. Every table
 * has an autoincrement `seq`, which orders rows created in the same
 * millisecond by commit order.
 *
 * @module
 */

import { SchemaVersionError } from "../core/errors.ts";
import type { SqliteConnection } from "./connection.ts";

/** The table that records the applied migrations. */
const MIGRATIONS_TABLE = "openworkflow_schema_migrations";

/** Each migration: statements run in one transaction, in order. */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE openworkflow_workflow_runs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      namespace_id TEXT NOT NULL,
      id TEXT NOT NULL,
      workflow_name TEXT NOT NULL,
      version TEXT,
      status TEXT NOT NULL CHECK (status IN
        ('pending', 'running', 'sleeping', 'succeeded', 'failed', 'canceled')),
      idempotency_key TEXT,
      worker_id TEXT,
      config TEXT NOT NULL,
      context TEXT,
      input TEXT,
      output TEXT,
      error TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      available_at INTEGER NOT NULL,
      deadline_at INTEGER,
      started_at INTEGER,
      completed_at INTEGER,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      UNIQUE (namespace_id, id)
    )`,
    // Claims scan only unfinished runs, in availability order.
    `CREATE INDEX openworkflow_workflow_runs_claimable
      ON openworkflow_workflow_runs (namespace_id, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')`,
    `CREATE INDEX openworkflow_workflow_runs_deadline
      ON openworkflow_workflow_runs (namespace_id, deadline_at)
      WHERE deadline_at IS NOT NULL
        AND status IN ('pending', 'running', 'sleeping')`,
    `CREATE UNIQUE INDEX openworkflow_workflow_runs_idempotency
      ON openworkflow_workflow_runs (namespace_id, workflow_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL`,
    `CREATE INDEX openworkflow_workflow_runs_created
      ON openworkflow_workflow_runs (namespace_id, created_at DESC, seq DESC)`,
    `CREATE INDEX openworkflow_workflow_runs_name_created
      ON openworkflow_workflow_runs
        (namespace_id, workflow_name, created_at DESC, seq DESC)`,
    `CREATE TABLE openworkflow_step_attempts (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      namespace_id TEXT NOT NULL,
      id TEXT NOT NULL,
      workflow_run_id TEXT NOT NULL,
      step_name TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('run', 'sleep')),
      status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      config TEXT NOT NULL,
      context TEXT,
      output TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      completed_at INTEGER,
      UNIQUE (namespace_id, id)
    )`,
    `CREATE INDEX openworkflow_step_attempts_run
      ON openworkflow_step_attempts (namespace_id, workflow_run_id, seq)`,
  ],
  // Claims by workflow: runs of workflows a worker does not have are never
  // scanned.
  [
    `CREATE INDEX openworkflow_workflow_runs_claimable_by_workflow
      ON openworkflow_workflow_runs (namespace_id, workflow_name, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')`,
  ],
  // Signals and child workflows: parent links, wake-ups, the step kinds of
  // signals and children (SQLite cannot change a CHECK constraint: the
  // table is rebuilt), the signals and their deliveries.
  [
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN parent_workflow_run_id TEXT`,
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN detached INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN wake_requested INTEGER NOT NULL DEFAULT 0`,
    `CREATE INDEX openworkflow_workflow_runs_parent
      ON openworkflow_workflow_runs (namespace_id, parent_workflow_run_id)
      WHERE parent_workflow_run_id IS NOT NULL`,
    `CREATE TABLE openworkflow_step_attempts_v3 (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      namespace_id TEXT NOT NULL,
      id TEXT NOT NULL,
      workflow_run_id TEXT NOT NULL,
      step_name TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN
        ('run', 'sleep', 'signal-wait', 'signal-send', 'workflow')),
      status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      config TEXT NOT NULL,
      context TEXT,
      output TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      completed_at INTEGER,
      UNIQUE (namespace_id, id)
    )`,
    `INSERT INTO openworkflow_step_attempts_v3 SELECT * FROM openworkflow_step_attempts`,
    `DROP TABLE openworkflow_step_attempts`,
    `ALTER TABLE openworkflow_step_attempts_v3
      RENAME TO openworkflow_step_attempts`,
    `CREATE INDEX openworkflow_step_attempts_run
      ON openworkflow_step_attempts (namespace_id, workflow_run_id, seq)`,
    // The runs waiting for a signal, found by its name.
    `CREATE INDEX openworkflow_step_attempts_signal_wait
      ON openworkflow_step_attempts
        (namespace_id, json_extract(config, '$.signal'))
      WHERE kind = 'signal-wait' AND status = 'running'`,
    `CREATE TABLE openworkflow_signals (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      namespace_id TEXT NOT NULL,
      id TEXT NOT NULL,
      signal TEXT NOT NULL,
      workflow_run_id TEXT,
      data TEXT,
      idempotency_key TEXT,
      outcome TEXT NOT NULL,
      runs_before INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      UNIQUE (namespace_id, id)
    )`,
    `CREATE UNIQUE INDEX openworkflow_signals_idempotency
      ON openworkflow_signals (namespace_id, idempotency_key)
      WHERE idempotency_key IS NOT NULL`,
    `CREATE INDEX openworkflow_signals_mailbox
      ON openworkflow_signals (namespace_id, signal, workflow_run_id, seq)`,
    `CREATE TABLE openworkflow_signal_deliveries (
      namespace_id TEXT NOT NULL,
      signal_id TEXT NOT NULL,
      workflow_run_id TEXT NOT NULL,
      step_attempt_id TEXT NOT NULL,
      delivered_at INTEGER NOT NULL,
      PRIMARY KEY (namespace_id, signal_id, workflow_run_id)
    )`,
    `CREATE INDEX openworkflow_signal_deliveries_attempt
      ON openworkflow_signal_deliveries (namespace_id, step_attempt_id)`,
  ],
  // Cron schedules.
  [
    `CREATE TABLE openworkflow_schedules (
      namespace_id TEXT NOT NULL,
      id TEXT NOT NULL,
      workflow_name TEXT NOT NULL,
      version TEXT,
      cron TEXT NOT NULL,
      timezone TEXT NOT NULL,
      input TEXT,
      catch_up TEXT NOT NULL CHECK (catch_up IN ('latest', 'none', 'all')),
      paused INTEGER NOT NULL DEFAULT 0,
      next_run_at INTEGER NOT NULL,
      last_run_at INTEGER,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (namespace_id, id)
    )`,
    `CREATE INDEX openworkflow_schedules_due
      ON openworkflow_schedules (namespace_id, next_run_at) WHERE paused = 0`,
  ],
  // Flow control: priorities, concurrency keys and rate-limit keys. A run
  // with a key is claimed through its key's index, so that a busy key holds
  // up no other key, however many runs wait behind it.
  [
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN priority INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE openworkflow_workflow_runs ADD COLUMN concurrency_key TEXT`,
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN concurrency_limit INTEGER`,
    `ALTER TABLE openworkflow_workflow_runs ADD COLUMN rate_key TEXT`,
    `ALTER TABLE openworkflow_workflow_runs ADD COLUMN rate_limit INTEGER`,
    `ALTER TABLE openworkflow_workflow_runs ADD COLUMN rate_period_ms INTEGER`,
    // Replaced by the indexes below: claims go by priority now.
    `DROP INDEX openworkflow_workflow_runs_claimable_by_workflow`,
    `CREATE INDEX openworkflow_workflow_runs_free
      ON openworkflow_workflow_runs
        (namespace_id, workflow_name, priority DESC, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NULL
        AND (rate_key IS NULL OR started_at IS NOT NULL)`,
    `CREATE INDEX openworkflow_workflow_runs_concurrency
      ON openworkflow_workflow_runs (namespace_id, workflow_name,
        concurrency_key, priority DESC, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NOT NULL`,
    `CREATE INDEX openworkflow_workflow_runs_concurrency_running
      ON openworkflow_workflow_runs (namespace_id, workflow_name,
        concurrency_key, available_at)
      WHERE status = 'running' AND concurrency_key IS NOT NULL`,
    `CREATE INDEX openworkflow_workflow_runs_rate
      ON openworkflow_workflow_runs (namespace_id, workflow_name, rate_key,
        priority DESC, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND rate_key IS NOT NULL AND started_at IS NULL
        AND concurrency_key IS NULL`,
    `CREATE INDEX openworkflow_workflow_runs_rate_started
      ON openworkflow_workflow_runs (namespace_id, workflow_name, rate_key,
        started_at)
      WHERE rate_key IS NOT NULL AND started_at IS NOT NULL`,
  ],
  // Operations: forks, retention by completion time, what belongs to a run
  // found by its id (to delete it with the run), maintenance locks.
  [
    `ALTER TABLE openworkflow_workflow_runs
      ADD COLUMN forked_from_workflow_run_id TEXT`,
    `CREATE INDEX openworkflow_workflow_runs_finished
      ON openworkflow_workflow_runs (namespace_id, completed_at)
      WHERE status IN ('succeeded', 'failed', 'canceled')`,
    `CREATE INDEX openworkflow_signals_run
      ON openworkflow_signals (namespace_id, workflow_run_id)
      WHERE workflow_run_id IS NOT NULL`,
    `CREATE INDEX openworkflow_signal_deliveries_run
      ON openworkflow_signal_deliveries (namespace_id, workflow_run_id)`,
    `CREATE TABLE openworkflow_maintenance_locks (
      namespace_id TEXT NOT NULL,
      name TEXT NOT NULL,
      owner_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (namespace_id, name)
    )`,
  ],
];

/** The newest schema version this library knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Reads the schema version: 0 for a database without the library's tables.
 * Also the first read of a new connection, so a file that is not a SQLite
 * database fails here, before anything is written.
 */
function readSchemaVersion(connection: SqliteConnection): number {
  const table = connection.get(
    "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = :name",
    { name: MIGRATIONS_TABLE },
  );
  if (table === undefined) return 0;
  const row = connection.get(
    `SELECT coalesce(max(version), 0) AS version FROM ${MIGRATIONS_TABLE}`,
  );
  return Number(row?.version ?? 0);
}

function checkSchemaVersion(location: string, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new SchemaVersionError(location, version, SCHEMA_VERSION);
  }
}

/**
 * Prepares a newly opened connection: checks the schema version, turns on
 * WAL mode and full synchronous commits, checks that the file may be
 * written, and applies the missing migrations. Nothing is written to a
 * database that is not a SQLite database or whose schema is newer than this
 * library.
 *
 * @throws {SchemaVersionError} when the schema is newer than this library.
 * @throws {BackendError} when the database cannot be read or written.
 */
export async function prepareDatabase(
  connection: SqliteConnection,
): Promise<void> {
  const location = connection.location;
  const found = await connection.read(
    "open",
    () => readSchemaVersion(connection),
  );
  checkSchemaVersion(location, found);
  // WAL lets readers go on while one writer commits. Switching a file to
  // WAL needs a moment of exclusive access; busy errors are retried.
  // In-memory databases answer "memory" and stay as they are.
  await connection.read(
    "open",
    () => connection.get("PRAGMA journal_mode = WAL", {}, false),
  );
  connection.get("PRAGMA synchronous = FULL", {}, false);
  // Always a write transaction, even with nothing to migrate: a file that
  // may not be written opens read-only without complaint, and fails here.
  await connection.write("open", () => {
    connection.run(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
        version INTEGER PRIMARY KEY,
        applied_at INTEGER NOT NULL
      )`,
      {},
      false,
    );
    // Changes nothing, but needs write access to the file.
    connection.run(`DELETE FROM ${MIGRATIONS_TABLE} WHERE 0`, {}, false);
    // Another process may have migrated since the first read.
    const version = readSchemaVersion(connection);
    checkSchemaVersion(location, version);
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      for (const statement of MIGRATIONS[next - 1]) {
        connection.run(statement, {}, false);
      }
      connection.run(
        `INSERT INTO ${MIGRATIONS_TABLE} (version, applied_at)
          VALUES (:version, :now)`,
        { version: next, now: Date.now() },
        false,
      );
    }
  });
}
