/**
 * The claim statement of `BackendPostgres`, in a module of its own so that
 * the benchmarks explain the very statement the engine sends (they run it
 * through a driver that records it).
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import type { ClaimWorkflowRunsParams, WorkflowRun } from "../core/backend.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import type { Scope } from "./scope.ts";

/**
 * The session settings of every pool connection (postgres.js
 * `connection` option, sent when the connection starts). No JIT: row
 * estimates of JSON parameters are guesses, and a JIT compilation costs far
 * more than these short statements. DateStyle ISO: the driver reads
 * timestamps as ISO text; sent with the connection, it overrides a
 * server, database or role default and `options=-c datestyle=…`. Custom
 * plans: the statements are prepared, and a generic plan, made without the
 * namespace and times, reads far more than it needs (a claim over 100,000
 * runs went from 1 ms to 100 ms once the generic plan took over).
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  application_name: "openworkflow",
  jit: "off",
  DateStyle: "ISO, MDY",
  plan_cache_mode: "force_custom_plan",
};

/**
 * What the claims of one backend remember: whether runs with flow-control
 * keys were seen last time (then claims weigh them against the others in
 * one transaction; else one statement claims, and says if any appeared).
 */
export interface ClaimState {
  keyed: boolean;
  /** When claims last asked whether runs with keys wait. */
  askedAt?: number;
  /** Told when runs with keys were held back by their limits. */
  onHeldBack?: () => void;
}

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
  if (!state.keyed) {
    // Whether runs with keys appeared is asked at most once a second: the
    // question can cost more than the claim (a planner that scans the
    // namespace's runs for it).
    const now = performance.now();
    const ask = now - (state.askedAt ?? -Infinity) >= KEYED_CHECK_INTERVAL_MS;
    if (ask) state.askedAt = now;
    const free = await claimFree(s, params, ask);
    state.keyed = free.keyed;
    runs = free.runs;
    if (free.keyed && runs.length < params.limit) {
      runs.push(
        ...await claimKeyed(s, {
          ...params,
          limit: params.limit - runs.length,
        }, state),
      );
    }
  } else runs = await claimKeyed(s, params, state);
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
 * locked ones), best first. With workflows named, each is looked up on its
 * own through the (namespace, workflow, priority, availability) index:
 * runs of workflows this worker does not have are never scanned.
 */
function freeCandidates(
  s: Scope,
  params: ClaimWorkflowRunsParams,
): Fragment {
  const { sql, runs } = s;
  const workflows = params.workflows;
  return (workflows === undefined
    ? sql`
        SELECT r.id, r.priority, r.available_at, r.created_at FROM ${runs} r
        WHERE ${claimable(s)} AND ${sql.unsafe(FREE)}
        ORDER BY r.priority DESC, r.available_at, r.created_at
        LIMIT ${params.limit}
        FOR UPDATE SKIP LOCKED`
    : sql`
        SELECT c.id, c.priority, c.available_at, c.created_at
        FROM json_to_recordset(${
      JSON.stringify(workflows.map(({ name, version }) => ({ name, version })))
    }::text::json) AS w(name text, version text)
        CROSS JOIN LATERAL (
          SELECT r.id, r.priority, r.available_at, r.created_at FROM ${runs} r
          WHERE ${claimable(s)} AND ${sql.unsafe(FREE)}
            AND r.workflow_name = w.name
            AND r.version IS NOT DISTINCT FROM w.version
          ORDER BY r.priority DESC, r.available_at, r.created_at
          LIMIT ${params.limit}
          FOR UPDATE SKIP LOCKED
        ) c
        ORDER BY c.priority DESC, c.available_at, c.created_at
        LIMIT ${params.limit}`) as unknown as Fragment;
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
  return sql`
      claimed AS (
        UPDATE ${runs} r SET
          status = 'running',
          worker_id = ${params.workerId},
          wake_requested = false,
          attempts = r.attempts + 1,
          available_at = now() + ${params.leaseDurationMs} * interval '1 millisecond',
          started_at = coalesce(r.started_at, now()),
          updated_at = now()
        FROM (${candidates}) c
        WHERE r.namespace_id = ${ns} AND r.id = c.id
        RETURNING r.*
      )`;
}

/**
 * One statement: claims runs without keys, and says whether runs with
 * keys wait (they then go through `claimKeyed`).
 */
