/**
 * Bulk-loads history into the engine's tables with SQL, for the history
 * benchmark: finished runs with their step attempts, and unfinished runs.
 * The tables must exist (the backend's `connect()` creates them).
 *
 * @module
 */

import type { Sql, TransactionSql } from "postgres";
import type { DatabaseSync } from "node:sqlite";

/** A batch of unfinished runs to load. */
export interface UnfinishedRuns {
  namespaceId: string;
  workflowName: string;
  status: "pending" | "sleeping";
  count: number;
  /** Seconds from now until the runs are due (negative: overdue). */
  dueInSeconds: number;
}

/** Statuses and outputs of the finished runs: mostly successes. */
const FINISHED_STATUS_PG = `CASE WHEN i % 50 = 0 THEN 'failed'
  WHEN i % 97 = 0 THEN 'canceled' ELSE 'succeeded' END`;
const ERROR_JSON =
  `{"name":"Error","message":"boom","stack":"Error: boom\\n    at step (file:///app/workflows.ts:12:11)"}`;
const STEP_CONFIG =
  `{"retry":{"maxAttempts":3,"initialIntervalMs":1000,"backoffCoefficient":2,"maxIntervalMs":100000,"jitter":0.2}}`;

/**
 * Inserts `runs` finished runs of namespace `namespaceId` (created over the
 * last weeks, one every 2 s, of `workflowNames` in turn), and
 * `stepsPerRun` finished step attempts for each, in one transaction (a
 * server restart leaves nothing half done).
 *
 * Bulk-load style: the tables' indexes are dropped, the rows inserted, and
 * the indexes built again from their exact definitions, which takes
 * seconds where millions of inserts at random places of them take
 * minutes. Ids are random-looking UUIDs made by `md5` of a per-load salt
 * and the row number (`gen_random_uuid()` costs ~4 µs a call here, `md5`
 * ~0.2 µs), so that the attempts can be generated without reading the
 * runs back.
 */
