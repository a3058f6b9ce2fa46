/**
 * The claim statement of `BackendPostgres`, in a module of its own so that
 * the benchmarks explain the very statement the engine sends (they run it
 * through a driver that records it).
 *
 * @module
 */

import type {
  ClaimWorkflowRunsParams,
  WorkflowRun,
  WorkflowSelector,
} from "../core/backend.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./scope.ts";

/**
 * The session settings of every pool connection (postgres.js
 * `connection` option, sent when the connection starts). No JIT: row
 * estimates of JSON parameters are guesses, and a JIT compilation costs far
 * more than these short statements. DateStyle ISO: the driver reads
 * timestamps as ISO text; sent with the connection, it overrides a
 * server, database or role default and `options=-c datestyle=…`. Generic
 * plans: the statements are prepared, and each is planned once per
 * connection, not at every call. Planning was most of a claim's time (2 to
 * 5 ms against 0.1 to 0.3 ms of execution, on every claim), and close to
 * half that of the keyed writes. Every hot statement is built so that its
 * plan does not hang on its values: the claim probes its indexes one
 * priority or key at a time, and writes look their rows up by primary key
 * (`bench:scaling history` and `bench:flow` show these plans, generic, over
 * 100,000 runs). Left to itself (`auto`), the plan cache would plan each
 * statement five times per connection before it settles, and may settle
 * differently as the tables grow. Random page cost 1.1 (the default 4
 * prices a read through an index like a disk seek): the statements look up
 * their rows by key in tables the server keeps in memory, and at 4 a batch
 * of 500 keys among 20,000 runs was planned as a scan of all of them.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  application_name: "openworkflow",
  jit: "off",
  DateStyle: "ISO, MDY",
  plan_cache_mode: "force_generic_plan",
  random_page_cost: "1.1",
};

/**
 * What the claims of one backend remember: whether runs with flow-control
 * keys were seen last time (then every claim weighs them against the
 * others; else the claims take the others, and look for keys once a
 * second).
 */
export interface ClaimState {
  keyed: boolean;
  /** When a claim last looked for runs with keys (`performance.now()`). */
  askedAt?: number;
  /**
   * Told when runs with keys were held back, with when to look again (a
   * rate window moving on, a race with another claim; a full concurrency
   * key that frees a slot notifies by itself).
   */
  onHeldBack?: (at: Date) => void;
}

/** How soon claims look again at runs a race with another claim held back. */
const HELD_BACK_RETRY_MS = 50;

/** How often claims without keys ask whether runs with keys wait. */
const KEYED_CHECK_INTERVAL_MS = 1_000;

/** Runs no flow-control key holds back. */
const FREE =
  "r.concurrency_key IS NULL AND (r.rate_key IS NULL OR r.started_at IS NOT NULL)";

/**
 * Claims up to `params.limit` claimable runs, highest priority first, then
 * longest waiting, keeping to their concurrency and rate limits; returns
 * them oldest first.
 */
export async function claimWorkflowRuns(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  state: ClaimState = { keyed: true },
): Promise<WorkflowRun[]> {
  if (params.workflows !== undefined && params.workflows.length === 0) {
    return [];
  }
  let runs: Row[];
  // Without runs with keys seen, claims take the others in the simplest
  // statement, and the full one (which also finds keys) goes at most once
  // a second, to see whether runs with keys appeared: finding keys costs
  // one index probe per workflow and key, more than such a claim.
  const now = performance.now();
  if (
    !state.keyed &&
    now - (state.askedAt ?? -Infinity) < KEYED_CHECK_INTERVAL_MS
  ) {
    runs = [
      ...await s.sql<Row[]>`
        WITH ${take(s, params, freeCandidates(s, params))}
        SELECT * FROM claimed`,
    ];
  } else {
    state.askedAt = now;
    runs = await claimKeyed(s, params, state);
  }
  return runs.map(toWorkflowRun).sort((a, b) =>
    a.createdAt.getTime() - b.createdAt.getTime()
  );
}

/** The claimable runs of `params.workflows` (all without). */
function claimable(s: Scope): Fragment {
  const { sql, namespaceId: ns } = s;
  return sql`
      r.namespace_id = ${ns}
      AND r.status IN ('pending', 'running', 'sleeping')
      AND r.available_at <= now()
      AND (r.deadline_at IS NULL OR r.deadline_at > now())` as unknown as Fragment;
}

