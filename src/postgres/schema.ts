/**
 * The Postgres schema, as numbered migrations applied under an advisory
 * lock, so that any number of processes may connect at once.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import { SchemaVersionError } from "../core/errors.ts";

/** A schema name: a plain lower-case SQL identifier. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Each migration: statements run in one transaction, in order. */
export const MIGRATIONS: ReadonlyArray<(schema: string) => string[]> = [
  (s) => [
    `CREATE TABLE ${s}.workflow_runs (
      namespace_id text NOT NULL,
      id uuid NOT NULL,
      workflow_name text NOT NULL,
      version text,
      status text NOT NULL CHECK (status IN
        ('pending', 'running', 'sleeping', 'succeeded', 'failed', 'canceled')),
      idempotency_key text,
      worker_id text,
      config json NOT NULL,
      context json,
      input json,
      output json,
      error json,
      attempts integer NOT NULL DEFAULT 0,
      available_at timestamptz NOT NULL,
      deadline_at timestamptz,
      started_at timestamptz,
      completed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (namespace_id, id)
    )`,
    // Claims scan only unfinished runs, in availability order.
    `CREATE INDEX workflow_runs_claimable ON ${s}.workflow_runs
      (namespace_id, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')`,
    `CREATE INDEX workflow_runs_deadline ON ${s}.workflow_runs
      (namespace_id, deadline_at)
      WHERE deadline_at IS NOT NULL
        AND status IN ('pending', 'running', 'sleeping')`,
    `CREATE UNIQUE INDEX workflow_runs_idempotency ON ${s}.workflow_runs
      (namespace_id, workflow_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL`,
    `CREATE INDEX workflow_runs_created ON ${s}.workflow_runs
      (namespace_id, created_at DESC, id DESC)`,
    `CREATE INDEX workflow_runs_name_created ON ${s}.workflow_runs
      (namespace_id, workflow_name, created_at DESC, id DESC)`,
    `CREATE TABLE ${s}.step_attempts (
      namespace_id text NOT NULL,
      id uuid NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      workflow_run_id uuid NOT NULL,
      step_name text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('run', 'sleep')),
      status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      config json NOT NULL,
      context json,
      output json,
      error json,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      completed_at timestamptz,
      PRIMARY KEY (namespace_id, id)
    )`,
    `CREATE INDEX step_attempts_run ON ${s}.step_attempts
      (namespace_id, workflow_run_id, seq)`,
  ],
  // Claims by workflow: runs of workflows a worker does not have are never
  // scanned.
  (s) => [
    `CREATE INDEX workflow_runs_claimable_by_workflow ON ${s}.workflow_runs
      (namespace_id, workflow_name, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')`,
  ],
  // Signals and child workflows: parent links, wake-ups, the step kinds of
  // signals and children, the signals and their deliveries.
  (s) => [
    `ALTER TABLE ${s}.workflow_runs
      ADD COLUMN parent_workflow_run_id uuid,
      ADD COLUMN detached boolean NOT NULL DEFAULT false,
      ADD COLUMN wake_requested boolean NOT NULL DEFAULT false`,
    `CREATE INDEX workflow_runs_parent ON ${s}.workflow_runs
      (namespace_id, parent_workflow_run_id)
      WHERE parent_workflow_run_id IS NOT NULL`,
    `ALTER TABLE ${s}.step_attempts
      DROP CONSTRAINT step_attempts_kind_check,
      ADD CONSTRAINT step_attempts_kind_check CHECK (kind IN
        ('run', 'sleep', 'signal-wait', 'signal-send', 'workflow'))`,
    // The runs waiting for a signal, found by its name.
    `CREATE INDEX step_attempts_signal_wait ON ${s}.step_attempts
      (namespace_id, (config ->> 'signal'))
      WHERE kind = 'signal-wait' AND status = 'running'`,
    `CREATE TABLE ${s}.signals (
      namespace_id text NOT NULL,
      id uuid NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      signal text NOT NULL,
      workflow_run_id uuid,
      data json,
      idempotency_key text,
      outcome json NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (namespace_id, id)
    )`,
    `CREATE UNIQUE INDEX signals_idempotency ON ${s}.signals
      (namespace_id, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    `CREATE INDEX signals_mailbox ON ${s}.signals
      (namespace_id, signal, workflow_run_id, seq)`,
    `CREATE TABLE ${s}.signal_deliveries (
      namespace_id text NOT NULL,
      signal_id uuid NOT NULL,
      workflow_run_id uuid NOT NULL,
      step_attempt_id uuid NOT NULL,
      delivered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (namespace_id, signal_id, workflow_run_id)
    )`,
    `CREATE INDEX signal_deliveries_attempt ON ${s}.signal_deliveries
      (namespace_id, step_attempt_id)`,
  ],
  // Cron schedules.
  (s) => [
    `CREATE TABLE ${s}.schedules (
      namespace_id text NOT NULL,
      id text NOT NULL,
      workflow_name text NOT NULL,
      version text,
      cron text NOT NULL,
      timezone text NOT NULL,
      input json,
      catch_up text NOT NULL CHECK (catch_up IN ('latest', 'none', 'all')),
      paused boolean NOT NULL DEFAULT false,
      next_run_at timestamptz NOT NULL,
      last_run_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (namespace_id, id)
    )`,
    `CREATE INDEX schedules_due ON ${s}.schedules (namespace_id, next_run_at)
      WHERE NOT paused`,
  ],
  // Flow control: priorities, concurrency keys and rate-limit keys. A run
  // with a key is claimed through its key's index, so that a busy key holds
  // up no other key, however many runs wait behind it.
  (s) => [
    `ALTER TABLE ${s}.workflow_runs
      ADD COLUMN priority integer NOT NULL DEFAULT 0,
      ADD COLUMN concurrency_key text,
      ADD COLUMN concurrency_limit integer,
      ADD COLUMN rate_key text,
      ADD COLUMN rate_limit integer,
      ADD COLUMN rate_period_ms bigint`,
    // Replaced by the indexes below: claims go by priority now.
    `DROP INDEX IF EXISTS ${s}.workflow_runs_claimable_by_workflow`,
    `CREATE INDEX workflow_runs_free ON ${s}.workflow_runs
      (namespace_id, workflow_name, priority DESC, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NULL
        AND (rate_key IS NULL OR started_at IS NOT NULL)`,
    `CREATE INDEX workflow_runs_concurrency ON ${s}.workflow_runs
      (namespace_id, workflow_name, concurrency_key, priority DESC,
        available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NOT NULL`,
    `CREATE INDEX workflow_runs_concurrency_running ON ${s}.workflow_runs
      (namespace_id, workflow_name, concurrency_key, available_at)
      WHERE status = 'running' AND concurrency_key IS NOT NULL`,
    `CREATE INDEX workflow_runs_rate ON ${s}.workflow_runs
      (namespace_id, workflow_name, rate_key, priority DESC, available_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND rate_key IS NOT NULL AND started_at IS NULL
        AND concurrency_key IS NULL`,
    `CREATE INDEX workflow_runs_rate_started ON ${s}.workflow_runs
      (namespace_id, workflow_name, rate_key, started_at)
      WHERE rate_key IS NOT NULL AND started_at IS NOT NULL`,
  ],
  // The claim indexes end with the creation time, so that runs made
  // available at the same moment (a batch) come out in order without a
  // sort of them all.
  (s) => [
    `DROP INDEX IF EXISTS ${s}.workflow_runs_claimable_by_workflow`,
    `DROP INDEX ${s}.workflow_runs_free`,
    `DROP INDEX ${s}.workflow_runs_concurrency`,
    `DROP INDEX ${s}.workflow_runs_rate`,
    `CREATE INDEX workflow_runs_free ON ${s}.workflow_runs
      (namespace_id, workflow_name, priority DESC, available_at, created_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NULL
        AND (rate_key IS NULL OR started_at IS NOT NULL)`,
    `CREATE INDEX workflow_runs_concurrency ON ${s}.workflow_runs
      (namespace_id, workflow_name, concurrency_key, priority DESC,
        available_at, created_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND concurrency_key IS NOT NULL`,
    `CREATE INDEX workflow_runs_rate ON ${s}.workflow_runs
      (namespace_id, workflow_name, rate_key, priority DESC, available_at,
        created_at)
      WHERE status IN ('pending', 'running', 'sleeping')
        AND rate_key IS NOT NULL AND started_at IS NULL
        AND concurrency_key IS NULL`,
  ],
];

/** The newest schema version this library knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Creates or upgrades the schema. Safe to call from many processes at once:
 * the work happens in one transaction under an advisory lock.
 *
 * @throws {SchemaVersionError} when the database is newer than this library.
 */
export async function migrate(sql: Sql, schema: string): Promise<void> {
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new TypeError(`Invalid schema name ${JSON.stringify(schema)}`);
  }
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${
      "openworkflow:" + schema
    }))`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const [{ version }] = await tx.unsafe<{ version: number }[]>(
      `SELECT coalesce(max(version), 0)::int AS version FROM ${schema}.schema_migrations`,
    );
    if (version > SCHEMA_VERSION) {
      throw new SchemaVersionError(`schema ${schema}`, version, SCHEMA_VERSION);
    }
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      for (const statement of MIGRATIONS[next - 1](schema)) {
        await tx.unsafe(statement);
      }
      await tx.unsafe(
        `INSERT INTO ${schema}.schema_migrations (version) VALUES (${next})`,
      );
    }
  });
}
