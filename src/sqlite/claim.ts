/**
 * The claim statement of `BackendSqlite`, in a module of its own like
 * Postgres's: the benchmarks explain the very statement the engine sends.
 *
 * @module
 */

import type { ClaimWorkflowRunsParams, WorkflowRun } from "../core/backend.ts";
import type { Params, Row, SqliteConnection } from "./connection.ts";
import { toWorkflowRun } from "./rows.ts";

import { RUNS, UNFINISHED } from "./runs.ts";

/** A statement and its parameters. */
export interface Statement {
  sql: string;
  params: Params;
}

/**
 * The statement that picks the runs a claim may take without flow control
 * (no concurrency key, no rate limit still to pass): up to `params.limit`
 * claimable runs, highest priority first, then longest waiting. Exported
 * so that the benchmarks explain the very statement the engine runs.
 */
export function claimStatement(
  ns: string,
  now: number,
  params: ClaimWorkflowRunsParams,
): Statement {
  const workflows = params.workflows;
  // The runs the free index holds (its predicate, as the planner must see
  // it to use the index), and of those the ones a claim may take now.
  const free = `r.namespace_id = :ns
        AND r.status IN ${UNFINISHED}
        AND r.concurrency_key IS NULL
        AND (r.rate_key IS NULL OR r.started_at IS NOT NULL)`;
  const claimable = `${free}
        AND r.available_at <= :now
        AND (r.deadline_at IS NULL OR r.deadline_at > :now)`;
  const order = "priority DESC, available_at, seq";
  // With workflows named, each is looked up on its own through the
  // (namespace, workflow, priority, availability) index, so that runs of
  // workflows this worker does not have are never scanned; and within a
  // workflow, one priority at a time: its priorities are found one index
  // probe each (highest first), and the runs of each are read from the
  // first due, only those due and only as many as the limit. One range of
  // the index for all priorities would go through every run that is not
  // due yet (the sleeping ones, and those waiting to retry) to find the
  // due ones of a lower priority, at every claim. The selectors are bound
  // as parameters; only their count shapes the SQL.
  const sql = workflows === undefined
    ? `SELECT r.seq, r.priority, r.available_at, r.created_at FROM ${RUNS} AS r
      WHERE ${claimable}
      ORDER BY r.priority DESC, r.available_at, r.seq
      LIMIT :limit`
    : `SELECT * FROM (${
      workflows.map((_, i) => {
        const nextPriority = (below: string) =>
          `SELECT r.priority FROM ${RUNS} AS r
              INDEXED BY openworkflow_workflow_runs_free
            WHERE ${free} AND r.workflow_name = :name${i}${below}
            ORDER BY r.priority DESC LIMIT 1`;
        return `SELECT * FROM (
          WITH RECURSIVE p(priority) AS (
            SELECT (${nextPriority("")})
            UNION ALL
            SELECT (${nextPriority(" AND r.priority < p.priority")})
            FROM p WHERE p.priority IS NOT NULL
          )
          SELECT c.seq, c.priority, c.available_at, c.created_at
          FROM p JOIN ${RUNS} AS c ON c.seq IN (
            SELECT r.seq FROM ${RUNS} AS r
              INDEXED BY openworkflow_workflow_runs_free
            WHERE ${claimable}
              AND r.workflow_name = :name${i} AND r.version IS :version${i}
              AND r.priority = p.priority
            ORDER BY r.available_at, r.seq
            LIMIT :limit
          )
          WHERE p.priority IS NOT NULL
          ORDER BY c.priority DESC, c.available_at, c.seq
          LIMIT :limit
        )`;
      }).join(" UNION ALL ")
    })
      ORDER BY ${order}
      LIMIT :limit`;
  const selectors: Params = {};
  workflows?.forEach(({ name, version }, i) => {
    selectors[`name${i}`] = name;
    selectors[`version${i}`] = version;
  });
  return { sql, params: { ns, now, limit: params.limit, ...selectors } };
}