/**
 * Up to `limit` claimable runs without flow-control keys, locked (skipping
 * locked ones), best first.
 *
 * With workflows named, each is read on its own (runs of workflows this
 * worker does not have are never scanned), its name and version written
 * into its scan so that the planner weighs them with its statistics, and
 * one priority at a time: a recursive probe of `workflow_runs_free` finds
 * each priority (one index entry each), then only that priority's due runs
 * are read, in availability order (waiting ones, and running ones whose
 * lease lapsed), however many sleep or hold a lease behind them. (`now()`
 * gives the planner no estimate of how many runs are due, so the choice of
 * path cannot be left to it.)
 */
function freeCandidates(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  lock = true,
): Fragment {
  const { sql, runs } = s;
  const locking = lock ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  if (params.workflows === undefined) {
    return sql`
      SELECT r.id, r.priority, r.available_at, r.created_at FROM ${runs} r
      WHERE ${claimable(s)} AND ${sql.unsafe(FREE)}
      ORDER BY r.priority DESC, r.available_at, r.created_at
      LIMIT ${params.limit}
      ${locking}` as unknown as Fragment;
  }
  const byPriority = ({ name, version }: WorkflowSelector) => {
    const next = (after: Fragment) =>
      nextThroughIndex(
        s,
        "priority",
        "DESC",
        sql`r.workflow_name = ${name} AND ${sql.unsafe(FREE)}`,
        after,
      );
    return sql`SELECT * FROM (
      WITH RECURSIVE p(priority) AS (
        SELECT ${next(sql``)}
        UNION ALL
        SELECT ${next(sql`AND r.priority < p.priority`)}
        FROM p WHERE p.priority IS NOT NULL
      )
      SELECT d.* FROM p CROSS JOIN LATERAL (
        SELECT r.id, r.priority, r.available_at, r.created_at FROM ${runs} r
        WHERE ${claimable(s)} AND ${sql.unsafe(FREE)}
          AND r.workflow_name = ${name}
          AND r.version ${version === null ? sql`IS NULL` : sql`= ${version}`}
          AND r.priority = p.priority
        ORDER BY r.available_at, r.created_at
        LIMIT ${params.limit}
        ${locking}
      ) d
      WHERE p.priority IS NOT NULL
      ORDER BY d.priority DESC, d.available_at, d.created_at
      LIMIT ${params.limit}
    ) AS w`;
  };
  return sql`
    SELECT c.id, c.priority, c.available_at, c.created_at
    FROM (${
    params.workflows.map(byPriority).reduce((all, one) =>
      sql`${all} UNION ALL ${one}`
    )
  }) c
    ORDER BY c.priority DESC, c.available_at, c.created_at
    LIMIT ${params.limit}` as unknown as Fragment;
}

/** A piece of SQL, as postgres.js builds it. */
type Fragment = ReturnType<Scope["sql"]>;

/** Marks the runs `candidates` selects as held by the claimer. */
function take(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  candidates: Fragment,
): Fragment {
  const { sql, runs, namespaceId: ns } = s;
  // The candidates are chosen once: as a subquery of the UPDATE, a plan
  // that scans them again (the inner side of a join) would lock and take
  // further rows each time, the ones taken already being invisible to it,
  // and claim more than the limit.
  return sql`
      candidates AS MATERIALIZED (${candidates}),
      claimed AS (
        UPDATE ${runs} r SET
          status = 'running',
          worker_id = ${params.workerId},
          wake_requested = false,
          attempts = r.attempts + 1,
          available_at = now() + ${params.leaseDurationMs} * interval '1 millisecond',
          started_at = coalesce(r.started_at, now()),
          updated_at = now()
        FROM candidates c
        WHERE r.namespace_id = ${ns} AND r.id = c.id
          AND r.id = ANY(ARRAY(SELECT id FROM candidates))
        RETURNING r.*, c.available_at AS ready_at
      )`;
}

/** Runs of the claimer's workflows (and versions), `r` being the run. */
function ofWorkflows(s: Scope, params: ClaimWorkflowRunsParams): Fragment {
  const { sql } = s;
  return (params.workflows === undefined ? sql`true` : sql`EXISTS (
      SELECT 1 FROM wf
      WHERE wf.name = r.workflow_name
        AND wf.version IS NOT DISTINCT FROM r.version)`) as unknown as Fragment;
}

