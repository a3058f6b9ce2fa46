/**
 * What every kind of step shares: its outcome (a value, an error, or the
 * run suspended), the promise a suspended step returns, and the writes that
 * finish an attempt.
 *
 * @module
 */

import type { CreateStepAttemptParams, StepAttempt } from "../core/backend.ts";
import { MAX_TIME_MS } from "../core/duration.ts";
import {
  deserializeError,
  type JsonValue,
  serializeError,
} from "../core/json.ts";
import type { RunState } from "./run_state.ts";

/** How a step ended, as the step API turns it into its promise. */
export type StepOutcome =
  | {
    kind: "value";
    value: JsonValue;
    /** When the step completed, if stored earlier (database time, ms). */
    completedMs?: number;
  }
  | { kind: "error"; error: Error }
  | { kind: "suspended" };

/** The outcome of a step once the run is suspended. */
export const SUSPENDED: StepOutcome = { kind: "suspended" };

/**
 * A promise that never settles, fresh for each use: a shared one would keep
 * every parked execution reachable through its reactions, for good.
 */
export function never(): Promise<never> {
  return new Promise(() => {});
}

/**
 * Marks a step's promise as handled, so that a step the workflow never
 * awaits cannot end the process with an unhandled rejection; whoever awaits
 * it still sees the rejection.
 */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * The outcome an attempt already recorded: its stored output or error, or
 * `null` while it is `running`.
 */
export function recordedOutcome(
  attempt: StepAttempt | undefined,
): StepOutcome | null {
  if (attempt?.status === "succeeded") {
    return { kind: "value", value: attempt.output };
  }
  if (attempt?.status === "failed") {
    return { kind: "error", error: deserializeError(attempt.error) };
  }
  return null;
}

/**
 * Records `output` as the attempt's result in the background (later steps
 * run their functions once it is stored) and returns it.
 */
export function succeed(
  s: RunState,
  attemptId: string,
  output: JsonValue,
): StepOutcome {
  s.endStepSpan(attemptId, "succeeded");
  s.storeResult(attemptId, output);
  return { kind: "value", value: output };
}

/**
 * Records `error` as the attempt's failure for good (never retried: it
 * would recur) and returns it as a replay would.
 */
export async function failForGood(
  s: RunState,
  attemptId: string,
  error: unknown,
): Promise<StepOutcome> {
  const { backend, workerId } = s.options;
  s.endStepSpan(attemptId, "failed", error);
  const serialized = serializeError(error);
  serialized.nonRetryable = true;
  await s.io(backend.markStepAttemptFailed({
    workflowRunId: s.run.id,
    stepAttemptId: attemptId,
    workerId,
    error: serialized,
  }));
  return { kind: "error", error: deserializeError(serialized) };
}

/** The time (epoch ms) an attempt's `config` stores under `key`, or `null`. */
export function storedTime(attempt: StepAttempt, key: string): number | null {
  const config = attempt.config;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    return null;
  }
  const value = config[key];
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The idempotency key of something a step starts (a signal, a child run):
 * one per run, workflow-level retry and step, so that a replay never starts
 * it twice and a retried run starts it afresh.
 */
export function stepKey(s: RunState, stepName: string): string {
  return `openworkflow:${s.run.id}:${s.workflowFailures}:${stepName}`;
}

/**
 * Where a step stands: its recorded outcome when its latest attempt has
 * finished (or the run is suspended), else that attempt (`undefined` for a
 * step not begun).
 */
export function standing(
  s: RunState,
  name: string,
): { outcome: StepOutcome } | { attempt: StepAttempt | undefined } {
  const attempt = s.history.get(name)?.at(-1);
  const recorded = recordedOutcome(attempt);
  if (recorded === null && s.unwinding) s.unwind();
  const outcome = recorded ?? (s.suspension === null ? null : SUSPENDED);
  return outcome === null ? { attempt } : { outcome };
}

/** The step's attempt: `existing`, or a new `running` one. */
export async function openAttempt(
  s: RunState,
  existing: StepAttempt | undefined,
  begin: Pick<
    CreateStepAttemptParams,
    "stepName" | "kind" | "config" | "context"
  >,
): Promise<StepAttempt> {
  if (existing !== undefined) return existing;
  const attempt = await s.io(s.options.backend.createStepAttempt({
    workflowRunId: s.run.id,
    workerId: s.options.workerId,
    ...begin,
  }));
  s.noteAttempt(attempt);
  s.startStepSpan(attempt, 1);
  return attempt;
}

/** The time a wait of `timeoutMs` begun now ends, as stored, or `null`. */
export function timeoutAt(
  s: RunState,
  timeoutMs: number | undefined,
): string | null {
  return timeoutMs === undefined
    ? null
    : new Date(Math.min(s.now() + timeoutMs, MAX_TIME_MS)).toISOString();
}

/**
 * Whether a time the run waits for has come: by the estimate of the clock
 * for a wait begun in this execution, and once the database made the run
 * claimable for it for one begun earlier (never put back to sleep for want
 * of a few milliseconds of clock estimate).
 */
export function hasCome(
  s: RunState,
  atMs: number,
  begunEarlier: boolean,
): boolean {
  return atMs <= (begunEarlier ? s.latest() : s.now());
}
