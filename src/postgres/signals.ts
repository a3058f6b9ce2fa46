/**
 * The statements of `BackendPostgres` on signals: sending (stored, with the
 * runs waiting for it woken) and receiving (delivered to one waiting step
 * attempt, exactly once).
 *
 * A send and a receive of the same signal name in the same namespace take
 * one advisory lock (the send exclusively, receives shared), so that
 * either the send sees the waiting attempt (and wakes its run) or the
 * receive sees the signal: never neither.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import {
  type ReceivedSignal,
  type ReceiveSignalParams,
  type SendSignalOutcome,
  type SendSignalParams,
  TERMINAL_STATUSES,
  type WorkflowRunStatus,
} from "../core/backend.ts";
import { LeaseLostError } from "../core/errors.ts";
import { jsonText, type JsonValue } from "../core/json.ts";
import { isUuid } from "../sql/checks.ts";
import { availablePayload } from "./notifications.ts";
import type { Row } from "./rows.ts";
import type { Scope } from "./scope.ts";

/** The advisory lock key of a signal name in this schema and namespace. */
function lockKey(s: Scope, signal: string): string {
  return JSON.stringify([s.channel, s.namespaceId, signal]);
}

/**
 * Stores a signal and wakes the runs waiting for it; see
 * `Backend.sendSignal`.
 */
export async function sendSignal(
  s: Scope,
  params: SendSignalParams,
): Promise<SendSignalOutcome> {
  const ns = s.namespaceId;
  return await s.sql.begin(async (transaction) => {
    const sql = transaction as unknown as Sql;
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${
      lockKey(s, params.signal)
    }, 0))`;
    if (params.idempotencyKey !== null) {
      const [sent] = await sql<Row[]>`
        SELECT outcome FROM ${s.signals}
        WHERE namespace_id = ${ns} AND idempotency_key = ${params.idempotencyKey}`;
      if (sent !== undefined) return sent.outcome as SendSignalOutcome;
    }
    const target = params.workflowRunId;
    if (target !== null) {
      const [run] = isUuid(target)
        ? await sql<Row[]>`
          SELECT status FROM ${s.runs}
          WHERE namespace_id = ${ns} AND id = ${target}`
        : [];
      if (run === undefined) return { kind: "run-not-found" };
      const status = run.status as WorkflowRunStatus;
      if (TERMINAL_STATUSES.includes(status)) {
        return { kind: "run-finished", status };
      }
    }
    const [signal] = await sql<Row[]>`
      INSERT INTO ${s.signals} (
        namespace_id, id, signal, workflow_run_id, data, idempotency_key,
        outcome
      ) VALUES (
        ${ns}, ${crypto.randomUUID()}, ${params.signal}, ${target},
        ${jsonText(params.data)}::text::json, ${params.idempotencyKey},
        '{}'::json
      )
      ON CONFLICT (namespace_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, created_at`;
    if (signal === undefined) {
      // Another send with the key committed meanwhile.
      const [sent] = await sql<Row[]>`
        SELECT outcome FROM ${s.signals}
        WHERE namespace_id = ${ns} AND idempotency_key = ${params.idempotencyKey}`;
      return sent.outcome as SendSignalOutcome;
    }
    const woken = await sql<Row[]>`
      UPDATE ${s.runs} r SET wake_requested = true, updated_at = now(),
        available_at = CASE WHEN r.status = 'running' THEN r.available_at
          ELSE least(r.available_at, now()) END
      WHERE r.namespace_id = ${ns}
        AND r.status IN ('pending', 'running', 'sleeping')
        AND ${
      target === null
        ? sql`r.created_at < ${signal.created_at as Date}`
        : sql`r.id = ${target}`
    }
        AND r.id IN (
          SELECT a.workflow_run_id FROM ${s.steps} a
          WHERE a.namespace_id = ${ns} AND a.kind = 'signal-wait'
            AND a.status = 'running' AND a.config ->> 'signal' = ${params.signal}
        )
      RETURNING r.id, pg_notify(${s.channel}, ${availablePayload(ns)})`;
    const outcome: SendSignalOutcome = {
      kind: "sent",
      workflowRunIds: woken.map((row) => row.id as string).sort(),
    };
    await sql`
      UPDATE ${s.signals} SET outcome = ${JSON.stringify(outcome)}::text::json
      WHERE namespace_id = ${ns} AND id = ${signal.id as string}`;
    return outcome;
  });
}

/**
 * Delivers the next signal to a waiting step attempt, exactly once; see
 * `Backend.receiveSignal`.
 *
 * @throws {LeaseLostError} unless the worker holds the run.
 */
export async function receiveSignal(
  s: Scope,
  params: ReceiveSignalParams,
): Promise<ReceivedSignal | null> {
  const ns = s.namespaceId;
  const lost = () => new LeaseLostError(params.workflowRunId, params.workerId);
  if (!isUuid(params.workflowRunId)) throw lost();
  return await s.sql.begin(async (transaction) => {
    const sql = transaction as unknown as Sql;
    await sql`SELECT pg_advisory_xact_lock_shared(hashtextextended(${
      lockKey(s, params.signal)
    }, 0))`;
    const [run] = await sql<Row[]>`
      SELECT created_at FROM ${s.runs}
      WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
        AND status = 'running' AND worker_id = ${params.workerId}
      FOR UPDATE`;
    if (run === undefined) throw lost();
    if (!isUuid(params.stepAttemptId)) return null;
    const [delivered] = await sql<Row[]>`
      SELECT s.id, s.data FROM ${s.deliveries} d JOIN ${s.signals} s
        ON s.namespace_id = d.namespace_id AND s.id = d.signal_id
      WHERE d.namespace_id = ${ns} AND d.step_attempt_id = ${params.stepAttemptId}`;
    if (delivered !== undefined) return toReceived(delivered);
    const [next] = await sql<Row[]>`
      SELECT s.id, s.data FROM ${s.signals} s
      WHERE s.namespace_id = ${ns} AND s.signal = ${params.signal}
        AND (s.workflow_run_id = ${params.workflowRunId}
          OR (s.workflow_run_id IS NULL AND s.created_at > ${run
      .created_at as Date}))
        AND NOT EXISTS (
          SELECT 1 FROM ${s.deliveries} d
          WHERE d.namespace_id = ${ns} AND d.signal_id = s.id
            AND d.workflow_run_id = ${params.workflowRunId}
        )
      ORDER BY s.seq
      LIMIT 1`;
    if (next === undefined) return null;
    await sql`
      INSERT INTO ${s.deliveries} (
        namespace_id, signal_id, workflow_run_id, step_attempt_id
      ) VALUES (
        ${ns}, ${next.id as string}, ${params.workflowRunId},
        ${params.stepAttemptId}
      )`;
    return toReceived(next);
  });
}

function toReceived(row: Row): ReceivedSignal {
  return {
    signalId: row.id as string,
    data: (row.data ?? null) as JsonValue | null,
  };
}
