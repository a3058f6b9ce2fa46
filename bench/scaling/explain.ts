/**
 * Query-plan evidence for the claim statement, the one hot path whose cost
 * depends on what else is in the tables.
 *
 * The statement explained is the engine's own, never a copy, so that the
 * evidence cannot go stale when the engine's SQL changes:
 *
 * - Postgres: the engine's `claimWorkflowRuns` (src/postgres/claim.ts)
 *   runs once, in a transaction rolled back, on a pool with the engine's
 *   session settings whose postgres.js `debug` hook records the text,
 *   parameters and parameter types it sends. That text is then prepared
 *   (`PREPARE`, typed alike) and run under
 *   `EXPLAIN (ANALYZE, BUFFERS) EXECUTE` ten times, each rolled back to a
 *   savepoint, on a connection with the engine's session settings: the
 *   plan is the one the engine's connections use (generic, planned once:
 *   `plan_cache_mode` in `SESSION_SETTINGS`; were the setting `auto`, the
 *   plan cache could switch plans after five runs, so the last five are
 *   the ones reported).
 * - SQLite: `claimStatement` (src/sqlite/claim.ts), which the backend's
 *   claim runs, gives the statement and its parameters: `EXPLAIN QUERY
 *   PLAN` of it, and its time in a transaction rolled back.
 *
 * Nothing is left changed.
 *
 * @module
 */

import postgres from "postgres";
import type { Sql, TransactionSql } from "postgres";
import type { DatabaseSync } from "node:sqlite";
import type { WorkflowSelector } from "../../mod.ts";
import {
  claimWorkflowRuns,
  SESSION_SETTINGS,
} from "../../src/postgres/claim.ts";
import { channelOf } from "../../src/postgres/notifications.ts";
import type { Scope } from "../../src/postgres/scope.ts";
import { claimStatement } from "../../src/sqlite/claim.ts";

/** What the claim is asked for. */
export interface ClaimValues {
  namespaceId: string;
  selectors: readonly WorkflowSelector[];
  limit: number;
  workerId: string;
  leaseDurationMs: number;
}

/** A statement as the driver sent it. */
export interface SentStatement {
  text: string;
  parameters: unknown[];
  /** The parameters' type OIDs; 0 leaves the type to the server. */
  types: number[];
}

/** One Postgres plan, reduced to what tells its story. */
export interface PlanSummary {
  executionMs: number;
  /** The scan nodes over `workflow_runs` that find the candidates. */
  scan: string;
  /** Rows the candidate scans read (returned plus filtered out). */
  rowsRead: number;
  /** Whether the plan cache chose a generic plan (`$n` left in it). */
  generic: boolean;
  lines: string[];
}

/** The schema the benchmarks use (the engine's default). */
const SCHEMA = "openworkflow";

/** Runs of the prepared claim; the last {@linkcode SETTLED} are reported. */
const EXECUTIONS = 10;
/** Under `auto`, Postgres's plan cache settles on a plan after five runs. */
const SETTLED = 5;

/**
 * The claim statement of the engine for `values`, as postgres.js sent it,
 * and its plan on the database at `url` (the median of the settled runs).
 */
