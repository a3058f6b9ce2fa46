/**
 * Sending a signal from outside a workflow: `OpenWorkflow.sendSignal()` and
 * `WorkflowRunHandle.sendSignal()`.
 *
 * @module
 */

import {
  ATTR,
  namespaceAttribute,
  SpanKind,
  traced,
} from "../telemetry/tracing.ts";
import type { Backend } from "../core/backend.ts";
import {
  WorkflowRunFinishedError,
  WorkflowRunNotFoundError,
} from "../core/errors.ts";
import { encodeJson } from "../core/json.ts";
import { checkPayloadSize } from "../core/limits.ts";
import type { SendSignalResult } from "../core/step_api.ts";
import { checkName, received } from "../core/validate.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import { signalMethods } from "../execution/signal_steps.ts";

/** Options of {@linkcode OpenWorkflow.sendSignal}. */
export interface SendSignalOptions {
  /** The signal's name. */
  signal: string;
  /**
   * The signal's data: a JSON value.
   * @default {null}
   */
  data?: unknown;
  /**
   * The run to send it to. Without it, the signal is a broadcast: every
   * unfinished run of the namespace created before it receives it once,
   * when it waits for its name (now or later).
   * @default {undefined}
   */
  workflowRunId?: string;
  /**
   * A second send with the same key in the namespace stores and delivers
   * nothing, and returns the first send's result.
   * @default {undefined}
   */
  idempotencyKey?: string;
}

/**
 * Checks and sends a signal; wakes this process's workers for the runs it
 * woke.
 */
export async function sendSignal(
  backend: Backend,
  options: SendSignalOptions,
  maxPayloadBytes: number,
): Promise<SendSignalResult> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot send signal: 'options' must be an object with a 'signal', received ${
        received(options)
      }`,
    );
  }
  const signal = checkName(options.signal, "send signal", "signal");
  const what = `send signal '${signal}'`;
  const methods = signalMethods(backend, what);
  const workflowRunId = options.workflowRunId == null
    ? null
    : checkName(options.workflowRunId, what, "workflowRunId");
  const idempotencyKey = options.idempotencyKey == null
    ? null
    : checkName(options.idempotencyKey, what, "idempotencyKey");
  const subject = `data of signal '${signal}'`;
  const { text, value: data } = encodeJson(options.data ?? null, subject);
  checkPayloadSize(text, subject, maxPayloadBytes);
  const outcome = await traced("signal.send", SpanKind.CLIENT, () => ({
    [ATTR.signalName]: signal,
    ...(workflowRunId === null ? {} : { [ATTR.runId]: workflowRunId }),
    ...namespaceAttribute(backend),
  }), async () => {
    const outcome = await methods.sendSignal({
      signal,
      data,
      workflowRunId,
      idempotencyKey,
    });
    switch (outcome.kind) {
      case "run-not-found":
        throw new WorkflowRunNotFoundError(workflowRunId ?? "");
      case "run-finished":
        throw new WorkflowRunFinishedError(
          workflowRunId ?? "",
          outcome.status,
          what,
        );
    }
    return outcome;
  });
  if (outcome.workflowRunIds.length > 0) notifyAvailable(backend);
  return { workflowRunIds: outcome.workflowRunIds };
}