/**
 * The distinct keys (`column`) of the unfinished runs of each workflow in
 * `names`, found by skipping through the key's index: one index probe per
 * key, however many runs a key has.
 */
function keysOf(
  s: Scope,
  cte: string,
  column: "concurrency_key" | "rate_key",
  scope: string,
): Fragment {
  const { sql } = s;
  const key = sql(column);
  const next = (after: Fragment) =>
    nextThroughIndex(
      s,
      column,
      "ASC",
      sql`r.workflow_name = n.name AND ${sql.unsafe(scope)}`,
      after,
    );
  return sql`${sql(cte)}(name, k) AS (
      SELECT n.name, ${next(sql``)} FROM names n
      UNION ALL
      SELECT n.name, ${next(sql`AND r.${key} > n.k`)}
      FROM ${sql(cte)} n WHERE n.k IS NOT NULL
    )` as unknown as Fragment;
}

/**
 * The first value of `column`, in `order`, among the namespace's
 * unfinished runs that `where` picks (`r` being the run) and `after` does
 * not exclude, or `NULL`: one probe of the index whose leading columns
 * `where` pins, however many runs share a value. Called again with
 * `after` past the value found, it skips through the index's distinct
 * values.
 */
function nextThroughIndex(
  s: Scope,
  column: "priority" | "concurrency_key" | "rate_key",
  order: "ASC" | "DESC",
  where: Fragment,
  after: Fragment,
): Fragment {
  const { sql, runs, namespaceId: ns } = s;
  const key = sql(column);
  return sql`(SELECT r.${key} FROM ${runs} r
      WHERE r.namespace_id = ${ns}
        AND r.status IN ('pending', 'running', 'sleeping') AND ${where} ${after}
      ORDER BY r.${key} ${sql.unsafe(order)} LIMIT 1)` as unknown as Fragment;
}

/** Runs a concurrency key holds back (with or without a rate key too). */
const CONCURRENCY_SCOPE = "r.concurrency_key IS NOT NULL";
/** Runs only a rate key holds back: not started yet, no concurrency key. */
const RATE_SCOPE =
  "r.rate_key IS NOT NULL AND r.started_at IS NULL AND r.concurrency_key IS NULL";
/** How the runs a claim weighs are ordered: best first. */
const BEST_FIRST = "priority DESC, available_at, created_at, id";

/**
 * One statement: weighs the runs with keys against the others by
 * priority, and claims the best that fit their keys' limits.
 *
 * Keys are found one at a time through their indexes, and a full key's
 * runs are never read: its gate (`flow_gates`, kept by triggers) says how
 * many of its slots are used. The statement then locks the gates of the
 * runs it would take, skipping gates another claim holds: a locked row is
 * read in its newest version, so the counts the runs are weighed against
 * are the committed ones, and a claim of the same key waits for none. The
 * triggers count the runs this statement takes before it commits.
 *
 * A run whose worker lost its lease still holds its slot, but its key's
 * room counts it as free (locked, so that no other claim counts it too):
 * the run competes for the slot with the key's waiting runs.
 */