/** A run a claim may take, with what flow control needs to know of it. */
interface Candidate {
  seq: number;
  priority: number;
  availableAt: number;
  createdAt: number;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  rateKey: string | null;
  rateLimit: number;
  ratePeriodMs: number;
  workflowName: string;
}

function toCandidate(row: Row): Candidate {
  return {
    seq: Number(row.seq),
    priority: Number(row.priority ?? 0),
    availableAt: Number(row.available_at),
    createdAt: Number(row.created_at),
    concurrencyKey: (row.concurrency_key ?? null) as string | null,
    concurrencyLimit: Number(row.concurrency_limit ?? 0),
    // A run that has started once has passed its rate limit for good.
    rateKey: row.started_at == null
      ? (row.rate_key ?? null) as string | null
      : null,
    rateLimit: Number(row.rate_limit ?? 0),
    ratePeriodMs: Number(row.rate_period_ms ?? 0),
    workflowName: row.workflow_name as string,
  };
}

/**
 * The runs with a flow-control key that a claim may consider. One
 * statement per workflow and kind of key finds its keys (one index probe
 * each, so that runs waiting behind a busy key are never read), each key's
 * room and its first claimable run; then only the keys whose first run is
 * among the `params.limit` best give their first runs, as many as their
 * room (a key whose best run is worse than that many others' cannot
 * contribute). One writer at a time makes the counts exact.
 */
function keyedCandidates(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: ClaimWorkflowRunsParams,
  room: Map<string, number>,
): { candidates: Candidate[]; full: boolean } {
  const versionsOf = new Map<string, (string | null)[]>();
  for (const { name, version } of params.workflows ?? []) {
    versionsOf.set(name, [...(versionsOf.get(name) ?? []), version]);
  }
  const names = params.workflows === undefined
    ? db.all(
      `SELECT DISTINCT workflow_name FROM ${RUNS}
      WHERE namespace_id = :ns AND status IN ${UNFINISHED}
        AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)`,
      { ns },
    ).map((row) => row.workflow_name as string)
    : [...versionsOf.keys()];
  const claimable = `status IN ${UNFINISHED} AND available_at <= :now
    AND (deadline_at IS NULL OR deadline_at > :now)
    AND NOT (status = 'running' AND available_at > :now)`;
  const versionFilter = `(:all = 1
      OR version IN (SELECT value FROM json_each(:versions))
      OR (:unversioned = 1 AND version IS NULL))`;
  const heads: { run: Candidate; kind: Kind; left: number }[] = [];
  // Whether a key with a claimable run had no room.
  let full = false;
  const base = new Map<string, Params>();
  for (const name of names) {
    // The versions this worker runs (all, without selectors).
    const versions = versionsOf.get(name);
    base.set(name, {
      ns,
      name,
      now,
      all: versions === undefined ? 1 : 0,
      versions: JSON.stringify(versions?.filter((v) => v !== null) ?? []),
      unversioned: versions?.includes(null) ? 1 : 0,
    });
    for (const kind of KINDS) {
      const { column, scope, index } = KIND[kind];
      const used = kind === "concurrency"
        ? `SELECT count(*) FROM ${RUNS}
          INDEXED BY openworkflow_workflow_runs_concurrency_running
          WHERE namespace_id = :ns AND workflow_name = :name
            AND concurrency_key = keys.k AND status = 'running'
            AND available_at > :now`
        : `SELECT count(*) FROM ${RUNS}
          INDEXED BY openworkflow_workflow_runs_rate_started
          WHERE namespace_id = :ns AND workflow_name = :name
            AND rate_key = keys.k AND started_at IS NOT NULL
            AND started_at > :now - h.rate_period_ms`;
      const rows = db.all(
        `WITH RECURSIVE keys(k) AS (
          SELECT (SELECT min(${column}) FROM ${RUNS}
            WHERE namespace_id = :ns AND workflow_name = :name
              AND status IN ${UNFINISHED} AND ${scope})
          UNION ALL
          SELECT (SELECT min(${column}) FROM ${RUNS}
            WHERE namespace_id = :ns AND workflow_name = :name
              AND status IN ${UNFINISHED} AND ${scope}
              AND ${column} > keys.k)
          FROM keys WHERE keys.k IS NOT NULL
        )
        SELECT h.*, (${used}) AS used FROM keys
        JOIN ${RUNS} AS h ON h.seq = (
          SELECT seq FROM ${RUNS} INDEXED BY ${index}
          WHERE namespace_id = :ns AND workflow_name = :name
            AND ${column} = keys.k AND ${scope} AND ${claimable}
            AND ${versionFilter}
          ORDER BY priority DESC, available_at, seq
          LIMIT 1)
        WHERE keys.k IS NOT NULL`,
        base.get(name)!,
      );
      for (const row of rows) {
        const run = toCandidate(row);
        const limit = kind === "concurrency"
          ? run.concurrencyLimit
          : run.rateLimit;
        const left = limit - Number(row.used);
        room.set(roomId(run, kind), left);
        if (left > 0) heads.push({ run, kind, left });
        else full = true;
      }
    }
  }
  heads.sort((a, b) => bestFirst(a.run, b.run));
  const candidates: Candidate[] = [];
  for (const { run, kind, left } of heads.slice(0, params.limit)) {
    const { column, scope, index } = KIND[kind];
    candidates.push(
      ...db.all(
        `SELECT * FROM ${RUNS} INDEXED BY ${index}
        WHERE namespace_id = :ns AND workflow_name = :name
          AND ${column} = :key AND ${scope} AND ${claimable}
          AND ${versionFilter}
        ORDER BY priority DESC, available_at, seq
        LIMIT :limit`,
        {
          ...base.get(run.workflowName)!,
          key: kind === "concurrency" ? run.concurrencyKey : run.rateKey,
          limit: Math.min(left, params.limit),
        },
      ).map(toCandidate),
    );
  }
  return { candidates, full };
}

