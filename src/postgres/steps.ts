/**
 * The statements of `BackendPostgres` on step attempts: creation and the
 * finishing writes (batched, fenced to the runs' owners), and the reads.
 *
 * @module
 */

import type { CreateStepAttemptParams, StepAttempt } from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import { jsonText } from "../core/json.ts";
import { type Row, toStepAttempt } from "./rows.ts";
import { heldBy, items, lost, outcomes, type Scope, uuids } from "./scope.ts";

/**
 * Creates running step attempts, fenced to the runs' owners. An attempt is
 * built from what was sent and the two columns the server sets (its
 * sequence is not part of the record): reading back the config and context
 * just written would parse them twice.
 */
export async function createStepAttempts(
  s: Scope,
  batch: (CreateStepAttemptParams & { id: string })[],
): Promise<(StepAttempt | Error)[]> {
  const ns = s.namespaceId;
  const sent = batch.map((p) => ({
    id: p.id,
    run_id: p.workflowRunId,
    worker_id: p.workerId,
    step_name: p.stepName,
    kind: p.kind,
    config: jsonText(p.config),
    context: jsonText(p.context),
  }));
  const rows = await s.sql<Row[]>`
    WITH v AS (SELECT * FROM ROWS FROM (json_to_recordset(${
    items(sent)
  }::text::json) AS (
      id uuid, run_id uuid, worker_id text, step_name text, kind text,
      config text, context text
    )) WITH ORDINALITY AS v(id, run_id, worker_id, step_name, kind, config, context, n))
    INSERT INTO ${s.steps} (
      namespace_id, id, workflow_run_id, step_name, kind, status, config, context
    )
    SELECT ${ns}, v.id, v.run_id, v.step_name, v.kind, 'running',
      v.config::json, v.context::json
    FROM v
    WHERE ${heldBy(s, s.sql`v.run_id`, s.sql`v.worker_id`)}
    ORDER BY v.n
    RETURNING id, created_at`;
  const createdAt = new Map(
    rows.map((row) => [row.id as string, row.created_at as Date]),
  );
  return batch.map((p, i) => {
    const at = createdAt.get(p.id);
    if (at === undefined) return lost(p);
    const { config, context } = sent[i];
    // The row as it reads back: the json columns are the text sent, parsed.
    return toStepAttempt({
      id: p.id,
      workflow_run_id: p.workflowRunId,
      step_name: p.stepName,
      kind: p.kind,
      status: "running",
      config: config === null ? null : JSON.parse(config),
      context: context === null ? null : JSON.parse(context),
      output: null,
      error: null,
      created_at: at,
      completed_at: null,
    });
  });
}

/** One finishing write of a step attempt. */
export interface StepTransition {
  workflowRunId: string;
  stepAttemptId: string;
  workerId: string;
  status: "succeeded" | "failed";
  output: JsonValue | null;
  error: JsonValue | null;
}

/** Finishes running step attempts, fenced to the runs' owners. */
export async function finishStepAttempts(
  s: Scope,
  batch: StepTransition[],
): Promise<(void | Error)[]> {
  const ns = s.namespaceId;
  // The fence is tested once per item, in the materialized list: joined
  // with the attempts, it would be tested again for each pair tried.
  const rows = await s.sql<Row[]>`
    WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(${
    items(batch.map((p) => ({
      id: p.stepAttemptId,
      run_id: p.workflowRunId,
      worker_id: p.workerId,
      status: p.status,
      output: jsonText(p.output),
      error: jsonText(p.error),
    })))
  }::text::json) AS v(
      id uuid, run_id uuid, worker_id text, status text, output text, error text
    ) WHERE ${heldBy(s, s.sql`v.run_id`, s.sql`v.worker_id`)})
    UPDATE ${s.steps} a SET
      status = v.status, output = v.output::json, error = v.error::json,
      completed_at = clock_timestamp()
    FROM v
    WHERE a.namespace_id = ${ns} AND a.id = v.id
      AND a.id = ANY(${uuids(batch.map((p) => p.stepAttemptId))}::uuid[])
      AND a.workflow_run_id = v.run_id AND a.status = 'running'
    RETURNING a.id || ' ' || a.workflow_run_id AS id`;
  // By attempt and run: an item that names another run's attempt is lost,
  // even when that run's own item, in the same batch, is done.
  return outcomes(batch, rows, (p) => `${p.stepAttemptId} ${p.workflowRunId}`);
}

/** The attempts of run `workflowRunId` (a UUID), oldest first. */
export async function selectStepAttempts(
  s: Scope,
  workflowRunId: string,
): Promise<StepAttempt[]> {
  const { sql, steps, namespaceId: ns } = s;
  const rows = await sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND workflow_run_id = ${workflowRunId}
      ORDER BY seq`;
  return rows.map(toStepAttempt);
}

/** Attempt `stepAttemptId` (a UUID), or `null`. */
export async function selectStepAttempt(
  s: Scope,
  stepAttemptId: string,
): Promise<StepAttempt | null> {
  const { sql, steps, namespaceId: ns } = s;
  const [row] = await sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND id = ${stepAttemptId}`;
  return row === undefined ? null : toStepAttempt(row);
}
