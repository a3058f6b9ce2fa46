/**
 * Query-plan evidence for the claim statement, the one hot path whose cost
 * depends on what else is in the tables.
 *
 * The statement explained is the one the engine really sent, read back
 * from `pg_stat_activity` (the engine's SQL changes often); its parameters
 * are bound by what each `$n` stands next to. When the text was cut at
 * `track_activity_query_size`, `CLAIM_SQL`, a copy of
 * `BackendPostgres.claimWorkflowRuns` (src/postgres/backend.ts), stands in.
 *
 * @module
 */

import type { Sql, TransactionSql } from "postgres";
import type { DatabaseSync } from "node:sqlite";
import type { WorkflowSelector } from "../../mod.ts";

/** A copy of the engine's claim statement. */
export const CLAIM_SQL = `
      WITH candidates AS (
        SELECT r.id FROM "openworkflow"."workflow_runs" r
        WHERE r.namespace_id = $1
          AND r.status IN ('pending', 'running', 'sleeping')
          AND r.available_at <= now()
          AND (r.deadline_at IS NULL OR r.deadline_at > now())
      AND EXISTS (
        SELECT 1 FROM json_to_recordset($2::text::json) AS w(name text, version text)
        WHERE w.name = r.workflow_name AND w.version IS NOT DISTINCT FROM r.version
      )
        ORDER BY r.available_at, r.created_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED
      )
      UPDATE "openworkflow"."workflow_runs" r SET
        status = 'running',
        worker_id = $4,
        attempts = r.attempts + 1,
        available_at = now() + $5 * interval '1 millisecond',
        started_at = coalesce(r.started_at, now()),
        updated_at = now()
      FROM candidates c
      WHERE r.namespace_id = $6 AND r.id = c.id
      RETURNING r.*`;

/** The index that lets a claim reach its own workflows' runs directly. */
export const SUGGESTED_INDEX = `CREATE INDEX workflow_runs_claimable_by_name
  ON openworkflow.workflow_runs (namespace_id, workflow_name, available_at)
  WHERE status IN ('pending', 'running', 'sleeping')`;

/**
 * The claim rewritten to use it: one ordered, limited scan per selector
 * (LATERAL), merged; the selectors as two arrays, whose length the planner
 * knows (a `json_to_recordset` is always estimated at 100 rows, which
 * inflates the cost past `jit_above_cost`).
 */
export const SUGGESTED_CLAIM_SQL = `
      WITH candidates AS (
        SELECT c.id FROM unnest($2::text[], $3::text[]) AS w(name, version)
        CROSS JOIN LATERAL (
          SELECT r.id, r.available_at, r.created_at
          FROM openworkflow.workflow_runs r
          WHERE r.namespace_id = $1
            AND r.workflow_name = w.name
            AND r.version IS NOT DISTINCT FROM w.version
            AND r.status IN ('pending', 'running', 'sleeping')
            AND r.available_at <= now()
            AND (r.deadline_at IS NULL OR r.deadline_at > now())
          ORDER BY r.available_at, r.created_at
          LIMIT $4
          FOR UPDATE SKIP LOCKED
        ) c
        ORDER BY c.available_at, c.created_at
        LIMIT $4
      )
      UPDATE openworkflow.workflow_runs r SET
        status = 'running',
        worker_id = $5,
        attempts = r.attempts + 1,
        available_at = now() + $6 * interval '1 millisecond',
        started_at = coalesce(r.started_at, now()),
        updated_at = now()
      FROM candidates c
      WHERE r.namespace_id = $7 AND r.id = c.id
      RETURNING r.*`;

/**
 * The claim statement the engine last sent to database `name`, or `null`
 * when `pg_stat_activity` holds none or only a cut-off one.
 */
export async function capturedClaim(
  admin: Sql,
  name: string,
): Promise<string | null> {
  const rows = await admin`
    SELECT query FROM pg_stat_activity
    WHERE datname = ${name} AND query LIKE '%FOR UPDATE SKIP LOCKED%'
      AND query LIKE '%RETURNING%'
    LIMIT 1`;
  return rows.length === 0 ? null : String(rows[0].query);
}