async function claimKeyed(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  state: ClaimState,
): Promise<Row[]> {
  const { sql, runs, gates, namespaceId: ns } = s;
  const limit = params.limit;
  const names = params.workflows === undefined
    // Every workflow with a gate: one probe per name through its key.
    ? sql`names(name) AS (
        (SELECT workflow_name FROM ${gates} WHERE namespace_id = ${ns}
          ORDER BY workflow_name LIMIT 1)
        UNION ALL
        SELECT (SELECT workflow_name FROM ${gates}
          WHERE namespace_id = ${ns} AND workflow_name > names.name
          ORDER BY workflow_name LIMIT 1)
        FROM names WHERE names.name IS NOT NULL
      )`
    : sql`names(name) AS (SELECT DISTINCT name FROM wf)`;
  const wf = params.workflows === undefined ? null : JSON.stringify(
    params.workflows.map(({ name, version }) => ({ name, version })),
  );
  const window = sql`now() - g.period_ms * interval '1 millisecond'`;
  const rows = await sql<Row[]>`
    WITH RECURSIVE
    wf AS MATERIALIZED (
      SELECT * FROM json_to_recordset(${wf}::text::json)
        AS w(name text, version text)
    ),
    ${names},
    ${keysOf(s, "ckeys", "concurrency_key", CONCURRENCY_SCOPE)},
    ${keysOf(s, "rkeys", "rate_key", RATE_SCOPE)},
    -- Concurrency gates, with their runs whose lease lapsed (counted as
    -- free) and when the next lease of a full gate lapses.
    cgates AS MATERIALIZED (
      SELECT k.name, k.k AS key,
        greatest(g.lim - g.used, 0) + lapsed.n AS room,
        CASE WHEN g.used >= g.lim THEN (SELECT r.available_at FROM ${runs} r
          WHERE r.namespace_id = ${ns} AND r.workflow_name = k.name
            AND r.concurrency_key = k.k AND r.status = 'running'
            AND r.available_at > now()
          ORDER BY r.available_at LIMIT 1) END AS room_at
      FROM ckeys k
      JOIN ${gates} g ON g.namespace_id = ${ns} AND g.workflow_name = k.name
        AND g.kind = 'c' AND g.key = k.k AND g.period_ms = 0
      CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM (SELECT 1 FROM ${runs} r
          WHERE r.namespace_id = ${ns} AND r.workflow_name = k.name
            AND r.concurrency_key = k.k AND r.status = 'running'
            AND r.available_at <= now()
          LIMIT ${limit}) AS l
      ) lapsed
      WHERE k.k IS NOT NULL
    ),
    -- The first waiting runs of each concurrency key with room, as many as
    -- it has room for.
    cpool AS MATERIALIZED (
      SELECT h.id, h.priority, h.available_at, h.created_at, g.name,
        g.key AS ckey, h.rkey, h.period
      FROM cgates g CROSS JOIN LATERAL (
        SELECT r.id, r.priority, r.available_at, r.created_at,
          CASE WHEN r.started_at IS NULL THEN r.rate_key END AS rkey,
          r.rate_period_ms AS period
        FROM ${runs} r
        WHERE r.namespace_id = ${ns} AND r.workflow_name = g.name
          AND r.concurrency_key = g.key AND ${claimable(s)}
          AND ${ofWorkflows(s, params)}
        ORDER BY r.priority DESC, r.available_at, r.created_at
        LIMIT least(${limit}, g.room)
      ) h
      WHERE g.room > 0
    ),
    -- Rate gates and when each has room again.
    rgates AS MATERIALIZED (
      SELECT g.workflow_name, g.key, g.period_ms,
        g.lim - (SELECT count(*) FROM unnest(g.starts) AS t
          WHERE t > ${window}) AS room,
        (SELECT min(t) FROM unnest(g.starts) AS t WHERE t > ${window})
          + g.period_ms * interval '1 millisecond' AS room_at
      FROM rkeys k
      JOIN ${gates} g ON g.namespace_id = ${ns} AND g.workflow_name = k.name
        AND g.kind = 'r' AND g.key = k.k
      WHERE k.k IS NOT NULL
    ),
    -- The first waiting runs of each rate key with room.
    rpool AS MATERIALIZED (
      SELECT h.id, h.priority, h.available_at, h.created_at,
        g.workflow_name AS name, NULL::text AS ckey, g.key AS rkey,
        g.period_ms AS period
      FROM rgates g CROSS JOIN LATERAL (
        SELECT r.id, r.priority, r.available_at, r.created_at FROM ${runs} r
        WHERE r.namespace_id = ${ns} AND r.workflow_name = g.workflow_name
          AND r.rate_key = g.key AND r.rate_period_ms = g.period_ms
          AND ${sql.unsafe(RATE_SCOPE)} AND ${claimable(s)}
          AND ${ofWorkflows(s, params)}
        ORDER BY r.priority DESC, r.available_at, r.created_at
        LIMIT least(${limit}, g.room)
      ) h
      WHERE g.room > 0
    ),
    chosen AS MATERIALIZED (
      SELECT * FROM (
        SELECT f.id, f.priority, f.available_at, f.created_at, NULL::text,
          NULL::text, NULL::text, NULL::bigint
        FROM (${freeCandidates(s, params, false)}) f
        UNION ALL SELECT * FROM cpool
        UNION ALL SELECT * FROM rpool
      ) AS p(id, priority, available_at, created_at, name, ckey, rkey, period)
      ORDER BY ${sql.unsafe(BEST_FIRST)}
      LIMIT ${limit}
    ),
    -- The gates of the chosen runs, newest versions, none another claim holds.
    locked_gates AS MATERIALIZED (
      SELECT g.workflow_name, g.kind, g.key, g.period_ms, g.lim, g.used,
        (SELECT count(*) FROM unnest(g.starts) AS t WHERE t > ${window})
          AS started,
        (SELECT min(t) FROM unnest(g.starts) AS t WHERE t > ${window})
          + g.period_ms * interval '1 millisecond' AS room_at
      FROM ${gates} g
      WHERE g.namespace_id = ${ns}
        AND (g.workflow_name, g.kind, g.key, g.period_ms) IN (
          SELECT name, 'c', ckey, 0 FROM chosen WHERE ckey IS NOT NULL
          UNION ALL
          SELECT name, 'r', rkey, period FROM chosen WHERE rkey IS NOT NULL)
      FOR UPDATE OF g SKIP LOCKED
    ),
    -- Runs of those concurrency keys whose lease lapsed: their slots are
    -- free for this claim (locked: for no other claim).
    lapsed AS MATERIALIZED (
      SELECT r.workflow_name, r.concurrency_key FROM locked_gates g
      JOIN ${runs} r ON r.namespace_id = ${ns}
        AND r.workflow_name = g.workflow_name AND r.concurrency_key = g.key
      WHERE g.kind = 'c' AND r.status = 'running' AND r.available_at <= now()
      FOR UPDATE OF r SKIP LOCKED
    ),
    locked AS MATERIALIZED (
      SELECT c.* FROM chosen c
      JOIN ${runs} r ON r.namespace_id = ${ns} AND r.id = c.id
        AND r.id = ANY(ARRAY(SELECT id FROM chosen))
      WHERE ${claimable(s)}
      FOR UPDATE OF r SKIP LOCKED
    ),
    ranked AS (
      SELECT l.*,
        row_number() OVER (PARTITION BY l.name, l.ckey
          ORDER BY ${sql.unsafe(BEST_FIRST)}) AS crank,
        row_number() OVER (PARTITION BY l.name, l.rkey, l.period
          ORDER BY ${sql.unsafe(BEST_FIRST)}) AS rrank
      FROM locked l
    ),
    taken AS MATERIALIZED (
      SELECT k.id, k.available_at FROM ranked k
      LEFT JOIN locked_gates cg ON k.ckey IS NOT NULL AND cg.kind = 'c'
        AND cg.workflow_name = k.name AND cg.key = k.ckey
      LEFT JOIN locked_gates rg ON k.rkey IS NOT NULL AND rg.kind = 'r'
        AND rg.workflow_name = k.name AND rg.key = k.rkey
        AND rg.period_ms = k.period
      WHERE (k.ckey IS NULL OR k.crank <= cg.lim - cg.used + (
          SELECT count(*) FROM lapsed x
          WHERE x.workflow_name = k.name AND x.concurrency_key = k.ckey))
        AND (k.rkey IS NULL OR k.rrank <= rg.lim - rg.started)
    ),
    ${take(s, params, sql`SELECT id, available_at FROM taken`)}
    SELECT claimed.*, meta.* FROM (SELECT
      EXISTS (SELECT 1 FROM ckeys WHERE k IS NOT NULL)
        OR EXISTS (SELECT 1 FROM rkeys WHERE k IS NOT NULL) AS keyed,
      (SELECT count(*) FROM chosen WHERE ckey IS NOT NULL OR rkey IS NOT NULL)
        > (SELECT count(*) FROM taken t JOIN chosen c USING (id)
          WHERE c.ckey IS NOT NULL OR c.rkey IS NOT NULL) AS held,
      least(
        (SELECT min(room_at) FROM cgates),
        (SELECT min(room_at) FROM rgates WHERE room <= 0),
        (SELECT min(room_at) FROM locked_gates
          WHERE kind = 'r' AND started >= lim)) AS room_at
    ) meta LEFT JOIN claimed ON true`;
  const meta = rows[0];
  state.keyed = meta?.keyed === true;
  if (meta?.held === true) {
    // Chosen runs a race held back (a gate another claim held, a count
    // that moved): look again soon.
    state.onHeldBack?.(new Date(Date.now() + HELD_BACK_RETRY_MS));
  }
  if (meta?.room_at instanceof Date) {
    // A rate window moves on, a lease may lapse: nothing announces them.
    state.onHeldBack?.(meta.room_at);
  }
  return rows.filter((row) => row.id !== null);
}
