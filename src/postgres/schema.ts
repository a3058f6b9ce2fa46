/**
 * The Postgres schema, as numbered migrations applied under an advisory
 * lock, so that any number of processes may connect at once.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import { SchemaVersionError } from "../core/errors.ts";
import { channelOf } from "./notifications.ts";

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
  // Flow-control gates: one row per concurrency key (the runs holding a
  // slot) and per rate-limit key and period (its latest first starts),
  // kept by triggers on every change of a run with a key, whatever the
  // statement. A claim locks the gates of the runs it would take (skipping
  // gates another claim holds) and so reads their newest counts in the
  // same statement that takes the runs: one statement per claim, however
  // many claims run at once.
  (s) => [
    `CREATE TABLE ${s}.flow_gates (
      namespace_id text NOT NULL,
      workflow_name text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('c', 'r')),
      key text NOT NULL,
      period_ms bigint NOT NULL,
      lim integer NOT NULL,
      used integer NOT NULL DEFAULT 0,
      starts timestamptz[] NOT NULL DEFAULT '{}',
      PRIMARY KEY (namespace_id, workflow_name, kind, key, period_ms)
    )`,
    `INSERT INTO ${s}.flow_gates
      (namespace_id, workflow_name, kind, key, period_ms, lim, used)
      SELECT namespace_id, workflow_name, 'c', concurrency_key, 0,
        max(concurrency_limit), count(*) FILTER (WHERE status = 'running')
      FROM ${s}.workflow_runs
      WHERE concurrency_key IS NOT NULL
        AND status IN ('pending', 'running', 'sleeping')
      GROUP BY namespace_id, workflow_name, concurrency_key`,
    `INSERT INTO ${s}.flow_gates
      (namespace_id, workflow_name, kind, key, period_ms, lim, starts)
      SELECT namespace_id, workflow_name, 'r', rate_key, rate_period_ms,
        max(rate_limit),
        coalesce((array_agg(started_at ORDER BY started_at DESC)
          FILTER (WHERE started_at IS NOT NULL))[1:max(rate_limit)], '{}')
      FROM ${s}.workflow_runs
      WHERE rate_key IS NOT NULL AND (
        (started_at IS NULL AND status IN ('pending', 'running', 'sleeping'))
        OR started_at > now() - rate_period_ms * interval '1 millisecond')
      GROUP BY namespace_id, workflow_name, rate_key, rate_period_ms`,
    `CREATE FUNCTION ${s}.flow_gates_follow() RETURNS trigger
      LANGUAGE plpgsql AS $$
      DECLARE
        freed boolean;
        started boolean;
        took boolean;
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.concurrency_key IS NOT NULL THEN
            INSERT INTO ${s}.flow_gates
              (namespace_id, workflow_name, kind, key, period_ms, lim)
              VALUES (NEW.namespace_id, NEW.workflow_name, 'c',
                NEW.concurrency_key, 0, NEW.concurrency_limit)
              ON CONFLICT DO NOTHING;
            UPDATE ${s}.flow_gates SET lim = NEW.concurrency_limit
              WHERE namespace_id = NEW.namespace_id
                AND workflow_name = NEW.workflow_name AND kind = 'c'
                AND key = NEW.concurrency_key AND period_ms = 0
                AND lim <> NEW.concurrency_limit;
          END IF;
          IF NEW.rate_key IS NOT NULL THEN
            INSERT INTO ${s}.flow_gates
              (namespace_id, workflow_name, kind, key, period_ms, lim)
              VALUES (NEW.namespace_id, NEW.workflow_name, 'r',
                NEW.rate_key, NEW.rate_period_ms, NEW.rate_limit)
              ON CONFLICT DO NOTHING;
            UPDATE ${s}.flow_gates SET lim = NEW.rate_limit
              WHERE namespace_id = NEW.namespace_id
                AND workflow_name = NEW.workflow_name AND kind = 'r'
                AND key = NEW.rate_key AND period_ms = NEW.rate_period_ms
                AND lim <> NEW.rate_limit;
          END IF;
        END IF;
        -- A run holds a slot of its concurrency key while it is running
        -- (also once its lease lapsed: a claim weighs such runs itself).
        IF TG_OP <> 'INSERT' THEN
          IF OLD.concurrency_key IS NOT NULL AND OLD.status = 'running' THEN
            IF TG_OP = 'DELETE' THEN
              freed := true;
            ELSE
              freed := NEW.status <> 'running';
            END IF;
            IF freed THEN
              UPDATE ${s}.flow_gates SET used = used - 1
                WHERE namespace_id = OLD.namespace_id
                  AND workflow_name = OLD.workflow_name AND kind = 'c'
                  AND key = OLD.concurrency_key AND period_ms = 0
                RETURNING used < lim AND used + 1 >= lim INTO freed;
              -- A full key has room again: workers look (claims skip
              -- full keys without reading their runs).
              IF freed THEN
                PERFORM pg_notify('${channelOf(s)}',
                  json_build_array('a', OLD.namespace_id)::text);
              END IF;
            END IF;
          END IF;
        END IF;
        IF TG_OP = 'DELETE' THEN
          RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' THEN
          started := NEW.started_at IS NOT NULL;
          took := NEW.status = 'running';
        ELSE
          started := OLD.started_at IS NULL AND NEW.started_at IS NOT NULL;
          took := OLD.status <> 'running' AND NEW.status = 'running';
        END IF;
        IF NEW.concurrency_key IS NOT NULL AND took THEN
          UPDATE ${s}.flow_gates SET used = used + 1
            WHERE namespace_id = NEW.namespace_id
              AND workflow_name = NEW.workflow_name AND kind = 'c'
              AND key = NEW.concurrency_key AND period_ms = 0;
        END IF;
        -- A rate limit counts first starts: the latest \`lim\` are kept.
        IF NEW.rate_key IS NOT NULL AND started THEN
          UPDATE ${s}.flow_gates g SET starts = (
              SELECT array_agg(t ORDER BY t DESC) FROM (
                SELECT t FROM unnest(g.starts || NEW.started_at) AS t
                ORDER BY t DESC LIMIT g.lim) AS latest)
            WHERE namespace_id = NEW.namespace_id
              AND workflow_name = NEW.workflow_name AND kind = 'r'
              AND key = NEW.rate_key AND period_ms = NEW.rate_period_ms;
        END IF;
        RETURN NULL;
      END $$`,
    `CREATE TRIGGER flow_gates_insert AFTER INSERT ON ${s}.workflow_runs
      FOR EACH ROW
      WHEN (NEW.concurrency_key IS NOT NULL OR NEW.rate_key IS NOT NULL)
      EXECUTE FUNCTION ${s}.flow_gates_follow()`,
    `CREATE TRIGGER flow_gates_update
      AFTER UPDATE OF status, started_at ON ${s}.workflow_runs
      FOR EACH ROW
      WHEN ((NEW.concurrency_key IS NOT NULL
          AND (OLD.status = 'running') <> (NEW.status = 'running'))
        OR (NEW.rate_key IS NOT NULL AND OLD.started_at IS NULL
          AND NEW.started_at IS NOT NULL))
      EXECUTE FUNCTION ${s}.flow_gates_follow()`,
    `CREATE TRIGGER flow_gates_delete AFTER DELETE ON ${s}.workflow_runs
      FOR EACH ROW
      WHEN (OLD.concurrency_key IS NOT NULL AND OLD.status = 'running')
      EXECUTE FUNCTION ${s}.flow_gates_follow()`,
    // Rate limits are counted in their gates now.
    `DROP INDEX ${s}.workflow_runs_rate_started`,
  ],
  // Operations: forks, retention by completion time, what belongs to a run
  // found by its id (to delete it with the run), maintenance locks.
  (s) => [
    `ALTER TABLE ${s}.workflow_runs
      ADD COLUMN forked_from_workflow_run_id uuid`,
    `CREATE INDEX workflow_runs_finished ON ${s}.workflow_runs
      (namespace_id, completed_at)
      WHERE status IN ('succeeded', 'failed', 'canceled')`,
    `CREATE INDEX signals_run ON ${s}.signals (namespace_id, workflow_run_id)
      WHERE workflow_run_id IS NOT NULL`,
    `CREATE INDEX signal_deliveries_run ON ${s}.signal_deliveries
      (namespace_id, workflow_run_id)`,
    `CREATE TABLE ${s}.maintenance_locks (
      namespace_id text NOT NULL,
      name text NOT NULL,
      owner_id text NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (namespace_id, name)
    )`,
  ],
  // The index of every unfinished run by availability is split in two:
  // runs that wait (the next due time), and runs a worker holds (leases
  // that lapsed). A claim then has only the claim indexes, which give its
  // order, to choose from: with the old index, a table without statistics
  // yet (a burst into a fresh database) was claimed by reading every
  // claimable run and sorting them, each claim.
  (s) => [
    `CREATE INDEX workflow_runs_waiting ON ${s}.workflow_runs
      (namespace_id, available_at)
      WHERE status IN ('pending', 'sleeping')`,
    // `available_at IS NOT NULL` (always true) is implied only where a
    // statement compares `available_at` (lapsed leases): the writes fenced
    // by `status = 'running'` cannot scan this index instead of looking
    // their runs up by key.
    `CREATE INDEX workflow_runs_leased ON ${s}.workflow_runs
      (namespace_id, available_at)
      WHERE status = 'running' AND available_at IS NOT NULL`,
    `DROP INDEX ${s}.workflow_runs_claimable`,
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
