/**
 * The records a `Backend` stores and returns: workflow runs, step attempts,
 * pages of runs, and the notifications a backend may push. No I/O.
 *
 * Every time in these records is read from the backend's clock (the
 * database server's, or the machine's for an embedded database), never the
 * caller's; see `Backend`.
 *
 * @module
 */

import type { JsonValue } from "./json.ts";

/**
 * The status of a workflow run.
 *
 * The seed's statuses are `pending`, `running`, `succeeded` and `failed`.
 * This library adds two:
 * - `sleeping`: the run is parked in a durable sleep until `availableAt`.
 * - `canceled`: terminal; the run was canceled and never runs again.
 *
 * A `pending` run whose `availableAt` is in the future is waiting for a
 * delayed start or for a retry.
 *
 * @example
 * ```ts
 * import type { WorkflowRunStatus } from "@openworkflow/core";
 *
 * function label(status: WorkflowRunStatus): string {
 *   return status === "sleeping" ? "waiting (durable sleep)" : status;
 * }
 * console.log(label("sleeping")); // waiting (durable sleep)
 * ```
 */
export type WorkflowRunStatus =
  | "pending"
  | "running"
  | "sleeping"
  | "succeeded"
  | "failed"
  | "canceled";

/**
 * The statuses after which a run never changes again: `succeeded`,
 * `failed` and `canceled`.
 *
 * @example
 * ```ts
 * import { TERMINAL_STATUSES } from "@openworkflow/core";
 *
 * console.log(TERMINAL_STATUSES.includes("canceled")); // true
 * console.log(TERMINAL_STATUSES.includes("sleeping")); // false
 * ```
 */
export const TERMINAL_STATUSES: readonly WorkflowRunStatus[] = Object.freeze([
  "succeeded",
  "failed",
  "canceled",
]);

/**
 * A workflow run record from the backend.
 *
 * @example
 * ```ts
 * import type { WorkflowRun } from "@openworkflow/core";
 *
 * function describe(run: WorkflowRun): string {
 *   return `${run.workflowName} ${run.id}: ${run.status}`;
 * }
 * ```
 */
export interface WorkflowRun {
  /** Unique id: a lower-case UUID the backend made. */
  id: string;
  /** The workflow's name. */
  workflowName: string;
  /** The workflow version the run started on, or `null` when unversioned. */
  version: string | null;
  /** Where the run is in its life; see {@linkcode WorkflowRunStatus}. */
  status: WorkflowRunStatus;
  /**
   * The worker that holds the run's lease while `running`; afterwards the
   * worker that held it last. `null` until the first claim.
   */
  workerId: string | null;
  /** Options the run was started with (engine-defined JSON). */
  config: JsonValue;
  /**
   * Engine-defined context, or `null`: the engine keeps its workflow-level
   * retry bookkeeping here (see `Backend.releaseWorkflowRun`).
   */
  context: JsonValue | null;
  /** The workflow input. */
  input: JsonValue | null;
  /** The workflow output, once succeeded; `null` otherwise. */
  output: JsonValue | null;
  /** The serialized error, once failed or canceled; `null` otherwise. */
  error: JsonValue | null;
  /**
   * While `pending` or `sleeping`: when the run may next be claimed. While
   * `running`: when its lease expires. Backend clock.
   */
  availableAt: Date;
  /** When the run fails with a deadline error if not finished, or `null`. */
  deadlineAt: Date | null;
  /** When the run was created (backend clock). */
  createdAt: Date;
  /** When the run reached a terminal status; `null` until then. */
  completedAt: Date | null;
  /** The idempotency key the run was started with, or `null`. */
  idempotencyKey: string | null;
  /** How many times a worker has claimed the run: 0 at creation. */
  attempts: number;
  /** When a worker first claimed the run (backend clock), or `null`. */
  startedAt: Date | null;
  /** When the record last changed (backend clock). */
  updatedAt: Date;
}

/**
 * The kind of a step: `run` for `step.run()` (the seed's only kind) and
 * `sleep` for `step.sleep()` and `step.sleepUntil()`.
 *
 * @example
 * ```ts
 * import type { StepKind } from "@openworkflow/core";
 *
 * const label: Record<StepKind, string> = { run: "step", sleep: "sleep" };
 * console.log(label.sleep); // sleep
 * ```
 */
export type StepKind = "run" | "sleep";

/**
 * The status of a step attempt: `running` from its creation until it is
 * marked `succeeded` or `failed`. An attempt whose worker lost the run may
 * stay `running` for good: the worker that takes the run over makes a new
 * attempt of a `run` step.
 *
 * @example
 * ```ts
 * import type { StepAttemptStatus } from "@openworkflow/core";
 *
 * function isFinished(status: StepAttemptStatus): boolean {
 *   return status !== "running";
 * }
 * console.log(isFinished("failed")); // true
 * ```
 */
