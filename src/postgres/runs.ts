/**
 * The statements of `BackendPostgres` on workflow runs: creation, reads,
 * heartbeats and the finishing transitions (batched, see `scope.ts`), and
 * the unbatched status reads, deadline sweep and cancellation.
 *
 * @module
 */

import type {
  CancelWorkflowRunParams,
  CreateWorkflowRunParams,
  FailExpiredWorkflowRunsParams,
  HeartbeatWorkflowRunParams,
  MarkWorkflowRunFailedParams,
  ReleaseWorkflowRunParams,
  WorkflowRun,
} from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import { availablePayload } from "./notifications.ts";
import { jsonText } from "../core/json.ts";
import { type Row, toWorkflowRun } from "./rows.ts";
import { items, outcomes, runByKey, type Scope, uuids } from "./scope.ts";

/** Inserts runs; returns each created run, or the existing one of its key. */
export async function createWorkflowRuns(
  s: Scope,
  batch: (CreateWorkflowRunParams & { id: string })[],
): Promise<WorkflowRun[]> {
  const { sql, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
    INSERT INTO ${s.runs} (
      namespace_id, id, workflow_name, version, status, idempotency_key,
      config, context, input, available_at, deadline_at,
      parent_workflow_run_id, detached, priority, concurrency_key,
      concurrency_limit, rate_key, rate_limit, rate_period_ms
    )
    SELECT ${ns}, v.id, v.workflow_name, v.version, 'pending', v.idempotency_key,
      v.config::json, v.context::json, v.input::json,
      coalesce(v.available_at, now() + v.after_ms * interval '1 millisecond'),
      v.deadline_at, v.parent_id, v.detached, v.priority, v.c_key, v.c_limit,
      v.r_key, v.r_limit, v.r_period
    FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.id,
      workflow_name: p.workflowName,
      version: p.version,
      idempotency_key: p.idempotencyKey,
      config: jsonText(p.config),
      context: jsonText(p.context),
      input: jsonText(p.input),
      available_at: p.availableAt?.toISOString() ?? null,
      after_ms: p.availableAfterMs ?? 0,
      deadline_at: p.deadlineAt?.toISOString() ?? null,
      parent_id: p.parentWorkflowRunId ?? null,
      detached: p.detached === true,
      priority: p.priority ?? 0,
      c_key: p.concurrencyKey ?? null,
      c_limit: p.concurrencyLimit ?? null,
      r_key: p.rateLimitKey ?? null,
      r_limit: p.rateLimit ?? null,
      r_period: p.rateLimitPeriodMs ?? null,
    })))
  }::text::json) AS v(
      id uuid, workflow_name text, version text, idempotency_key text,
      config text, context text, input text,
      available_at timestamptz, after_ms double precision, deadline_at timestamptz,
      parent_id uuid, detached boolean, priority integer, c_key text,
      c_limit integer, r_key text, r_limit integer, r_period bigint
    )
    ON CONFLICT (namespace_id, workflow_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *, CASE WHEN available_at <= now()
      THEN pg_notify(${s.channel}, ${availablePayload(ns)})
      ELSE pg_notify(${s.channel}, json_build_array('a', ${ns}::text,
        (extract(epoch FROM available_at) * 1000)::bigint)::text)
      END AS notified`;
  const created = new Map(rows.map((row) => [row.id as string, row]));
  const results: WorkflowRun[] = [];
  for (const p of batch) {
    const row = created.get(p.id);
    if (row !== undefined) {
      results.push(toWorkflowRun(row));
      continue;
    }
    // The idempotency key was taken: return the run that has it.
    const [existing] = await sql<Row[]>`
      SELECT * FROM ${s.runs}
      WHERE namespace_id = ${ns} AND workflow_name = ${p.workflowName}
        AND idempotency_key = ${p.idempotencyKey}`;
    results.push(toWorkflowRun(existing));
  }
  return results;
}

/** Reads runs by id; `null` for ids of no run. */
export async function getWorkflowRuns(
  s: Scope,
  ids: string[],
): Promise<(WorkflowRun | null)[]> {
  const rows = await s.sql<Row[]>`
    SELECT r.* FROM unnest(${uuids(ids)}::uuid[]) AS u(id)
    CROSS JOIN LATERAL ${runByKey(s, s.sql`u.id`)} r`;
  const byId = new Map(rows.map((row) => [row.id as string, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row === undefined ? null : toWorkflowRun(row);
  });
}

/** Extends leases; `LeaseLostError` for runs the worker does not own. */
export async function heartbeatWorkflowRuns(
  s: Scope,
  batch: HeartbeatWorkflowRunParams[],
): Promise<(void | Error)[]> {
  const rows = await s.sql<Row[]>`
    WITH v AS (SELECT * FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.workflowRunId,
      worker_id: p.workerId,
      lease_ms: p.leaseDurationMs,
    })))
  }::text::json) AS v(id uuid, worker_id text, lease_ms double precision))
    UPDATE ${s.runs} r SET
      available_at = now() + v.lease_ms * interval '1 millisecond',
      updated_at = now()
    FROM v
    WHERE r.namespace_id = ${s.namespaceId} AND r.id = v.id
      AND r.id = ANY(${uuids(batch.map((p) => p.workflowRunId))}::uuid[])
      AND r.status = 'running' AND r.worker_id = v.worker_id
    RETURNING r.id`;
  return outcomes(batch, rows);
}

/** One finishing write of a run by its owner. */
export type RunTransition =
  | {
    kind: "succeeded";
    workflowRunId: string;
    workerId: string;
    output: JsonValue | null;
    /**
     * Step attempts of the run that must be succeeded for the run to be:
     * those marked succeeded earlier in the same transaction.
     */
    stepAttemptIds?: string[];
  }
  | ({ kind: "failed" } & MarkWorkflowRunFailedParams)
  | ({ kind: "release" } & ReleaseWorkflowRunParams);

/**
 * Wakes the runs of `parents` (a fragment selecting `id`s) that are not
 * changed by the same statement (see `Backend`, rule 11): a `pending` or
 * `sleeping` one is claimable at once, a `running` one at its next release;
 * and notifies.
 */
function wakeRuns(
  s: Scope,
  parents: ReturnType<Scope["sql"]>,
  changed: ReturnType<Scope["sql"]>,
): ReturnType<Scope["sql"]> {
  const ns = s.namespaceId;
  return s.sql`
    UPDATE ${s.runs} p SET wake_requested = true, updated_at = now(),
      available_at = CASE WHEN p.status = 'running' THEN p.available_at
        ELSE least(p.available_at, now()) END
    WHERE p.namespace_id = ${ns} AND p.id = ANY(ARRAY(${parents}))
      AND EXISTS (${parents})
      AND p.id NOT IN (${changed})
      AND p.status IN ('pending', 'running', 'sleeping')
    RETURNING pg_notify(${s.channel}, ${availablePayload(ns)})`;
}

/**
 * Completes, fails or releases runs, fenced to their owners, and notifies:
 * `finished` for completed and failed runs, `available` for released ones.
 * Finishing an attached child wakes its parent; a run woken since its claim
 * is released claimable at once.
 */
export async function transitionWorkflowRuns(
  s: Scope,
  batch: RunTransition[],
): Promise<(void | Error)[]> {
  const ns = s.namespaceId;
  const ids = uuids(batch.map((p) => p.workflowRunId));
  const rows = await s.sql<Row[]>`
    WITH v AS (SELECT * FROM json_to_recordset(${
    items(batch.map((p) => ({
      kind: p.kind === "failed" && p.status === "canceled"
        ? "canceled"
        : p.kind,
      id: p.workflowRunId,
      worker_id: p.workerId,
      output: p.kind === "succeeded" ? jsonText(p.output) : null,
      error: p.kind === "failed" ? jsonText(p.error) : null,
      status: p.kind === "release" ? p.status : null,
      available_at: p.kind === "release"
        ? p.availableAt?.toISOString() ?? null
        : null,
      set_context: p.kind === "release" && p.context !== undefined,
      context: p.kind === "release" ? jsonText(p.context) : null,
      steps: p.kind === "succeeded" && p.stepAttemptIds !== undefined
        ? uuids(p.stepAttemptIds)
        : null,
    })))
  }::text::json) AS v(
      kind text, id uuid, worker_id text, output text, error text,
      status text, available_at timestamptz, set_context boolean, context text,
      steps uuid[]
    )),
    parents AS (
      SELECT c.parent_workflow_run_id AS id
      FROM v CROSS JOIN LATERAL ${runByKey(s, s.sql`v.id`)} c
      WHERE v.kind <> 'release' AND c.status = 'running'
        AND c.worker_id = v.worker_id
        AND c.parent_workflow_run_id IS NOT NULL AND NOT c.detached
    ),
    woken AS (${
    wakeRuns(s, s.sql`SELECT id FROM parents`, s.sql`SELECT id FROM v`)
  })
    UPDATE ${s.runs} r SET
      status = CASE v.kind WHEN 'release' THEN v.status ELSE v.kind END,
      output = CASE v.kind WHEN 'succeeded' THEN v.output::json ELSE r.output END,
      error = CASE WHEN v.kind IN ('failed', 'canceled') THEN v.error::json
        ELSE r.error END,
      context = CASE WHEN v.set_context THEN v.context::json ELSE r.context END,
      available_at = CASE
        WHEN v.kind <> 'release' THEN r.available_at
        WHEN r.wake_requested OR r.id IN (SELECT id FROM parents) THEN now()
        ELSE coalesce(v.available_at, now()) END,
      wake_requested = false,
      completed_at = CASE v.kind WHEN 'release' THEN NULL ELSE now() END,
      updated_at = now()
    FROM v
    WHERE r.namespace_id = ${ns} AND r.id = v.id
      AND r.id = ANY(${ids}::uuid[])
      AND r.status = 'running' AND r.worker_id = v.worker_id
      AND (v.steps IS NULL OR cardinality(v.steps) = (
        SELECT count(*) FROM ${s.steps} sa
        WHERE sa.namespace_id = ${ns} AND sa.id = ANY(v.steps)
          AND sa.workflow_run_id = r.id AND sa.status = 'succeeded'))
    RETURNING r.id, CASE WHEN v.kind = 'release' THEN pg_notify(${s.channel},
        json_build_array('a', ${ns}::text,
          (extract(epoch FROM r.available_at) * 1000)::bigint)::text)
      ELSE pg_notify(${s.channel}, CASE
        WHEN coalesce(octet_length(v.output), 0) + coalesce(octet_length(v.error), 0) < 7000
        THEN json_build_array('f', ${ns}::text, r.id, v.kind, v.output::json, v.error::json)::text
        ELSE json_build_array('f', ${ns}::text, r.id)::text END)
      END AS notified`;
  return outcomes(batch, rows);
}

/** The id and status of each of the runs `ids` (UUIDs) that exists. */
export async function selectWorkflowRunStatuses(
  s: Scope,
  ids: string[],
): Promise<Pick<WorkflowRun, "id" | "status">[]> {
  const { sql } = s;
  const rows = await sql<Row[]>`
      SELECT r.id, r.status FROM unnest(${uuids(ids)}::uuid[]) AS u(id)
      CROSS JOIN LATERAL ${runByKey(s, sql`u.id`)} r`;
  return rows.map((row) => ({
    id: row.id as string,
    status: row.status as WorkflowRun["status"],
  }));
}

/**
 * Fails every unfinished run whose deadline has passed and that no worker
 * holds, and notifies; returns how many.
 */
export async function failExpiredWorkflowRuns(
  s: Scope,
  params: FailExpiredWorkflowRunsParams,
): Promise<number> {
  const { sql, runs, namespaceId: ns, channel } = s;
  const error = jsonText(params.error);
  // Runs with compensations to run are left to a worker (see `Backend`).
  const rows = await sql`
      WITH expired AS (
        SELECT r.id, r.parent_workflow_run_id, r.detached,
          ${compensable(s, sql`r`)} AS compensable
        FROM ${runs} r
        WHERE r.namespace_id = ${ns}
          AND r.deadline_at IS NOT NULL AND r.deadline_at <= now()
          AND r.status IN ('pending', 'running', 'sleeping')
          AND (r.status <> 'running' OR r.available_at <= now())
        FOR UPDATE
      ),
      unwound AS (
        UPDATE ${runs} r SET ${
    unwindSet(s, "deadline", sql`r.deadline_at`, error)
  }
        FROM expired e
        WHERE r.namespace_id = ${ns} AND r.id = e.id AND e.compensable
        RETURNING pg_notify(${channel}, ${availablePayload(ns)})
      ),
      woken AS (${
    wakeRuns(
      s,
      sql`SELECT parent_workflow_run_id FROM expired
        WHERE parent_workflow_run_id IS NOT NULL AND NOT detached
          AND NOT compensable`,
      sql`SELECT id FROM expired`,
    )
  })
      UPDATE ${runs} r SET
        status = 'failed', error = ${error}::text::json,
        completed_at = now(), updated_at = now()
      FROM expired e
      WHERE r.namespace_id = ${ns} AND r.id = e.id AND NOT e.compensable
      RETURNING pg_notify(${channel},
        json_build_array('f', ${ns}::text, r.id, 'failed', NULL, r.error)::text)`;
  return rows.length;
}

/**
 * Whether run `r` (an alias fragment) has a completed step with a
 * compensation.
 */
function compensable(
  s: Scope,
  r: ReturnType<Scope["sql"]>,
): ReturnType<Scope["sql"]> {
  return s.sql`EXISTS (SELECT 1 FROM ${s.steps} sa
    WHERE sa.namespace_id = ${r}.namespace_id
      AND sa.workflow_run_id = ${r}.id AND sa.status = 'succeeded'
      AND sa.config ->> 'compensate' = 'true')`;
}

/**
 * The `SET` clause that hands run `r` to a worker to unwind: claimable now,
 * its deadline cleared (kept in `context.unwind`, from `deadline`), with
 * `error`.
 */
function unwindSet(
  s: Scope,
  reason: "deadline" | "cancel",
  deadline: ReturnType<Scope["sql"]>,
  error: string | null,
): ReturnType<Scope["sql"]> {
  return s.sql`status = 'pending', available_at = now(),
    wake_requested = false, updated_at = now(),
    context = (CASE WHEN json_typeof(r.context) = 'object'
        THEN r.context::jsonb ELSE '{}'::jsonb END ||
      jsonb_build_object('unwind', jsonb_build_object(
        'reason', ${reason}::text, 'error', ${error}::text::jsonb,
        'deadlineAt', (extract(epoch FROM ${deadline}) * 1000)::bigint)))::json,
    deadline_at = NULL`;
}

/**
 * Cancels the run if unfinished, and notifies; returns it, or `null` when
 * no unfinished run has that id.
 */
export async function cancelUnfinishedWorkflowRun(
  s: Scope,
  params: CancelWorkflowRunParams,
): Promise<WorkflowRun | null> {
  const { sql, runs, namespaceId: ns, channel } = s;
  const error = jsonText(params.error);
  // With compensations asked for, a run that has some to run is left to a
  // worker to unwind; its attached descendants are canceled now.
  const unwind = params.compensate === true;
  // The run and its attached descendants, however deep; the parent of the
  // run (when it is an attached child) is woken.
  const rows = await sql<Row[]>`
      WITH RECURSIVE tree(id, parent_workflow_run_id, detached) AS (
        SELECT id, parent_workflow_run_id, detached FROM ${runs}
        WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
        UNION
        SELECT c.id, c.parent_workflow_run_id, c.detached
        FROM ${runs} c JOIN tree t
          ON c.namespace_id = ${ns} AND c.parent_workflow_run_id = t.id
          AND NOT c.detached
      ),
      root AS (
        SELECT r.id FROM ${runs} r
        WHERE r.namespace_id = ${ns} AND r.id = ${params.workflowRunId}
          AND ${unwind} AND r.status IN ('pending', 'running', 'sleeping')
          AND ${compensable(s, sql`r`)}
        FOR UPDATE
      ),
      unwound AS (
        UPDATE ${runs} r SET ${
    unwindSet(s, "cancel", sql`NULL::timestamptz`, error)
  }
        FROM root
        WHERE r.namespace_id = ${ns} AND r.id = root.id
        RETURNING r.*, pg_notify(${channel}, ${availablePayload(ns)})
      ),
      canceled AS (
        UPDATE ${runs} r SET
          status = 'canceled', error = ${error}::text::json,
          completed_at = now(), updated_at = now()
        FROM tree t
        WHERE r.namespace_id = ${ns} AND r.id = t.id
          AND r.id NOT IN (SELECT id FROM root)
          AND r.status IN ('pending', 'running', 'sleeping')
        RETURNING r.*, pg_notify(${channel},
          json_build_array('f', ${ns}::text, r.id, 'canceled', NULL, r.error)::text)
      ),
      woken AS (${
    wakeRuns(
      s,
      sql`SELECT parent_workflow_run_id FROM tree
        WHERE id = ${params.workflowRunId} AND NOT detached
          AND EXISTS (SELECT 1 FROM canceled c WHERE c.id = tree.id)`,
      sql`SELECT id FROM tree`,
    )
  })
      SELECT * FROM canceled WHERE id = ${params.workflowRunId}
      UNION ALL
      SELECT * FROM unwound WHERE id = ${params.workflowRunId}`;
  return rows[0] === undefined ? null : toWorkflowRun(rows[0]);
}