/** The kinds of flow-control keys. */
type Kind = "concurrency" | "rate";
const KINDS: readonly Kind[] = ["concurrency", "rate"];

/** Each kind's key column, the runs it holds back, and their index. */
const KIND: Record<Kind, { column: string; scope: string; index: string }> = {
  concurrency: {
    column: "concurrency_key",
    scope: "concurrency_key IS NOT NULL",
    index: "openworkflow_workflow_runs_concurrency",
  },
  rate: {
    column: "rate_key",
    scope:
      "rate_key IS NOT NULL AND started_at IS NULL AND concurrency_key IS NULL",
    index: "openworkflow_workflow_runs_rate",
  },
};

/** Best first: highest priority, then longest waiting, then oldest. */
function bestFirst(a: Candidate, b: Candidate): number {
  return b.priority - a.priority || a.availableAt - b.availableAt ||
    a.createdAt - b.createdAt || a.seq - b.seq;
}

/** The entry of `room` that counts what key `kind` of `run` has left. */
function roomId(run: Candidate, kind: Kind): string {
  const key = kind === "concurrency" ? run.concurrencyKey : run.rateKey;
  return JSON.stringify([kind, run.workflowName, key]);
}

/** The room key `kind` of `run` has now, counted once per claim. */
function roomOf(
  db: SqliteConnection,
  ns: string,
  now: number,
  run: Candidate,
  kind: Kind,
  room: Map<string, number>,
): number {
  const key = kind === "concurrency" ? run.concurrencyKey! : run.rateKey!;
  const id = roomId(run, kind);
  let left = room.get(id);
  if (left === undefined) {
    const used = kind === "concurrency"
      ? db.get(
        `SELECT count(*) AS n FROM ${RUNS}
        WHERE namespace_id = :ns AND workflow_name = :name
          AND concurrency_key = :key AND status = 'running'
          AND available_at > :now`,
        { ns, name: run.workflowName, key, now },
      )
      : db.get(
        `SELECT count(*) AS n FROM ${RUNS}
        WHERE namespace_id = :ns AND workflow_name = :name
          AND rate_key = :key AND started_at IS NOT NULL
          AND started_at > :since`,
        { ns, name: run.workflowName, key, since: now - run.ratePeriodMs },
      );
    const limit = kind === "concurrency" ? run.concurrencyLimit : run.rateLimit;
    left = limit - Number(used?.n ?? 0);
    room.set(id, left);
  }
  return left;
}