export type StepAttemptStatus = "running" | "succeeded" | "failed";

/**
 * A step attempt record from the backend. Each execution of a step
 * function (each retry too) is one attempt.
 *
 * @example
 * ```ts
 * import type { StepAttempt } from "@openworkflow/core";
 *
 * function isDone(attempt: StepAttempt): boolean {
 *   return attempt.status === "succeeded";
 * }
 * ```
 */
export interface StepAttempt {
  /** Unique id: a lower-case UUID the backend made. */
  id: string;
  /** The run the attempt belongs to. */
  workflowRunId: string;
  /**
   * The step's name, unique among the run's steps; every attempt of one
   * step (its retries) has the same name.
   */
  stepName: string;
  /** The kind of step. */
  kind: StepKind;
  /** The attempt's status. */
  status: StepAttemptStatus;
  /** Options the step ran with (engine-defined JSON). */
  config: JsonValue;
  /** Engine-defined context (for a sleep: when it ends), or `null`. */
  context: JsonValue | null;
  /** The step's output, once succeeded; `null` otherwise. */
  output: JsonValue | null;
  /** The serialized error, once failed; `null` otherwise. */
  error: JsonValue | null;
  /** When the attempt was created (backend clock). */
  createdAt: Date;
  /** When the attempt finished (backend clock); `null` while running. */
  completedAt: Date | null;
}

/**
 * Names a workflow definition a worker can execute: a run matches when its
 * `workflowName` equals `name` and its `version` equals `version` (`null`
 * matches only `null`).
 *
 * @example
 * ```ts
 * import type { WorkflowSelector } from "@openworkflow/core";
 *
 * const selectors: WorkflowSelector[] = [
 *   { name: "send-email", version: null },
 *   { name: "charge", version: "v2" },
 * ];
 * console.log(selectors.length); // 2
 * ```
 */
export interface WorkflowSelector {
  /** The workflow's name. */
  name: string;
  /** The workflow's version, or `null` for an unversioned workflow. */
  version: string | null;
}

/**
 * A push notification from a backend that has them (see
 * `Backend.subscribe`):
 * - `available`: runs may be claimable now (`availableAt: null`), or at
 *   `availableAt`.
 * - `finished`: the run reached a terminal status (`outcome`, when given,
 *   says how; without it, read the run).
 * - `listening`: notifications are live (`true`), or not (`false`). After a
 *   `true`, notifications may have been missed: re-check everything.
 *
 * @example
 * ```ts
 * import type { BackendNotification } from "@openworkflow/core";
 *
 * function describe(n: BackendNotification): string {
 *   switch (n.kind) {
 *     case "available":
 *       return `runs claimable ${n.availableAt?.toISOString() ?? "now"}`;
 *     case "finished":
 *       return `run ${n.workflowRunId} ${n.outcome?.status ?? "finished"}`;
 *     case "listening":
 *       return n.listening ? "live" : "polling";
 *   }
 * }
 * console.log(describe({ kind: "available", availableAt: null }));
 * ```
 */
export type BackendNotification =
  | { kind: "available"; availableAt: Date | null }
  | { kind: "finished"; workflowRunId: string; outcome?: RunOutcome }
  | { kind: "listening"; listening: boolean };

/**
 * How a run ended, carried by a `finished` notification when it is small
 * enough, so that a waiter needs no read.
 *
 * @example
 * ```ts
 * import type { RunOutcome } from "@openworkflow/core";
 *
 * const outcome: RunOutcome = { status: "succeeded", output: 42, error: null };
 * console.log(outcome.output); // 42
 * ```
 */
export interface RunOutcome {
  /** The terminal status. */
  status: "succeeded" | "failed" | "canceled";
  /** The output, when succeeded; `null` otherwise. */
  output: JsonValue | null;
  /** The serialized error, when failed or canceled; `null` otherwise. */
  error: JsonValue | null;
}

/**
 * A page of workflow runs, newest first, from `Backend.listWorkflowRuns`.
 *
 * @example
 * ```ts
 * import type { WorkflowRunPage } from "@openworkflow/core";
 *
 * const page: WorkflowRunPage = { runs: [], nextCursor: null };
 * console.log(page.nextCursor === null ? "last page" : "more");
 * ```
 */
export interface WorkflowRunPage {
  /** The runs, newest first (`createdAt` descending). */
  runs: WorkflowRun[];
  /**
   * Pass as `cursor` for the next page; `null` when no further run
   * matches.
   */
  nextCursor: string | null;
}
