/**
 * The statements on workflow runs, as synchronous functions to call inside
 * a `SqliteConnection` transaction.
 *
 * @module
 */

import type {
  CreateWorkflowRunParams,
  HeartbeatWorkflowRunParams,
  MarkWorkflowRunFailedParams,
  MarkWorkflowRunSucceededParams,
  ReleaseWorkflowRunParams,
  WorkflowRun,
} from "../core/backend.ts";
import { LeaseLostError } from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import type { Params, SqliteConnection } from "./connection.ts";
import { jsonText } from "../core/json.ts";
import { epochMs, jsonTextNotNull, toWorkflowRun } from "./rows.ts";

/** The table of workflow runs. */
export const RUNS = "openworkflow_workflow_runs";
/** The statuses of a run that may still change. */
export const UNFINISHED = "('pending', 'running', 'sleeping')";
/** Matches run `:id` of namespace `:ns` while worker `:workerId` holds it. */
export const OWNED = `namespace_id = :ns AND id = :id
  AND status = 'running' AND worker_id = :workerId`;

/**
 * Inserts a `pending` run, or returns the run of the same workflow that
 * has the same idempotency key.
 */
export function insertWorkflowRun(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: CreateWorkflowRunParams,
): WorkflowRun {
  if (params.idempotencyKey !== null) {
    const existing = db.get(
      `SELECT * FROM ${RUNS} WHERE namespace_id = :ns
        AND workflow_name = :name AND idempotency_key = :key`,
      { ns, name: params.workflowName, key: params.idempotencyKey },
    );
    if (existing !== undefined) return toWorkflowRun(existing);
  }
  const row = db.get(
    `INSERT INTO ${RUNS} (
      namespace_id, id, workflow_name, version, status, idempotency_key,
      config, context, input, available_at, deadline_at, created_at,
      updated_at, parent_workflow_run_id, detached, priority,
      concurrency_key, concurrency_limit, rate_key, rate_limit,
      rate_period_ms
    ) VALUES (
      :ns, :id, :name, :version, 'pending', :key, :config, :context,
      :input, :availableAt, :deadlineAt, :now, :now, :parentId, :detached,
      :priority, :cKey, :cLimit, :rKey, :rLimit, :rPeriod
    ) RETURNING *`,
    {
      ns,
      id: crypto.randomUUID(),
      name: params.workflowName,
      version: params.version,
      key: params.idempotencyKey,
      config: jsonTextNotNull(params.config),
      context: jsonText(params.context),
      input: jsonText(params.input),
      availableAt: epochMs(params.availableAt) ??
        now + (params.availableAfterMs ?? 0),
      deadlineAt: epochMs(params.deadlineAt),
      now,
      parentId: params.parentWorkflowRunId ?? null,
      detached: params.detached === true ? 1 : 0,
      priority: params.priority ?? 0,
      cKey: params.concurrencyKey ?? null,
      cLimit: params.concurrencyLimit ?? null,
      rKey: params.rateLimitKey ?? null,
      rLimit: params.rateLimit ?? null,
      rPeriod: params.rateLimitPeriodMs ?? null,
    },
  );
  return toWorkflowRun(row!);
}