async function claimFree(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  ask: boolean,
): Promise<{ runs: Row[]; keyed: boolean }> {
  const { sql, runs, namespaceId: ns } = s;
  if (!ask) {
    const rows = await sql<Row[]>`
      WITH ${take(s, params, freeCandidates(s, params))}
      SELECT * FROM claimed`;
    return { runs: [...rows], keyed: false };
  }
  // Whether runs with keys wait, one workflow name at a time (an equality
  // the keyed indexes answer at once).
  const names = params.workflows === undefined
    ? null
    : JSON.stringify([...new Set(params.workflows.map((w) => w.name))]);
  const rows = await sql<Row[]>`
      WITH ${take(s, params, freeCandidates(s, params))}
      SELECT claimed.*, k.keyed FROM (SELECT EXISTS (
        SELECT 1 FROM json_array_elements_text(
          coalesce(${names}::text::json, (SELECT json_agg(DISTINCT workflow_name)
            FROM ${runs} WHERE namespace_id = ${ns}))
        ) AS n(name)
        CROSS JOIN LATERAL (
          (SELECT 1 FROM ${runs} WHERE namespace_id = ${ns}
            AND workflow_name = n.name
            AND status IN ('pending', 'running', 'sleeping')
            AND concurrency_key IS NOT NULL
            ORDER BY concurrency_key LIMIT 1)
          UNION ALL
          (SELECT 1 FROM ${runs} WHERE namespace_id = ${ns}
            AND workflow_name = n.name
            AND status IN ('pending', 'running', 'sleeping')
            AND rate_key IS NOT NULL AND started_at IS NULL
            AND concurrency_key IS NULL
            ORDER BY rate_key LIMIT 1)
        ) AS found
      ) AS keyed) k LEFT JOIN claimed ON true`;
  return {
    runs: rows.filter((row) => row.id !== null),
    keyed: rows[0]?.keyed === true,
  };
}

/** A claimable run with a key, as the keyed claim weighs it. */
interface Keyed {
  id: string;
  priority: number;
  availableAt: number;
  createdAt: number;
  gates: { id: string; limit: number }[];
}

/**
 * The first claimable runs of every key that has runs waiting, found one
 * key at a time through its index (a busy key's backlog is never read),
 * with how many of the key's slots or starts are used.
 */
async function keyedCandidates(
  sql: Sql,
  s: Scope,
  params: ClaimWorkflowRunsParams,
): Promise<{ runs: Keyed[]; used: Map<string, number> }> {
  const { runs, namespaceId: ns } = s;
  const versionsOf = new Map<string, (string | null)[]>();
  for (const { name, version } of params.workflows ?? []) {
    versionsOf.set(name, [...(versionsOf.get(name) ?? []), version]);
  }
  const names = params.workflows === undefined
    ? (await sql<Row[]>`
        SELECT DISTINCT workflow_name FROM ${runs}
        WHERE namespace_id = ${ns} AND status IN ('pending', 'running', 'sleeping')
          AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)`)
      .map((row) => row.workflow_name as string)
    : [...versionsOf.keys()];
  const found: Keyed[] = [];
  const used = new Map<string, number>();
  for (const name of names) {
    const versions = versionsOf.get(name);
    const versionOk = versions === undefined ? sql`true` : sql`(
      r.version IN (SELECT value FROM json_array_elements_text(${
      JSON.stringify(versions.filter((v) => v !== null))
    }::text::json)) OR (${versions.includes(null)} AND r.version IS NULL))`;
    for (const kind of ["concurrency", "rate"] as const) {
      const column = sql(
        kind === "concurrency" ? "concurrency_key" : "rate_key",
      );
      const scope = kind === "concurrency"
        ? sql`r.concurrency_key IS NOT NULL`
        : sql`r.rate_key IS NOT NULL AND r.started_at IS NULL
            AND r.concurrency_key IS NULL`;
      const rows = await sql<Row[]>`
        WITH RECURSIVE keys(k) AS (
          (SELECT r.${column} FROM ${runs} r
            WHERE r.namespace_id = ${ns} AND r.workflow_name = ${name}
              AND r.status IN ('pending', 'running', 'sleeping') AND ${scope}
            ORDER BY r.${column} LIMIT 1)
          UNION ALL
          SELECT (SELECT r.${column} FROM ${runs} r
            WHERE r.namespace_id = ${ns} AND r.workflow_name = ${name}
              AND r.status IN ('pending', 'running', 'sleeping') AND ${scope}
              AND r.${column} > keys.k
            ORDER BY r.${column} LIMIT 1)
          FROM keys WHERE keys.k IS NOT NULL
        )
        SELECT h.* FROM keys CROSS JOIN LATERAL (
          SELECT r.id, r.priority, r.available_at, r.created_at,
            r.concurrency_key, r.concurrency_limit, r.rate_limit,
            r.rate_period_ms,
            CASE WHEN r.started_at IS NULL THEN r.rate_key END AS rate_key
          FROM ${runs} r
          WHERE r.namespace_id = ${ns} AND r.workflow_name = ${name}
            AND r.${column} = keys.k AND ${scope}
            AND ${claimable(s)}
            AND NOT (r.status = 'running' AND r.available_at > now())
            AND ${versionOk}
          ORDER BY r.priority DESC, r.available_at, r.created_at
          LIMIT ${params.limit}
        ) h
        WHERE keys.k IS NOT NULL`;
      for (const row of rows) {
        const gates: { id: string; limit: number }[] = [];
        if (row.concurrency_key !== null) {
          gates.push({
            id: JSON.stringify(["c", name, row.concurrency_key, 0]),
            limit: Number(row.concurrency_limit),
          });
        }
        if (row.rate_key !== null) {
          gates.push({
            id: JSON.stringify([
              "r",
              name,
              row.rate_key,
              Number(row.rate_period_ms),
            ]),
            limit: Number(row.rate_limit),
          });
        }
        found.push({
          id: row.id as string,
          priority: Number(row.priority),
          availableAt: (row.available_at as Date).getTime(),
          createdAt: (row.created_at as Date).getTime(),
          gates,
        });
      }
    }
  }
  return { runs: found, used };
}