/** What the claim's parameters stand for. */
export interface ClaimValues {
  namespaceId: string;
  selectors: readonly WorkflowSelector[];
  limit: number;
  workerId: string;
  leaseDurationMs: number;
}

/**
 * The parameters of claim statement `text`, each chosen by what its `$n`
 * stands next to; `null` when one is not recognized.
 */
export function bindClaim(text: string, v: ClaimValues): unknown[] | null {
  const params: unknown[] = [];
  for (const match of text.matchAll(/\$(\d+)/g)) {
    const n = Number(match[1]);
    const before = text.slice(Math.max(0, match.index - 40), match.index);
    const after = text.slice(match.index + match[0].length).slice(0, 40);
    let value: unknown;
    if (/namespace_id\s*=\s*$/.test(before)) value = v.namespaceId;
    else if (
      /json_to_recordset\(\s*$/.test(before) || /^::text::json/.test(after)
    ) {
      value = JSON.stringify(
        v.selectors.map(({ name, version }) => ({ name, version })),
      );
    } else if (/LIMIT\s*$/i.test(before)) value = v.limit;
    else if (/worker_id\s*=\s*$/.test(before)) value = v.workerId;
    else if (/^\s*\*\s*interval/.test(after)) value = v.leaseDurationMs;
    else return null;
    params[n - 1] = value;
  }
  return params;
}

/** One plan, reduced to what tells its story. */
export interface PlanSummary {
  executionMs: number;
  /** The scan node over `workflow_runs` that finds the candidates. */
  scan: string;
  /** Rows the candidate scan read (returned plus filtered out). */
  rowsRead: number;
  lines: string[];
}

function summarize(lines: string[]): PlanSummary {
  const executionMs = Number(
    lines.find((l) => l.includes("Execution Time"))?.match(/([\d.]+) ms/)
      ?.[1] ?? NaN,
  );
  const at = lines.findIndex((l) => /Scan .*on workflow_runs r_1\b/.test(l));
  const line = lines[at] ?? "";
  const scan = line.trim().replace(/^->\s*/, "").replace(/\s+\(.*$/, "") ||
    "?";
  // Rows the scan returned, and those its filter dropped.
  const actual = line.match(
    /actual time=[\d.]+\.\.[\d.]+ rows=(\d+) loops=(\d+)/,
  );
  let rowsRead = actual === null ? 0 : Number(actual[1]) * Number(actual[2]);
  for (const next of lines.slice(at + 1)) {
    if (next.includes("->")) break;
    const removed = next.match(/Rows Removed by Filter: (\d+)/);
    if (removed !== null) rowsRead += Number(removed[1]);
  }
  return { executionMs, scan, rowsRead, lines };
}

/** The claim plans of one database. */
export interface ClaimPlans {
  /** Whether the statement is the engine's own (else `CLAIM_SQL`). */
  source: "engine" | "copy";
  current: PlanSummary;
  /** The engine's statement once the suggested index exists. */
  withIndex: PlanSummary;
  /** The suggested rewrite with the suggested index. */
  suggested: PlanSummary;
}

/**
 * `EXPLAIN (ANALYZE, BUFFERS)` of the claim statement `engineText` (or
 * `CLAIM_SQL`), then, in the same transaction, rolled back, of it and of
 * the suggested rewrite once the suggested index exists. Nothing is left
 * changed (no run is due for `selectors`, so nothing is claimed either).
 */
export async function explainClaims(
  sql: Sql,
  engineText: string | null,
  values: ClaimValues,
): Promise<ClaimPlans> {
  let text = engineText ?? CLAIM_SQL;
  let params = bindClaim(text, values);
  let source: ClaimPlans["source"] = engineText === null ? "copy" : "engine";
  if (params === null) {
    text = CLAIM_SQL;
    params = bindClaim(text, values)!;
    source = "copy";
  }
  // The median of five runs: one run on a busy machine may stall.
  const explain = async (
    tx: TransactionSql,
    statement: string,
    bound: unknown[],
  ): Promise<PlanSummary> => {
    const plans: PlanSummary[] = [];
    for (let i = 0; i < 5; i++) {
      const rows = await tx.unsafe(
        `EXPLAIN (ANALYZE, BUFFERS) ${statement}`,
        bound as never[],
      );
      plans.push(summarize(rows.map((row) => String(row["QUERY PLAN"]))));
    }
    return plans.sort((a, b) => a.executionMs - b.executionMs)[2];
  };
  const suggested = [
    values.namespaceId,
    values.selectors.map((s) => s.name),
    values.selectors.map((s) => s.version),
    values.limit,
    values.workerId,
    values.leaseDurationMs,
    values.namespaceId,
  ];
  let result: ClaimPlans | undefined;
  try {
    await sql.begin(async (tx) => {
      const current = await explain(tx, text, params);
      await tx.unsafe(SUGGESTED_INDEX);
      await tx.unsafe(`ANALYZE openworkflow.workflow_runs`);
      result = {
        source,
        current,
        withIndex: await explain(tx, text, params),
        suggested: await explain(tx, SUGGESTED_CLAIM_SQL, suggested),
      };
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return result!;
}

/** Thrown to roll a transaction back. */
class Rollback extends Error {}

/** SQLite: the same index as {@linkcode SUGGESTED_INDEX}. */
export const SQLITE_SUGGESTED_INDEX =
  `CREATE INDEX openworkflow_workflow_runs_claimable_by_name
  ON openworkflow_workflow_runs (namespace_id, workflow_name, available_at)
  WHERE status IN ('pending', 'running', 'sleeping')`;

/**
 * SQLite: the candidate selection of the claim, a copy of
 * `claimWorkflowRuns` in src/sqlite/runs.ts.
 */
const SQLITE_CANDIDATES = `SELECT r.seq FROM openworkflow_workflow_runs AS r
      WHERE r.namespace_id = :ns
        AND r.status IN ('pending', 'running', 'sleeping')
        AND r.available_at <= :now
        AND (r.deadline_at IS NULL OR r.deadline_at > :now)
        AND EXISTS (
          SELECT 1 FROM json_each(:workflows) AS w
          WHERE json_extract(w.value, '$.name') = r.workflow_name
            AND json_extract(w.value, '$.version') IS r.version
        )
      ORDER BY r.available_at, r.created_at, r.seq
      LIMIT :limit`;

/**
 * SQLite: the candidate selection driven by the selectors (`CROSS JOIN`
 * makes SQLite keep `json_each` as the outer loop; a plain `JOIN` lets it
 * scan the claimable runs first, as before).
 */
export const SQLITE_SUGGESTED_CANDIDATES = `SELECT r.seq
      FROM json_each(:workflows) AS w
      CROSS JOIN openworkflow_workflow_runs AS r
      WHERE r.namespace_id = :ns
        AND r.workflow_name = json_extract(w.value, '$.name')
        AND r.version IS json_extract(w.value, '$.version')
        AND r.status IN ('pending', 'running', 'sleeping')
        AND r.available_at <= :now
        AND (r.deadline_at IS NULL OR r.deadline_at > :now)
      ORDER BY r.available_at, r.created_at, r.seq
      LIMIT :limit`;

/** A SQLite query plan and the median time of the query. */
export interface SqlitePlan {
  plan: string[];
  ms: number;
}

/**
 * SQLite: `EXPLAIN QUERY PLAN` and the time of the claim's candidate
 * selection, then (in a transaction rolled back) of the suggested one with
 * the suggested index.
 */
export function explainClaimSqlite(
  db: DatabaseSync,
  namespaceId: string,
  selectors: readonly WorkflowSelector[],
): { current: SqlitePlan; suggested: SqlitePlan } {
  const params = {
    ns: namespaceId,
    now: Date.now(),
    limit: 10,
    workflows: JSON.stringify(
      selectors.map(({ name, version }) => ({ name, version })),
    ),
  };
  const measure = (text: string): SqlitePlan => {
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(params)
      .map((row) => String(row.detail));
    const statement = db.prepare(text);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const startedAt = performance.now();
      statement.all(params);
      times.push(performance.now() - startedAt);
    }
    return { plan, ms: times.sort((a, b) => a - b)[2] };
  };
  const current = measure(SQLITE_CANDIDATES);
  db.exec("BEGIN");
  try {
    db.exec(SQLITE_SUGGESTED_INDEX);
    return { current, suggested: measure(SQLITE_SUGGESTED_CANDIDATES) };
  } finally {
    db.exec("ROLLBACK");
  }
}