/**
 * Claims up to `params.limit` claimable runs, highest priority first, then
 * longest waiting, keeping to every run's concurrency and rate limits; and
 * returns them oldest first.
 */
export function claimWorkflowRuns(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: ClaimWorkflowRunsParams,
  onHeldBack: () => void = () => {},
): WorkflowRun[] {
  if (params.workflows !== undefined && params.workflows.length === 0) {
    return [];
  }
  const statement = claimStatement(ns, now, params);
  const room = new Map<string, number>();
  const { candidates: keyed, full } = keyedCandidates(
    db,
    ns,
    now,
    params,
    room,
  );
  // Runs a full key holds back: look again soon (a slot freed in another
  // process, a rate window moving on, says nothing).
  if (full) onHeldBack();
  const candidates = [
    ...db.all(statement.sql, statement.params).map(toCandidate),
    ...keyed,
  ].sort(bestFirst);
  // No run with a key may be taken: the others are claimed as they are.
  if (keyed.length === 0) return take(db, now, params, candidates);
  const chosen: number[] = [];
  for (const run of candidates) {
    if (chosen.length >= params.limit) break;
    const gates = KINDS.filter((kind) =>
      (kind === "concurrency" ? run.concurrencyKey : run.rateKey) !== null
    );
    if (gates.some((kind) => roomOf(db, ns, now, run, kind, room) <= 0)) {
      continue;
    }
    for (const kind of gates) {
      const id = roomId(run, kind);
      room.set(id, room.get(id)! - 1);
    }
    chosen.push(run.seq);
  }
  if (
    !full && chosen.length < params.limit &&
    candidates.some((run) =>
      (run.concurrencyKey !== null || run.rateKey !== null) &&
      !chosen.includes(run.seq)
    )
  ) onHeldBack();
  if (chosen.length === 0) return [];
  return take(
    db,
    now,
    params,
    candidates.filter((run) => chosen.includes(run.seq)),
  );
}

/**
 * Claims the `chosen` candidates in one statement; returns them oldest
 * first, each with when it became claimable (`readyAt`: its `availableAt`
 * before the claim, for the claimer's queue lag).
 */
function take(
  db: SqliteConnection,
  now: number,
  params: ClaimWorkflowRunsParams,
  chosen: readonly Candidate[],
): WorkflowRun[] {
  if (chosen.length === 0) return [];
  const readyAt = new Map(chosen.map((run) => [run.seq, run.availableAt]));
  const rows = db.all(
    `UPDATE ${RUNS} SET ${TAKE}
    WHERE seq IN (SELECT value FROM json_each(:chosen))
    RETURNING *`,
    {
      workerId: params.workerId,
      leaseEnd: now + params.leaseDurationMs,
      now,
      chosen: JSON.stringify(chosen.map((run) => run.seq)),
    },
  );
  rows.sort((a, b) =>
    Number(a.created_at) - Number(b.created_at) ||
    Number(a.seq) - Number(b.seq)
  );
  return rows.map((row) =>
    toWorkflowRun({ ...row, ready_at: readyAt.get(Number(row.seq)) ?? null })
  );
}

/** What a claim sets on the runs it takes. */
const TAKE = `status = 'running',
  worker_id = :workerId,
  wake_requested = 0,
  attempts = attempts + 1,
  available_at = :leaseEnd,
  started_at = coalesce(started_at, :now),
  updated_at = :now`;
