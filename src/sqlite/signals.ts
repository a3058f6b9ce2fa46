/**
 * The statements of `BackendSqlite` on signals: sending (stored, with the
 * runs waiting for it woken) and receiving (delivered to one waiting step
 * attempt, exactly once).
 *
 * @module
 */

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
import { normalizeId } from "../sql/checks.ts";
import type { SqliteConnection } from "./connection.ts";
import { OWNED, RUNS, UNFINISHED, wakeRuns } from "./runs.ts";

const SIGNALS = "openworkflow_signals";
const DELIVERIES = "openworkflow_signal_deliveries";
const STEPS = "openworkflow_step_attempts";

/**
 * Stores a signal and wakes the runs waiting for it; see
 * `Backend.sendSignal`.
 */
export function sendSignal(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: SendSignalParams,
): SendSignalOutcome {
  if (params.idempotencyKey !== null) {
    const sent = db.get(
      `SELECT outcome FROM ${SIGNALS}
        WHERE namespace_id = :ns AND idempotency_key = :key`,
      { ns, key: params.idempotencyKey },
    );
    if (sent !== undefined) {
      return JSON.parse(String(sent.outcome)) as SendSignalOutcome;
    }
  }
  let target: string | null = null;
  if (params.workflowRunId !== null) {
    target = normalizeId(params.workflowRunId);
    const run = target === null ? undefined : db.get(
      `SELECT status FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
      { ns, id: target },
    );
    if (run === undefined) return { kind: "run-not-found" };
    const status = run.status as WorkflowRunStatus;
    if (TERMINAL_STATUSES.includes(status)) {
      return { kind: "run-finished", status };
    }
  }
  // Broadcasts reach the runs created before them: those of a sequence
  // number up to the highest now (one writer at a time, so no gaps).
  const runsBefore = Number(
    db.get(`SELECT coalesce(max(seq), 0) AS seq FROM ${RUNS}`)?.seq ?? 0,
  );
  const waiting = db.all(
    `SELECT DISTINCT r.id FROM ${STEPS} AS a JOIN ${RUNS} AS r
        ON r.namespace_id = a.namespace_id AND r.id = a.workflow_run_id
      WHERE a.namespace_id = :ns AND a.kind = 'signal-wait'
        AND a.status = 'running'
        AND json_extract(a.config, '$.signal') = :signal
        AND r.status IN ${UNFINISHED}
        AND ${target === null ? "r.seq <= :runsBefore" : "r.id = :target"}
      ORDER BY r.seq`,
    target === null
      ? { ns, signal: params.signal, runsBefore }
      : { ns, signal: params.signal, target },
  ).map((row) => row.id as string);
  wakeRuns(db, ns, now, waiting);
  const outcome: SendSignalOutcome = { kind: "sent", workflowRunIds: waiting };
  db.run(
    `INSERT INTO ${SIGNALS} (
      namespace_id, id, signal, workflow_run_id, data, idempotency_key,
      outcome, runs_before, created_at
    ) VALUES (
      :ns, :id, :signal, :target, :data, :key, :outcome, :runsBefore, :now
    )`,
    {
      ns,
      id: crypto.randomUUID(),
      signal: params.signal,
      target,
      data: jsonText(params.data),
      key: params.idempotencyKey,
      outcome: JSON.stringify(outcome),
      runsBefore,
      now,
    },
  );
  return outcome;
}

/**
 * Delivers the next signal to a waiting step attempt, exactly once; see
 * `Backend.receiveSignal`.
 *
 * @throws {LeaseLostError} unless the worker holds the run.
 */
export function receiveSignal(
  db: SqliteConnection,
  ns: string,
  now: number,
  params: ReceiveSignalParams,
): ReceivedSignal | null {
  const id = normalizeId(params.workflowRunId);
  const run = id === null ? undefined : db.get(
    `SELECT seq FROM ${RUNS} WHERE ${OWNED}`,
    { ns, id, workerId: params.workerId },
  );
  if (run === undefined) {
    throw new LeaseLostError(params.workflowRunId, params.workerId);
  }
  const attemptId = normalizeId(params.stepAttemptId);
  const delivered = db.get(
    `SELECT s.id, s.data FROM ${DELIVERIES} AS d JOIN ${SIGNALS} AS s
        ON s.namespace_id = d.namespace_id AND s.id = d.signal_id
      WHERE d.namespace_id = :ns AND d.step_attempt_id = :attemptId`,
    { ns, attemptId },
  );
  if (delivered !== undefined) return toReceived(delivered);
  const next = db.get(
    `SELECT s.id, s.data FROM ${SIGNALS} AS s
      WHERE s.namespace_id = :ns AND s.signal = :signal
        AND (s.workflow_run_id = :id
          OR (s.workflow_run_id IS NULL AND s.runs_before >= :runSeq))
        AND NOT EXISTS (
          SELECT 1 FROM ${DELIVERIES} AS d
          WHERE d.namespace_id = :ns AND d.signal_id = s.id
            AND d.workflow_run_id = :id
        )
      ORDER BY s.seq
      LIMIT 1`,
    { ns, id, signal: params.signal, runSeq: Number(run.seq) },
  );
  if (next === undefined || attemptId === null) return null;
  db.run(
    `INSERT INTO ${DELIVERIES} (
      namespace_id, signal_id, workflow_run_id, step_attempt_id, delivered_at
    ) VALUES (:ns, :signalId, :id, :attemptId, :now)`,
    { ns, signalId: next.id as string, id, attemptId, now },
  );
  return toReceived(next);
}

function toReceived(row: Record<string, unknown>): ReceivedSignal {
  return {
    signalId: row.id as string,
    data: row.data === null ? null : JSON.parse(String(row.data)) as JsonValue,
  };
}