/** How many slots or starts each gate has used, read now. */
async function countUsed(
  sql: Sql,
  s: Scope,
  gates: string[],
): Promise<Map<string, number>> {
  if (gates.length === 0) return new Map();
  const rows = await sql<Row[]>`
    SELECT g.gate, CASE g.kind
      WHEN 'c' THEN (SELECT count(*) FROM ${s.runs} r
        WHERE r.namespace_id = ${s.namespaceId} AND r.workflow_name = g.name
          AND r.concurrency_key = g.key AND r.status = 'running'
          AND r.available_at > now())
      ELSE (SELECT count(*) FROM ${s.runs} r
        WHERE r.namespace_id = ${s.namespaceId} AND r.workflow_name = g.name
          AND r.rate_key = g.key AND r.started_at IS NOT NULL
          AND r.started_at > now() - g.period * interval '1 millisecond')
      END AS used
    FROM json_to_recordset(${
    JSON.stringify(gates.map((gate) => {
      const [kind, name, key, period] = JSON.parse(gate);
      return { gate, kind, name, key, period };
    }))
  }::text::json) AS g(gate text, kind text, name text, key text, period bigint)`;
  return new Map(rows.map((row) => [row.gate as string, Number(row.used)]));
}

/** Picks, best first, the runs whose gates all have room. */
function pick(
  candidates: { id: string; gates: { id: string; limit: number }[] }[],
  used: Map<string, number>,
  limit: number,
): string[] {
  const taken = new Map<string, number>();
  const chosen: string[] = [];
  for (const run of candidates) {
    if (chosen.length >= limit) break;
    const fits = run.gates.every((gate) =>
      (used.get(gate.id) ?? 0) + (taken.get(gate.id) ?? 0) < gate.limit
    );
    if (!fits) continue;
    for (const gate of run.gates) {
      taken.set(gate.id, (taken.get(gate.id) ?? 0) + 1);
    }
    chosen.push(run.id);
  }
  return chosen;
}

/**
 * One transaction: weighs the runs with keys against the others by
 * priority, locks the keys it would take runs of (advisory locks, in one
 * order), counts their used slots and starts afresh under those locks, and
 * claims. Claims of one key so wait for each other; every other claim goes
 * on.
 */
async function claimKeyed(
  s: Scope,
  params: ClaimWorkflowRunsParams,
  state: ClaimState,
): Promise<Row[]> {
  return await s.sql.begin(async (transaction): Promise<Row[]> => {
    const sql = transaction as unknown as Sql;
    const scope = { ...s, sql };
    const free = (await sql<Row[]>`${freeCandidates(scope, params)}`).map(
      (row) => ({
        id: row.id as string,
        priority: Number(row.priority),
        availableAt: (row.available_at as Date).getTime(),
        createdAt: (row.created_at as Date).getTime(),
        gates: [],
      }),
    );
    const keyed = await keyedCandidates(sql, scope, params);
    state.keyed = keyed.runs.length > 0;
    const candidates = [...free, ...keyed.runs].sort((a, b) =>
      b.priority - a.priority || a.availableAt - b.availableAt ||
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)
    );
    const gates = [
      ...new Set(
        candidates.flatMap((run) => run.gates.map((gate) => gate.id)),
      ),
    ];
    let used = await countUsed(sql, scope, gates);
    const first = pick(candidates, used, params.limit);
    const locked = [
      ...new Set(
        candidates.filter((run) => first.includes(run.id)).flatMap((run) =>
          run.gates.map((gate) => gate.id)
        ),
      ),
    ].sort();
    if (locked.length > 0) {
      await sql`
        SELECT pg_advisory_xact_lock(hashtextextended(${s.channel} || g, 0))
        FROM json_array_elements_text(${JSON.stringify(locked)}::text::json)
          AS g ORDER BY g`;
      // Counted again under the locks: claims of these keys committed
      // since are seen now.
      used = new Map([...used, ...await countUsed(sql, scope, locked)]);
    }
    const chosen = pick(candidates, used, params.limit);
    if (
      chosen.length < params.limit &&
      keyed.runs.some((run) => !chosen.includes(run.id))
    ) {
      // Runs held back by a full key: look again soon (a slot freed in
      // another process, a rate window moving on, sends no notification).
      state.onHeldBack?.();
    }
    if (chosen.length === 0) return [];
    return [
      ...await sql<Row[]>`
      WITH ${
        take(
          scope,
          params,
          sql`SELECT r.id FROM ${s.runs} r
          WHERE ${claimable(scope)}
            AND NOT (r.status = 'running' AND r.available_at > now())
            AND r.id IN (SELECT value::uuid FROM json_array_elements_text(${
            JSON.stringify(chosen)
          }::text::json))
          FOR UPDATE SKIP LOCKED`,
        )
      }
      SELECT * FROM claimed`,
    ];
  }) as Row[];
}
