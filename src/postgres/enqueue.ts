/**
 * Starting a run inside the application's own transaction: the INSERT goes
 * through the caller's connection (a postgres.js transaction from the
 * application's own copy of the driver, or a node-postgres client inside
 * `BEGIN`), so the run exists only if that transaction commits, and the
 * NOTIFY that wakes workers is delivered at the commit.
 *
 * @module
 */

import type { CreateWorkflowRunParams, WorkflowRun } from "../core/backend.ts";
import { jsonText } from "../core/json.ts";
import { received } from "../core/validate.ts";
import { toWorkflowRun as mapWorkflowRun } from "../sql/rows.ts";
import { availablePayload } from "./notifications.ts";
import type { Scope } from "./scope.ts";

/** A row as the caller's driver returns it. */
type ForeignRow = Record<string, unknown>;

/**
 * Runs `text` with positional `values` on the caller's connection. Every
 * parameter is cast from text in the statement, so that each driver sends
 * the values as they are (postgres.js would encode a string bound to a
 * `json` parameter as a JSON string).
 */
export type ForeignQuery = (
  text: string,
  values: (string | null)[],
) => Promise<ForeignRow[]>;

/**
 * How to run a statement on `transaction`: a postgres.js `TransactionSql`
 * (it has `unsafe(text, values)`) or a node-postgres client (it has
 * `query(text, values)`).
 *
 * @throws {TypeError} for anything else.
 */
export function foreignQuery(transaction: unknown): ForeignQuery {
  const candidate = transaction as {
    unsafe?: (text: string, values: unknown[]) => Promise<ForeignRow[]>;
    query?: (
      text: string,
      values: unknown[],
    ) => Promise<{ rows: ForeignRow[] }>;
  } | null;
  if (
    (typeof candidate === "function" || typeof candidate === "object") &&
    candidate !== null
  ) {
    if (typeof candidate.unsafe === "function") {
      const unsafe = candidate.unsafe.bind(candidate);
      return async (text, values) => [...await unsafe(text, values)];
    }
    if (typeof candidate.query === "function") {
      const query = candidate.query.bind(candidate);
      return async (text, values) => (await query(text, values)).rows;
    }
  }
  throw new TypeError(
    `Cannot start a run in a transaction: 'transaction' must be a postgres.js transaction (the tx of sql.begin()) or a node-postgres client inside BEGIN, received ${
      received(transaction)
    }`,
  );
}

/** Which server and database a connection is on. */
export const IDENTITY_QUERY = `SELECT current_database() AS db,
  pg_postmaster_start_time()::text AS started,
  coalesce(inet_server_addr()::text, 'local') AS host,
  coalesce(inet_server_port(), 0)::text AS port`;

/** What `IDENTITY_QUERY` returns, as text. */
export interface ServerIdentity {
  db: string;
  started: string;
  host: string;
  port: string;
}

/** A row of `IDENTITY_QUERY` as `ServerIdentity`. */
export function toIdentity(row: ForeignRow | undefined): ServerIdentity {
  return {
    db: String(row?.db),
    started: String(row?.started),
    host: String(row?.host),
    port: String(row?.port),
  };
}

/** Reads timestamps and JSON of a run that `row_to_json()` wrote. */
const JSON_READER = {
  json: (value: unknown) => value as never,
  date: (value: unknown) => new Date(value as string),
};

/**
 * Inserts a run through the caller's transaction; returns it, or the
 * existing run of its idempotency key.
 *
 * @throws {TypeError} when the transaction's connection is on another
 * database or server than the backend's.
 */
export async function createWorkflowRunIn(
  s: Scope,
  schema: string,
  ownIdentity: () => Promise<ServerIdentity>,
  query: ForeignQuery,
  params: CreateWorkflowRunParams,
): Promise<WorkflowRun> {
  const theirs = toIdentity((await query(IDENTITY_QUERY, []))[0]);
  const ours = await ownIdentity();
  if (
    theirs.db !== ours.db || theirs.started !== ours.started ||
    theirs.port !== ours.port
  ) {
    throw new TypeError(
      `Cannot start a run in a transaction: the transaction's connection is to database '${theirs.db}' (server ${theirs.host}:${theirs.port}), the backend's to database '${ours.db}' (server ${ours.host}:${ours.port}); a run started there would never be seen by this backend's workers`,
    );
  }
  const ns = s.namespaceId;
  const runs = `${schema}.workflow_runs`;
  const inserted = await query(
    `INSERT INTO ${runs} AS r (
      namespace_id, id, workflow_name, version, status, idempotency_key,
      config, context, input, available_at, deadline_at,
      parent_workflow_run_id, detached, priority, concurrency_key,
      concurrency_limit, rate_key, rate_limit, rate_period_ms
    ) VALUES ($1::text, $2::text::uuid, $3::text, $4::text, 'pending',
      $5::text, $6::text::json, $7::text::json, $8::text::json,
      coalesce($9::text::timestamptz,
        now() + $10::text::double precision * interval '1 millisecond'),
      $11::text::timestamptz, $12::text::uuid, $13::text::boolean,
      $14::text::integer, $15::text, $16::text::integer, $17::text,
      $18::text::integer, $19::text::bigint)
    ON CONFLICT (namespace_id, workflow_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING row_to_json(r)::text AS run, pg_notify($20::text,
      CASE WHEN r.available_at <= now() THEN $21::text
        ELSE json_build_array('a', $1::text,
          (extract(epoch FROM r.available_at) * 1000)::bigint)::text END)`,
    [
      ns,
      crypto.randomUUID(),
      params.workflowName,
      params.version,
      params.idempotencyKey,
      jsonText(params.config),
      jsonText(params.context),
      jsonText(params.input),
      params.availableAt?.toISOString() ?? null,
      String(params.availableAfterMs ?? 0),
      params.deadlineAt?.toISOString() ?? null,
      params.parentWorkflowRunId ?? null,
      String(params.detached === true),
      String(params.priority ?? 0),
      params.concurrencyKey ?? null,
      params.concurrencyLimit == null ? null : String(params.concurrencyLimit),
      params.rateLimitKey ?? null,
      params.rateLimit == null ? null : String(params.rateLimit),
      params.rateLimitPeriodMs == null
        ? null
        : String(params.rateLimitPeriodMs),
      s.channel,
      availablePayload(ns),
    ],
  );
  let row = inserted[0];
  if (row === undefined) {
    // Its idempotency key names a run already: that run.
    row = (await query(
      `SELECT row_to_json(r)::text AS run FROM ${runs} r
      WHERE r.namespace_id = $1::text AND r.workflow_name = $2::text
        AND r.idempotency_key = $3::text`,
      [ns, params.workflowName, params.idempotencyKey],
    ))[0];
  }
  return mapWorkflowRun(JSON.parse(String(row.run)), JSON_READER);
}