/** Run `id`, or `null`. */
export function selectWorkflowRun(
  db: SqliteConnection,
  ns: string,
  id: string,
): WorkflowRun | null {
  const row = db.get(
    `SELECT * FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
    { ns, id },
  );
  return row === undefined ? null : toWorkflowRun(row);
}

/** The id and status of each of the runs `ids` of namespace `ns`. */
export function selectWorkflowRunStatuses(
  db: SqliteConnection,
  ns: string,
  ids: readonly string[],
): Pick<WorkflowRun, "id" | "status">[] {
  return db.all(
    `SELECT id, status FROM ${RUNS}
    WHERE namespace_id = :ns AND id IN (SELECT value FROM json_each(:ids))`,
    { ns, ids: JSON.stringify(ids) },
  ).map((row) => ({
    id: row.id as string,
    status: row.status as WorkflowRun["status"],
  }));
}

/**
 * Fails every unfinished run whose deadline has passed and that no worker
 * holds; returns how many.
 */
export function failExpiredWorkflowRuns(
  db: SqliteConnection,
  ns: string,
  now: number,
  error: JsonValue,
): number {
  const expired = `namespace_id = :ns
        AND deadline_at IS NOT NULL AND deadline_at <= :now
        AND status IN ${UNFINISHED}
        AND (status <> 'running' OR available_at <= :now)`;
  // Runs with compensations to run are left to a worker (see `Backend`).
  db.run(
    `UPDATE ${RUNS} SET ${unwindSet("'deadline'", "deadline_at")},
        updated_at = :now
      WHERE ${expired} AND ${COMPENSABLE}`,
    { ns, now, error: jsonText(error) },
  );
  const failed = db.all(
    `UPDATE ${RUNS} SET status = 'failed', error = :error,
        completed_at = :now, updated_at = :now
      WHERE ${expired}
      RETURNING id`,
    { ns, now, error: jsonText(error) },
  );
  wakeParentsOf(db, ns, now, failed.map((row) => row.id as string));
  return failed.length;
}

/**
 * Whether the run (of the statement's `${RUNS}` row) has a completed step
 * with a compensation.
 */
const COMPENSABLE = `EXISTS (SELECT 1 FROM openworkflow_step_attempts AS sa
    WHERE sa.namespace_id = ${RUNS}.namespace_id
      AND sa.workflow_run_id = ${RUNS}.id AND sa.status = 'succeeded'
      AND json_extract(sa.config, '$.compensate') = 1)`;

/**
 * The `SET` clause that hands a run to a worker to unwind (`reason`, an SQL
 * string; `deadline`, an SQL expression of epoch ms or NULL): claimable
 * now, its deadline cleared (kept in `context.unwind`), with the error
 * `:error`.
 */
function unwindSet(reason: string, deadline: string): string {
  return `status = 'pending', available_at = :now, wake_requested = 0,
    context = json_set(
      CASE WHEN json_type(context) = 'object' THEN context ELSE '{}' END,
      '$.unwind', json_object('reason', ${reason}, 'error', json(:error),
        'deadlineAt', ${deadline})),
    deadline_at = NULL`;
}

/**
 * Wakes runs (see `Backend`, rule 11): a `pending` or `sleeping` one is
 * claimable at once; a `running` one at its next release.
 */
export function wakeRuns(
  db: SqliteConnection,
  ns: string,
  now: number,
  ids: readonly string[],
): void {
  if (ids.length === 0) return;
  db.run(
    `UPDATE ${RUNS} SET wake_requested = 1, updated_at = :now,
        available_at = CASE WHEN status = 'running' THEN available_at
          ELSE min(available_at, :now) END
      WHERE namespace_id = :ns AND status IN ${UNFINISHED}
        AND id IN (SELECT value FROM json_each(:ids))`,
    { ns, now, ids: JSON.stringify(ids) },
  );
}

/** Wakes the parents of the attached runs `ids`, which just finished. */
export function wakeParentsOf(
  db: SqliteConnection,
  ns: string,
  now: number,
  ids: readonly string[],
): void {
  if (ids.length === 0) return;
  const parents = db.all(
    `SELECT DISTINCT parent_workflow_run_id AS id FROM ${RUNS}
      WHERE namespace_id = :ns AND id IN (SELECT value FROM json_each(:ids))
        AND parent_workflow_run_id IS NOT NULL AND detached = 0`,
    { ns, ids: JSON.stringify(ids) },
  );
  wakeRuns(db, ns, now, parents.map((row) => row.id as string));
}

/**
 * Cancels run `id` if unfinished; returns it (changed or not), or `null`
 * when there is none.
 */
export function cancelWorkflowRun(
  db: SqliteConnection,
  ns: string,
  now: number,
  id: string,
  error: JsonValue,
  compensate = false,
): WorkflowRun | null {
  // With compensations asked for, a run that has some to run is left to a
  // worker to unwind; its attached descendants are canceled now.
  const unwound = compensate && db.run(
        `UPDATE ${RUNS} SET ${unwindSet("'cancel'", "NULL")}, updated_at = :now
      WHERE namespace_id = :ns AND id = :id AND status IN ${UNFINISHED}
        AND ${COMPENSABLE}`,
        { ns, id, now, error: jsonText(error) },
      ) > 0;
  // The run and its attached descendants, however deep.
  const canceled = db.all(
    `WITH RECURSIVE tree(id) AS (
        SELECT id FROM ${RUNS} WHERE namespace_id = :ns AND id = :id
        UNION
        SELECT c.id FROM ${RUNS} AS c JOIN tree AS t
          ON c.namespace_id = :ns AND c.parent_workflow_run_id = t.id
          AND c.detached = 0
      )
      UPDATE ${RUNS} SET status = 'canceled', error = :error,
        completed_at = :now, updated_at = :now
      WHERE namespace_id = :ns AND id IN (SELECT id FROM tree)
        AND (NOT :unwound OR id <> :id)
        AND status IN ${UNFINISHED}
      RETURNING id`,
    { ns, id, now, error: jsonText(error), unwound: unwound ? 1 : 0 },
  );
  wakeParentsOf(db, ns, now, canceled.map((row) => row.id as string));
  const row = db.get(
    `SELECT * FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
    { ns, id },
  );
  return row === undefined ? null : toWorkflowRun(row);
}