export async function explainClaimPostgres(
  url: string,
  values: ClaimValues,
): Promise<{ statement: SentStatement; plan: PlanSummary }> {
  let sent: SentStatement[] | null = null;
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    fetch_types: false,
    connection: {
      ...SESSION_SETTINGS,
      application_name: "openworkflow-bench-explain",
    },
    debug: (_connection, text, parameters, types) => {
      sent?.push({ text, parameters: [...parameters], types: [...types] });
    },
  });
  try {
    const recorded: SentStatement[] = [];
    await rolledBack(sql, async (tx) => {
      const s: Scope = {
        sql: tx as unknown as Sql,
        namespaceId: values.namespaceId,
        channel: channelOf(SCHEMA),
        runs: sql(`${SCHEMA}.workflow_runs`),
        steps: sql(`${SCHEMA}.step_attempts`),
        signals: sql(`${SCHEMA}.signals`),
        deliveries: sql(`${SCHEMA}.signal_deliveries`),
        schedules: sql(`${SCHEMA}.schedules`),
        gates: sql(`${SCHEMA}.flow_gates`),
        locks: sql(`${SCHEMA}.maintenance_locks`),
      };
      sent = recorded;
      try {
        // The statement of a claim where no run has a flow-control key.
        await claimWorkflowRuns(s, {
          workerId: values.workerId,
          workflows: [...values.selectors],
          limit: values.limit,
          leaseDurationMs: values.leaseDurationMs,
        }, { keyed: false, askedAt: performance.now() });
      } finally {
        sent = null;
      }
    });
    if (recorded.length !== 1) {
      throw new Error(
        `expected the claim to send one statement, it sent ${recorded.length}`,
      );
    }
    const [statement] = recorded;
    const plans: PlanSummary[] = [];
    await rolledBack(sql, async (tx) => {
      // Typed as postgres.js typed them (`unknown`: inferred by the server).
      const declared = await tx.unsafe(
        `SELECT coalesce(t.oid::regtype::text, 'unknown') AS type
        FROM unnest('{${statement.types.join(",")}}'::oid[])
          WITH ORDINALITY AS u(oid, n)
        LEFT JOIN pg_type t ON t.oid = u.oid AND u.oid <> 0
        ORDER BY u.n`,
      );
      const list = declared.map((row) => row.type).join(", ");
      await tx.unsafe(
        `PREPARE openworkflow_claim ${
          list && `(${list})`
        } AS ${statement.text}`,
      );
      // EXPLAIN EXECUTE takes no bound parameters: the arguments go in as
      // literals of the types the statement's parameters were given.
      const types = await tx`
        SELECT u.type::text FROM pg_prepared_statements,
          unnest(parameter_types) WITH ORDINALITY AS u(type, n)
        WHERE name = 'openworkflow_claim' ORDER BY u.n`;
      const args = types.map(({ type }, i) =>
        `${literal(statement.parameters[i])}::${type}`
      ).join(", ");
      for (let i = 0; i < EXECUTIONS; i++) {
        await tx.unsafe("SAVEPOINT claim");
        const rows = await tx.unsafe(
          `EXPLAIN (ANALYZE, BUFFERS) EXECUTE openworkflow_claim(${args})`,
        );
        await tx.unsafe("ROLLBACK TO SAVEPOINT claim");
        plans.push(summarize(rows.map((row) => String(row["QUERY PLAN"]))));
      }
    });
    const settled = plans.slice(-SETTLED).sort((a, b) =>
      a.executionMs - b.executionMs
    );
    return { statement, plan: settled[Math.floor(SETTLED / 2)] };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A parameter as an SQL literal. */
function literal(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Date) return `'${value.toISOString()}'`;
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** Runs `fn` in a transaction, then rolls it back. */
async function rolledBack(
  sql: Sql,
  fn: (tx: TransactionSql) => Promise<void>,
): Promise<void> {
  try {
    await sql.begin(async (tx) => {
      await fn(tx);
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
}

/** Thrown to roll a transaction back. */
class Rollback extends Error {}

/** The width of a plan line's indentation. */
function indent(line: string): number {
  return line.length - line.trimStart().length;
}

/** A plan node's name, without its costs and timings. */
function node(line: string): string {
  return line.trim().replace(/^->\s*/, "").replace(/\s+\(cost=.*$/, "");
}

function summarize(lines: string[]): PlanSummary {
  const executionMs = Number(
    lines.find((l) => l.includes("Execution Time"))?.match(/([\d.]+) ms/)
      ?.[1] ?? NaN,
  );
  // The candidates are found under `CTE candidates` (or `CTE claimed`,
  // whose update scans them); the rest of the statement reads no runs.
  const cte = lines.findIndex((l) => /^\s*CTE (candidates|claimed)\b/.test(l));
  const candidates = cte === -1 ? lines : lines.slice(cte + 1);
  const end = cte === -1
    ? -1
    : candidates.findIndex((l) => indent(l) <= indent(lines[cte]));
  const subtree = cte === -1 || end === -1
    ? candidates
    : candidates.slice(0, end);
  const scans = new Set<string>();
  let rowsRead = 0;
  subtree.forEach((line, at) => {
    if (!/ Scan .*\bon workflow_runs\b/.test(line)) return;
    const children = subtree.slice(at + 1);
    const below = children.findIndex((l) => indent(l) <= indent(line));
    const details = below === -1 ? children : children.slice(0, below);
    // A bitmap heap scan names its table; the index is a child's.
    const index = details.map(node).find((l) =>
      l.startsWith("Bitmap Index Scan on ")
    );
    scans.add(
      index === undefined
        ? node(line)
        : `${node(line)} (${index.replace("Bitmap Index Scan on ", "")})`,
    );
    // Rows the scan returned, and those it dropped (per loop).
    const actual = line.match(/actual time=\S+ rows=(\d+) loops=(\d+)/);
    if (actual === null) return;
    let rows = Number(actual[1]);
    for (const next of details) {
      if (next.includes("->")) break;
      const removed = next.match(
        /Rows Removed by (?:Filter|Index Recheck): (\d+)/,
      );
      if (removed !== null) rows += Number(removed[1]);
    }
    rowsRead += rows * Number(actual[2]);
  });
  return {
    executionMs,
    scan: scans.size === 0 ? "?" : [...scans].join("; "),
    rowsRead,
    generic: lines.some((l) => /\$\d+/.test(l)),
    lines,
  };
}

/** A SQLite query plan and the median time of the statement. */
export interface SqlitePlan {
  /** The plan tree, indented. */
  plan: string[];
  /** The searches and scans that find the candidates. */
  scan: string;
  ms: number;
  /** Runs the statement claimed (each time rolled back). */
  claimed: number;
}

/**
 * SQLite: `EXPLAIN QUERY PLAN` of the engine's claim statement for
 * `values`, and its median time over five runs, each rolled back.
 */
export function explainClaimSqlite(
  db: DatabaseSync,
  values: ClaimValues,
): SqlitePlan {
  const { sql, params } = claimStatement(values.namespaceId, Date.now(), {
    workerId: values.workerId,
    workflows: [...values.selectors],
    limit: values.limit,
    leaseDurationMs: values.leaseDurationMs,
  });
  const depth = new Map<number, number>();
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params).map(
    (row) => {
      const level = (depth.get(Number(row.parent)) ?? -1) + 1;
      depth.set(Number(row.id), level);
      return `${"  ".repeat(level)}${row.detail}`;
    },
  );
  const statement = db.prepare(sql);
  const times: number[] = [];
  let claimed = 0;
  db.exec("BEGIN");
  try {
    for (let i = 0; i < 5; i++) {
      db.exec("SAVEPOINT claim");
      const startedAt = performance.now();
      claimed = statement.all(params).length;
      times.push(performance.now() - startedAt);
      db.exec("ROLLBACK TO claim");
    }
  } finally {
    db.exec("ROLLBACK");
  }
  // Searches and scans of tables, other than lookups by rowid and the
  // walks of the statement's own rows (a constant row, the priorities).
  const scans = plan.map((line) => line.trim()).filter((line) =>
    /^(SEARCH|SCAN) [^(]/.test(line) && !line.includes("PRIMARY KEY") &&
    !/^SCAN (CONSTANT ROW|p)$/.test(line)
  );
  return {
    plan,
    scan: [...new Set(scans)].join("; ") || "?",
    ms: times.sort((a, b) => a - b)[2],
    claimed,
  };
}
