/**
 * The statements on step attempts, as synchronous functions to call inside
 * a `SqliteConnection` transaction.
 *
 * @module
 */

import type { CreateStepAttemptParams, StepAttempt } from "../core/backend.ts";
import { LeaseLostError } from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import type { SqliteConnection } from "./connection.ts";
import { jsonText } from "../core/json.ts";
import { jsonTextNotNull, toStepAttempt } from "./rows.ts";
import { OWNED, RUNS } from "./runs.ts";

/** The table of step attempts. */
const STEPS = "openworkflow_step_attempts";

/**
 * Inserts a `running` attempt of run `runId` (the normalized
 * `params.workflowRunId`, or `null` for an id that is no UUID).
 *
 * @throws {LeaseLostError} unless the worker holds the run.
 */
export function insertStepAttempt(
  db: SqliteConnection,
  ns: string,
  now: number,
  runId: string | null,
  params: CreateStepAttemptParams,
): StepAttempt {
  const owned = runId !== null && db.get(
        `SELECT 1 AS owned FROM ${RUNS} WHERE ${OWNED}`,
        { ns, id: runId, workerId: params.workerId },
      ) !== undefined;
  if (!owned) throw new LeaseLostError(params.workflowRunId, params.workerId);
  const row = db.get(
    `INSERT INTO ${STEPS} (
      namespace_id, id, workflow_run_id, step_name, kind, status, config,
      context, created_at
    ) VALUES (
      :ns, :id, :runId, :stepName, :kind, 'running', :config, :context, :now
    ) RETURNING *`,
    {
      ns,
      id: crypto.randomUUID(),
      runId,
      stepName: params.stepName,
      kind: params.kind,
      config: jsonTextNotNull(params.config),
      context: jsonText(params.context),
      now,
    },
  );
  return toStepAttempt(row!);
}

/** What finishes a step attempt. */
export interface StepAttemptOutcome {
  /** The attempt's new status. */
  status: "succeeded" | "failed";
  /** The step output, or `null`. */
  output: JsonValue | null;
  /** The serialized error, or `null`. */
  error: JsonValue | null;
}

/**
 * Finishes attempt `stepId` of run `runId` (both normalized ids, or
 * `null`).
 *
 * @throws {LeaseLostError} unless the attempt is `running`, belongs to the
 * run, and `owner.workerId` holds the run.
 */
export function finishStepAttempt(
  db: SqliteConnection,
  ns: string,
  now: number,
  ids: { runId: string | null; stepId: string | null },
  owner: { workflowRunId: string; workerId: string },
  outcome: StepAttemptOutcome,
): void {
  const changed = ids.runId === null || ids.stepId === null ? 0 : db.run(
    `UPDATE ${STEPS} SET status = :status, output = :output,
        error = :error, completed_at = :now
      WHERE namespace_id = :ns AND id = :stepId
        AND workflow_run_id = :id AND status = 'running'
        AND EXISTS (SELECT 1 FROM ${RUNS} WHERE ${OWNED})`,
    {
      ns,
      now,
      id: ids.runId,
      stepId: ids.stepId,
      workerId: owner.workerId,
      status: outcome.status,
      output: jsonText(outcome.output),
      error: jsonText(outcome.error),
    },
  );
  if (changed === 0) {
    throw new LeaseLostError(owner.workflowRunId, owner.workerId);
  }
}

/** The attempts of run `runId`, oldest first. */
export function selectStepAttempts(
  db: SqliteConnection,
  ns: string,
  runId: string,
): StepAttempt[] {
  return db.all(
    `SELECT * FROM ${STEPS}
      WHERE namespace_id = :ns AND workflow_run_id = :runId
      ORDER BY seq`,
    { ns, runId },
  ).map(toStepAttempt);
}

/** Attempt `stepId`, or `null`. */
export function selectStepAttempt(
  db: SqliteConnection,
  ns: string,
  stepId: string,
): StepAttempt | null {
  const row = db.get(
    `SELECT * FROM ${STEPS} WHERE namespace_id = :ns AND id = :stepId`,
    { ns, stepId },
  );
  return row === undefined ? null : toStepAttempt(row);
}
