/**
 * The signal steps: `step.waitForSignal()` (a durable wait for a signal,
 * delivered exactly once) and `step.sendSignal()` (a send that a replay
 * never repeats).
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { MAX_TIME_MS } from "../core/duration.ts";
import {
  SignalValidationError,
  WorkflowRunFinishedError,
  WorkflowRunNotFoundError,
} from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import type { StandardSchemaV1 } from "../core/step_api.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import type { RunState } from "./run_state.ts";
import {
  failForGood,
  hasCome,
  openAttempt,
  standing,
  stepKey,
  type StepOutcome,
  storedTime,
  succeed,
  SUSPENDED,
  timeoutAt,
} from "./step_outcome.ts";

/** The backend's signal methods, or a `TypeError` saying they are missing. */
export function signalMethods(
  backend: Backend,
  what: string,
): Required<Pick<Backend, "sendSignal" | "receiveSignal">> {
  const { sendSignal, receiveSignal } = backend;
  if (sendSignal === undefined || receiveSignal === undefined) {
    throw new TypeError(
      `Cannot ${what}: the backend does not implement sendSignal() and receiveSignal()`,
    );
  }
  return {
    sendSignal: sendSignal.bind(backend),
    receiveSignal: receiveSignal.bind(backend),
  };
}

/** A `waitForSignal()` step, as checked by the step API. */
export interface SignalWait {
  name: string;
  signal: string;
  timeoutMs: number | undefined;
  schema: StandardSchemaV1 | undefined;
}

/**
 * Waits for a signal: delivers the next one to the step's attempt, or
 * parks the run until one is sent (the send wakes it) or the timeout.
 */
export async function waitForSignal(
  s: RunState,
  wait: SignalWait,
): Promise<StepOutcome> {
  const at = standing(s, wait.name);
  if ("outcome" in at) {
    const { outcome } = at;
    // A received signal is validated again on replay: the schema's output
    // is what the step returns, and only the data is stored.
    return outcome.kind === "value" && outcome.value !== null
      ? await validated(wait, outcome.value)
      : outcome;
  }
  const { receiveSignal } = signalMethods(
    s.options.backend,
    `wait for signal '${wait.signal}'`,
  );
  const attempt = await openAttempt(s, at.attempt, {
    stepName: wait.name,
    kind: "signal-wait",
    config: { signal: wait.signal, timeoutAt: timeoutAt(s, wait.timeoutMs) },
    context: null,
  });
  const received = await s.io(receiveSignal({
    workflowRunId: s.run.id,
    workerId: s.options.workerId,
    stepAttemptId: attempt.id,
    signal: wait.signal,
  }));
  if (received !== null) {
    const output = { data: received.data };
    const outcome = await validated(wait, output);
    if (outcome.kind === "error") {
      return await failForGood(s, attempt.id, outcome.error);
    }
    succeed(s, attempt.id, output);
    return outcome;
  }
  const timeoutAtMs = storedTime(attempt, "timeoutAt");
  if (
    timeoutAtMs !== null &&
    hasCome(s, timeoutAtMs, attempt === at.attempt)
  ) {
    return succeed(s, attempt.id, null);
  }
  s.park(timeoutAtMs ?? MAX_TIME_MS, "sleeping");
  return SUSPENDED;
}

/**
 * The step's value: `{ data }` with the data as the schema outputs it, or
 * the schema's issues as a `SignalValidationError`.
 */
async function validated(
  wait: SignalWait,
  output: JsonValue,
): Promise<StepOutcome> {
  if (wait.schema === undefined) return { kind: "value", value: output };
  const data = (output as { data: JsonValue }).data;
  const result = await wait.schema["~standard"].validate(data);
  if (result.issues !== undefined) {
    return {
      kind: "error",
      error: new SignalValidationError(wait.signal, result.issues),
    };
  }
  return { kind: "value", value: { data: result.value as JsonValue } };
}

/** A `sendSignal()` step, as checked by the step API. */
export interface SignalSend {
  name: string;
  signal: string;
  data: JsonValue;
  workflowRunId: string | null;
}

/** Sends a signal once, whatever the replays. */
export async function sendSignal(
  s: RunState,
  send: SignalSend,
): Promise<StepOutcome> {
  const at = standing(s, send.name);
  if ("outcome" in at) return at.outcome;
  const { backend } = s.options;
  const { sendSignal } = signalMethods(
    backend,
    `send signal '${send.signal}'`,
  );
  const attempt = await openAttempt(s, at.attempt, {
    stepName: send.name,
    kind: "signal-send",
    config: { signal: send.signal, workflowRunId: send.workflowRunId },
    context: null,
  });
  // The key makes a send repeated after a crash return the first's outcome.
  const outcome = await s.io(sendSignal({
    signal: send.signal,
    data: send.data,
    workflowRunId: send.workflowRunId,
    idempotencyKey: stepKey(s, send.name),
  }));
  const action = `send signal '${send.signal}'`;
  switch (outcome.kind) {
    case "run-not-found":
      return await failForGood(
        s,
        attempt.id,
        new WorkflowRunNotFoundError(send.workflowRunId ?? ""),
      );
    case "run-finished":
      return await failForGood(
        s,
        attempt.id,
        new WorkflowRunFinishedError(
          send.workflowRunId ?? "",
          outcome.status,
          action,
        ),
      );
  }
  if (outcome.workflowRunIds.length > 0) notifyAvailable(backend);
  return succeed(s, attempt.id, { workflowRunIds: outcome.workflowRunIds });
}