/**
 * A fenced update of a run: what it does (for errors), its `SET` clause,
 * with named parameters, and the values of those, given the time of the
 * write.
 */
export interface OwnedRunUpdate {
  /** What the update does, as `BackendError` names it. */
  action: string;
  /** The `SET` clause, without `updated_at`. */
  set: string;
  /** The parameters' values at time `now`. */
  values: (now: number) => Params;
  /** Whether the update finishes the run, which wakes an attached parent. */
  finishes?: boolean;
}

/**
 * Applies `update` to run `id` (the normalized `owner.workflowRunId`, or
 * `null` for an id that is no UUID) while `owner.workerId` holds it.
 *
 * @throws {LeaseLostError} when it changes nothing.
 */
export function updateOwnedRun(
  db: SqliteConnection,
  ns: string,
  now: number,
  id: string | null,
  owner: { workflowRunId: string; workerId: string },
  update: OwnedRunUpdate,
): void {
  const changed = id === null ? undefined : db.get(
    `UPDATE ${RUNS} SET ${update.set}, updated_at = :now WHERE ${OWNED}
    RETURNING parent_workflow_run_id AS parent, detached`,
    { ns, id, workerId: owner.workerId, now, ...update.values(now) },
  );
  if (changed === undefined) {
    throw new LeaseLostError(owner.workflowRunId, owner.workerId);
  }
  // A finished attached child wakes its parent.
  if (
    update.finishes === true && changed.parent !== null &&
    Number(changed.detached) === 0
  ) {
    wakeRuns(db, ns, now, [changed.parent as string]);
  }
}

/** Extends the lease of a run to `now` + the lease duration. */
export function heartbeatUpdate(
  params: HeartbeatWorkflowRunParams,
): OwnedRunUpdate {
  return {
    action: "heartbeat workflow run",
    set: "available_at = :leaseEnd",
    values: (now) => ({ leaseEnd: now + params.leaseDurationMs }),
  };
}

/** Completes a run with its output. */
export function succeededUpdate(
  params: MarkWorkflowRunSucceededParams,
): OwnedRunUpdate {
  return {
    action: "mark workflow run succeeded",
    set: "status = 'succeeded', output = :output, completed_at = :now",
    values: () => ({ output: jsonText(params.output) }),
    finishes: true,
  };
}

/** Fails a run with its error. */
export function failedUpdate(
  params: MarkWorkflowRunFailedParams,
): OwnedRunUpdate {
  return {
    action: `mark workflow run ${params.status ?? "failed"}`,
    set: "status = :status, error = :error, completed_at = :now",
    values: () => ({
      status: params.status === "canceled" ? "canceled" : "failed",
      error: jsonText(params.error),
    }),
    finishes: true,
  };
}

/**
 * Parks a run until `params.availableAt` (or frees it now); a run woken
 * since its claim is claimable at once.
 */
export function releaseUpdate(
  params: ReleaseWorkflowRunParams,
): OwnedRunUpdate {
  const set = `status = :status, wake_requested = 0,
    available_at = CASE WHEN wake_requested = 1 THEN :now ELSE :availableAt END`;
  return {
    action: "release workflow run",
    set: params.context === undefined ? set : `${set}, context = :context`,
    values: (now) => ({
      status: params.status,
      availableAt: epochMs(params.availableAt) ?? now,
      ...(params.context === undefined
        ? {}
        : { context: jsonText(params.context) }),
    }),
  };
}
