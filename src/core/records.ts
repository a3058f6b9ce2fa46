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
 * OpenWorkflow's statuses are `pending`, `running`, `succeeded` and
 * `failed`. This library adds two:
 * - `sleeping`: the run is parked in a durable sleep until `availableAt`.
 * - `canceled`: terminal; the run was canceled and never runs again.
 *
 * A `pending` run whose `availableAt` is in the future is waiting for a
 * delayed start or for a retry.
 */
export type WorkflowRunStatus =
  | "pending"
  | "running"
  | "sleeping"
  | "succeeded"
  | "failed"
  | "canceled";

/** Every status of a run, unfinished ones first. */
export const RUN_STATUSES: readonly WorkflowRunStatus[] = Object.freeze([
  "pending",
  "running",
  "sleeping",
  "succeeded",
  "failed",
  "canceled",
]);

/**
 * The statuses after which a run never changes again: `succeeded`,
 * `failed` and `canceled`.
 */
export const TERMINAL_STATUSES: readonly WorkflowRunStatus[] = Object.freeze([
  "succeeded",
  "failed",
  "canceled",
]);

/** A workflow run record from the backend. */
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
  /**
   * The run that started this one as its child (`step.runWorkflow()` or
   * `step.startWorkflow()`), or `null`.
   */
  parentWorkflowRunId: string | null;
  /** Claimable runs of higher priority are claimed first (default 0). */
  priority: number;
  /** The run's concurrency key, or `null` (see `CreateWorkflowRunParams`). */
  concurrencyKey: string | null;
  /** The run's rate-limit key, or `null` (see `CreateWorkflowRunParams`). */
  rateLimitKey: string | null;
  /** The run this one was forked from (`OpenWorkflow.forkRun()`), or `null`. */
  forkedFromWorkflowRunId: string | null;
  /**
   * Only on the runs a claim returns, and only from backends that say:
   * the `availableAt` the run had when it was claimed (when it became
   * claimable), from which workers measure the queue lag. Absent
   * elsewhere.
   */
  readyAt?: Date;
}

/**
 * The kind of a step: `run` for `step.run()` (OpenWorkflow's only kind),
 * `sleep` for `step.sleep()` and `step.sleepUntil()`, `signal-wait` for
 * `step.waitForSignal()`, `signal-send` for `step.sendSignal()`, and
 * `workflow` for `step.runWorkflow()` and `step.startWorkflow()`.
 */
export type StepKind =
  | "run"
  | "sleep"
  | "signal-wait"
  | "signal-send"
  | "workflow";

/**
 * The status of a step attempt: `running` from its creation until it is
 * marked `succeeded` or `failed`. An attempt whose worker lost the run may
 * stay `running` for good: the worker that takes the run over makes a new
 * attempt of a `run` step.
 */
export type StepAttemptStatus = "running" | "succeeded" | "failed";

/**
 * A step attempt record from the backend. Each execution of a step
 * function (each retry too) is one attempt.
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
 *   `finishes: true` says that while they are live, every run of the
 *   namespace that reaches a terminal status, through any backend object
 *   in any process, is told with a `finished` notification: a waiter on a
 *   run started while they were live need not read it until one comes.
 * - `changed`: another process changed the database in ways not told (a
 *   backend that sees commits, not what they did): runs may be claimable
 *   now, and any awaited run may have finished.
 */
export type BackendNotification =
  | { kind: "available"; availableAt: Date | null }
  | { kind: "finished"; workflowRunId: string; outcome?: RunOutcome }
  | { kind: "listening"; listening: boolean; finishes?: boolean }
  | { kind: "changed" };

/**
 * How a run ended, carried by a `finished` notification when it is small
 * enough, so that a waiter needs no read.
 */
export interface RunOutcome {
  /** The terminal status. */
  status: "succeeded" | "failed" | "canceled";
  /** The output, when succeeded; `null` otherwise. */
  output: JsonValue | null;
  /** The serialized error, when failed or canceled; `null` otherwise. */
  error: JsonValue | null;
}

/** A page of workflow runs, newest first, from `Backend.listWorkflowRuns`. */
export interface WorkflowRunPage {
  /** The runs, newest first (`createdAt` descending). */
  runs: WorkflowRun[];
  /**
   * Pass as `cursor` for the next page; `null` when no further run
   * matches.
   */
  nextCursor: string | null;
}