export async function loadFinishedPostgres(
  sql: Sql,
  schema: string,
  options: {
    namespaceId: string;
    runs: number;
    stepsPerRun: number;
    workflowNames: readonly string[];
    log?: (line: string) => void;
  },
): Promise<void> {
  const { namespaceId, runs, stepsPerRun, workflowNames } = options;
  let startedAt = performance.now();
  const lap = (what: string) => {
    const now = performance.now();
    options.log?.(`${what}: ${((now - startedAt) / 1000).toFixed(1)} s`);
    startedAt = now;
  };
  const salt = crypto.randomUUID();
  const sequence = `pg_get_serial_sequence('${schema}.step_attempts', 'seq')`;
  // Row i was created at now() - (runs - i + 3600) * 2 s.
  const at = `now() - ($1::int - i + 3600) * interval '2 seconds'`;
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL synchronous_commit = off`);
    await tx.unsafe(`SET LOCAL maintenance_work_mem = '256MB'`);
    const indexes = await dropIndexes(tx, schema);
    await tx.unsafe(
      `INSERT INTO ${schema}.workflow_runs (
        namespace_id, id, workflow_name, version, status, idempotency_key,
        worker_id, config, context, input, output, error, attempts,
        available_at, deadline_at, started_at, completed_at, created_at,
        updated_at)
      SELECT $2, md5($3 || 'r' || i)::uuid,
        ($4::text[])[1 + i % cardinality($4::text[])],
        NULL, status, CASE WHEN i % 10 = 0 THEN 'key-' || i END,
        'history-worker', '{}'::json, NULL, json_build_object('orderId', i),
        CASE WHEN status = 'succeeded' THEN '{"ok":true}'::json END,
        CASE WHEN status = 'failed' THEN $5::json END,
        1, ${at} + interval '30 seconds', NULL, ${at},
        ${at} + interval '1 second', ${at}, ${at} + interval '1 second'
      FROM (SELECT i, ${FINISHED_STATUS_PG} AS status
        FROM generate_series(1, $1::int) AS i) AS g`,
      [runs, namespaceId, salt, [...workflowNames], ERROR_JSON],
    );
    if (stepsPerRun > 0) {
      // Explicit seq values (one nextval per row is slow); the identity
      // is moved past them afterwards.
      const [{ base }] = await tx.unsafe(
        `SELECT nextval(${sequence})::text AS base`,
      );
      await tx.unsafe(
        `INSERT INTO ${schema}.step_attempts (
          namespace_id, id, seq, workflow_run_id, step_name, kind, status,
          config, context, output, error, created_at, completed_at)
        OVERRIDING SYSTEM VALUE
        SELECT $2, md5($3 || 's' || i || '.' || n)::uuid,
          $6::bigint + (i - 1) * $4::int + n, run_id,
          'step-' || n, 'run', 'succeeded', $5::json, NULL, to_json(n), NULL,
          ${at} + n * interval '100 milliseconds',
          ${at} + n * interval '100 milliseconds' + interval '5 milliseconds'
        FROM (SELECT i, md5($3 || 'r' || i)::uuid AS run_id
          FROM generate_series(1, $1::int) AS i) AS g,
          generate_series(1, $4::int) AS n`,
        [runs, namespaceId, salt, stepsPerRun, STEP_CONFIG, base],
      );
      await tx.unsafe(`SELECT setval(${sequence}, $1::bigint)`, [
        String(BigInt(base) + BigInt(runs) * BigInt(stepsPerRun)),
      ]);
    }
    lap(`${runs} finished runs, ${runs * stepsPerRun} step attempts inserted`);
    // Postgres builds each index with parallel workers itself.
    for (const create of indexes) await tx.unsafe(create);
    lap("indexes built");
  });
}

/**
 * Drops the indexes (and primary keys) of the engine's tables; returns the
 * statements that create them again, from their exact definitions.
 */
async function dropIndexes(
  tx: TransactionSql,
  schema: string,
): Promise<string[]> {
  const rows = await tx.unsafe(
    `SELECT t.relname AS table_name, i.relname AS index_name,
      pg_get_indexdef(x.indexrelid) AS index_def,
      c.conname, pg_get_constraintdef(c.oid) AS constraint_def
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    LEFT JOIN pg_constraint c
      ON c.conindid = x.indexrelid AND c.contype = 'p'
    WHERE t.relnamespace = $1::regnamespace
      AND t.relname IN ('workflow_runs', 'step_attempts')`,
    [schema],
  );
  for (const row of rows) {
    await tx.unsafe(
      row.conname === null
        ? `DROP INDEX ${schema}.${row.index_name}`
        : `ALTER TABLE ${schema}.${row.table_name} DROP CONSTRAINT ${row.conname}`,
    );
  }
  return rows.map((row) =>
    row.conname === null
      ? String(row.index_def)
      : `ALTER TABLE ${schema}.${row.table_name}
        ADD CONSTRAINT ${row.conname} ${row.constraint_def}`
  );
}

/** Inserts unfinished runs (no step attempts). */
export async function loadUnfinishedPostgres(
  sql: Sql | TransactionSql,
  schema: string,
  batch: UnfinishedRuns,
): Promise<void> {
  await sql.unsafe(
    `INSERT INTO ${schema}.workflow_runs (
      namespace_id, id, workflow_name, version, status, worker_id, config,
      input, attempts, available_at, started_at, created_at, updated_at)
    SELECT $1, md5($6 || i)::uuid, $2, NULL, $3,
      CASE WHEN $3 = 'sleeping' THEN 'history-worker' END, '{}'::json,
      json_build_object('n', i), CASE WHEN $3 = 'sleeping' THEN 1 ELSE 0 END,
      now() + $4::int * interval '1 second' + i * interval '1 millisecond',
      CASE WHEN $3 = 'sleeping' THEN now() - interval '1 hour' END,
      now() - interval '1 hour' + i * interval '1 millisecond',
      now() - interval '1 hour' + i * interval '1 millisecond'
    FROM generate_series(1, $5::int) AS i`,
    [
      batch.namespaceId,
      batch.workflowName,
      batch.status,
      batch.dueInSeconds,
      batch.count,
      crypto.randomUUID(),
    ],
  );
}

/** `VACUUM ANALYZE` of the engine's tables. */
export async function vacuumAnalyzePostgres(
  sql: Sql,
  schema: string,
): Promise<void> {
  await sql.unsafe(`VACUUM ANALYZE ${schema}.workflow_runs`);
  await sql.unsafe(`VACUUM ANALYZE ${schema}.step_attempts`);
}

/** A random UUID, in SQLite. */
const SQLITE_UUID = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2))
  || '-4' || substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2)
  || '-' || hex(randomblob(6)))`;

/**
 * A UUID for row `i`, spread over the key space in 4,096 stripes and
 * ascending in each: the unique index on ids grows at 4,096 places, whose
 * pages stay cached, rather than at random places (minutes longer for
 * millions of rows), while the history still spans the whole key space
 * that random ids of new runs fall into.
 */
const SQLITE_STRIPED_UUID =
  `printf('%03x%05x-0000-4000-8000-%012x', i % 4096, :salt, i)`;

/** A series 1..:n in SQLite (which has no `generate_series` here). */
const SQLITE_SERIES = `WITH RECURSIVE series(i) AS (
  SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < :n)`;

/**
 * The SQLite twin of {@linkcode loadFinishedPostgres}, bulk-load style as
 * well: no rollback journal and no fsync during the load, the secondary
 * indexes dropped and built again from their definitions afterwards, WAL
 * mode restored. Nothing else may use the file meanwhile.
 */
export function loadFinishedSqlite(
  db: DatabaseSync,
  namespaceId: string,
  runs: number,
  stepsPerRun: number,
  workflowNames: readonly string[],
): void {
  const now = Date.now();
  const names = workflowNames.map((name) => `'${name.replaceAll("'", "''")}'`);
  db.exec("PRAGMA journal_mode = OFF");
  db.exec("PRAGMA synchronous = OFF");
  const indexes = db.prepare(
    `SELECT name, sql FROM sqlite_master
    WHERE type = 'index' AND sql IS NOT NULL
      AND tbl_name IN ('openworkflow_workflow_runs', 'openworkflow_step_attempts')`,
  ).all().map((row) => ({ name: String(row.name), sql: String(row.sql) }));
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);
    db.prepare(
      `${SQLITE_SERIES}
      INSERT INTO openworkflow_workflow_runs (
        namespace_id, id, workflow_name, version, status, idempotency_key,
        worker_id, config, context, input, output, error, attempts,
        available_at, deadline_at, started_at, completed_at, created_at,
        updated_at)
      SELECT :ns, ${SQLITE_STRIPED_UUID},
        CASE i % ${names.length} ${
        names.map((name, k) => `WHEN ${k} THEN ${name}`).join(" ")
      } END,
        NULL, status, CASE WHEN i % 10 = 0 THEN 'key-' || i END,
        'history-worker', '{}', NULL, json_object('orderId', i),
        CASE WHEN status = 'succeeded' THEN '{"ok":true}' END,
        CASE WHEN status = 'failed' THEN :error END,
        1, at + 30000, NULL, at, at + 1000, at, at + 1000
      FROM (SELECT i, :now - (:n - i + 3600) * 2000 AS at,
          ${FINISHED_STATUS_PG} AS status FROM series)`,
    ).run({
      ns: namespaceId,
      n: runs,
      now,
      error: ERROR_JSON,
      salt: Math.floor(Math.random() * 2 ** 20),
    });
    if (stepsPerRun > 0) {
      db.prepare(
        `INSERT INTO openworkflow_step_attempts (
          namespace_id, id, workflow_run_id, step_name, kind, status, config,
          context, output, error, created_at, completed_at)
        SELECT r.namespace_id,
          substr(r.id, 1, 24) || printf('%012x', r.seq * 16 + s.n), r.id,
          'step-' || s.n, 'run',
          'succeeded', :config, NULL, s.n, NULL,
          r.started_at + s.n * 100, r.started_at + s.n * 100 + 5
        FROM openworkflow_workflow_runs r
        JOIN (WITH RECURSIVE k(n) AS (
          SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :steps)
          SELECT n FROM k) s
        WHERE r.namespace_id = :ns AND r.worker_id = 'history-worker'`,
      ).run({ ns: namespaceId, config: STEP_CONFIG, steps: stepsPerRun });
    }
    for (const index of indexes) db.exec(index.sql);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  } finally {
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA journal_mode = WAL");
  }
}

/** The SQLite twin of {@linkcode loadUnfinishedPostgres}. */
export function loadUnfinishedSqlite(
  db: DatabaseSync,
  batch: UnfinishedRuns,
): void {
  const now = Date.now();
  const sleeping = batch.status === "sleeping" ? 1 : 0;
  db.prepare(
    `${SQLITE_SERIES}
    INSERT INTO openworkflow_workflow_runs (
      namespace_id, id, workflow_name, version, status, worker_id, config,
      input, attempts, available_at, started_at, created_at, updated_at)
    SELECT :ns, ${SQLITE_UUID}, :name, NULL, :status,
      CASE WHEN :sleeping THEN 'history-worker' END, '{}',
      json_object('n', i), :sleeping, :now + :dueMs + i,
      CASE WHEN :sleeping THEN :now - 3600000 END,
      :now - 3600000 + i, :now - 3600000 + i
    FROM series`,
  ).run({
    ns: batch.namespaceId,
    name: batch.workflowName,
    status: batch.status,
    sleeping,
    now,
    dueMs: batch.dueInSeconds * 1000,
    n: batch.count,
  });
}
