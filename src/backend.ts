/**
 * The `Backend` interface, its records and its parameter types. No I/O.
 *
 * A backend stores workflow runs and their step attempts. The engine (client
 * and worker) holds all workflow semantics; a backend provides atomic claims,
 * leases measured by the database clock, and fenced writes.
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
  /** Unique id (a UUID). */
  id: string;
  /** The workflow's name. */
  workflowName: string;
  /** The workflow version the run started on, or `null` when unversioned. */
  version: string | null;
  /** Where the run is in its life; see {@linkcode WorkflowRunStatus}. */
  status: WorkflowRunStatus;
  /** The worker that holds (or last held) the run's lease. */
  workerId: string | null;
  /** Options the run was started with (engine-defined JSON). */
  config: JsonValue;
  /** Engine-defined context, or `null`. */
  context: JsonValue | null;
  /** The workflow input. */
  input: JsonValue | null;
  /** The workflow output, once succeeded. */
  output: JsonValue | null;
  /** The serialized error, once failed or canceled. */
  error: JsonValue | null;
  /**
   * When the run may next be claimed. While `running`, when its lease
   * expires.
   */
  availableAt: Date;
  /** When the run fails with a deadline error if not finished. */
  deadlineAt: Date | null;
  /** When the run was created. */
  createdAt: Date;
  /** When the run reached a terminal status. */
  completedAt: Date | null;
  /** The idempotency key the run was started with, if any. */
  idempotencyKey: string | null;
  /** How many times a worker has claimed the run. */
  attempts: number;
  /** When a worker first claimed the run. */
  startedAt: Date | null;
  /** When the record last changed. */
  updatedAt: Date;
}

/**
 * The kind of a step: `run` for `step.run()` (the seed's only kind) and
 * `sleep` for `step.sleep()`.
 */
export type StepKind = "run" | "sleep";

/** The status of a step attempt. */
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
  /** Unique id (a UUID). */
  id: string;
  /** The run the attempt belongs to. */
  workflowRunId: string;
  /** The step's name, unique within the run. */
  stepName: string;
  /** The kind of step. */
  kind: StepKind;
  /** The attempt's status. */
  status: StepAttemptStatus;
  /** Options the step ran with (engine-defined JSON). */
  config: JsonValue;
  /** Engine-defined context (for a sleep: when it ends), or `null`. */
  context: JsonValue | null;
  /** The step's output, once succeeded. */
  output: JsonValue | null;
  /** The serialized error, once failed. */
  error: JsonValue | null;
  /** When the attempt started. */
  createdAt: Date;
  /** When the attempt finished. */
  completedAt: Date | null;
}

/** Names a workflow definition a worker can execute. */
export interface WorkflowSelector {
  /** The workflow's name. */
  name: string;
  /** The workflow's version, or `null` for an unversioned workflow. */
  version: string | null;
}

/**
 * A push notification from a backend that has them (see
 * {@linkcode Backend.subscribe}):
 * - `available`: runs may be claimable now, or at `availableAt`.
 * - `finished`: the run reached a terminal status (`outcome`, when given,
 *   says how).
 * - `listening`: notifications are live (`true`), or not (`false`). After a
 *   `true`, notifications may have been missed: re-check everything.
 */
export type BackendNotification =
  | { kind: "available"; availableAt: Date | null }
  | { kind: "finished"; workflowRunId: string; outcome?: RunOutcome }
  | { kind: "listening"; listening: boolean };

/**
 * How a run ended, carried by a `finished` notification when it is small
 * enough, so that a waiter needs no read.
 */
export interface RunOutcome {
  /** The terminal status. */
  status: "succeeded" | "failed" | "canceled";
  /** The output, when succeeded. */
  output: JsonValue | null;
  /** The serialized error, when failed or canceled. */
  error: JsonValue | null;
}

/** Parameters of {@linkcode Backend.createWorkflowRun}. */
export interface CreateWorkflowRunParams {
  /** The workflow's name. */
  workflowName: string;
  /** The workflow version, or `null`. */
  version: string | null;
  /** Engine-defined options to store with the run. */
  config: JsonValue;
  /** Engine-defined context, or `null`. */
  context: JsonValue | null;
  /** The workflow input. */
  input: JsonValue | null;
  /** When the run may first be claimed; `null` means now (database clock). */
  availableAt: Date | null;
  /**
   * When `availableAt` is `null`: the run may first be claimed this many
   * milliseconds after now, measured by the database clock.
   * @default {0}
   */
  availableAfterMs?: number;
  /** When the run fails if not finished; `null` for none. */
  deadlineAt: Date | null;
  /**
   * When not `null`, at most one run of `workflowName` in the namespace has
   * this key: if one exists, it is returned and nothing is created. The
   * database enforces this, also against concurrent callers.
   */
  idempotencyKey: string | null;
}

/** Parameters of {@linkcode Backend.getWorkflowRun}. */
export interface GetWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
}

/** Parameters of {@linkcode Backend.getWorkflowRunStatuses}. */
export interface GetWorkflowRunStatusesParams {
  /** The runs' ids. */
  workflowRunIds: readonly string[];
}

/** Parameters of {@linkcode Backend.claimWorkflowRun}. */
export interface ClaimWorkflowRunParams {
  /** The claiming worker's id; it becomes the run's `workerId`. */
  workerId: string;
  /** How long the lease lasts from the claim (database clock). */
  leaseDurationMs: number;
  /**
   * Only runs of these workflow versions are claimed. When omitted, runs of
   * any workflow are.
   */
  workflows?: readonly WorkflowSelector[];
}

/** Parameters of {@linkcode Backend.claimWorkflowRuns}. */
export interface ClaimWorkflowRunsParams extends ClaimWorkflowRunParams {
  /** The most runs to claim. */
  limit: number;
}

/** Parameters of {@linkcode Backend.heartbeatWorkflowRun}. */
export interface HeartbeatWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the lease. */
  workerId: string;
  /** The new lease lasts this long from now (database clock). */
  leaseDurationMs: number;
}

/** Parameters of {@linkcode Backend.markWorkflowRunSucceeded}. */
export interface MarkWorkflowRunSucceededParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the lease. */
  workerId: string;
  /** The workflow output. */
  output: JsonValue | null;
}

/** Parameters of {@linkcode Backend.markWorkflowRunFailed}. */
export interface MarkWorkflowRunFailedParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the lease. */
  workerId: string;
  /** The serialized error. */
  error: JsonValue;
}

/** Parameters of {@linkcode Backend.releaseWorkflowRun}. */
export interface ReleaseWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the lease. */
  workerId: string;
  /** The status the run returns to. */
  status: "pending" | "sleeping";
  /** When the run may be claimed again; `null` means now (database clock). */
  availableAt: Date | null;
  /**
   * When given, replaces the run's `context` (the engine keeps its retry
   * bookkeeping there). When omitted, `context` is unchanged.
   */
  context?: JsonValue | null;
}

/** Parameters of {@linkcode Backend.failExpiredWorkflowRuns}. */
export interface FailExpiredWorkflowRunsParams {
  /** The serialized error to store on each run failed. */
  error: JsonValue;
}

/** Parameters of {@linkcode Backend.cancelWorkflowRun}. */
export interface CancelWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The serialized error to store on the run. */
  error: JsonValue;
}

/** Parameters of {@linkcode Backend.listWorkflowRuns}. */
export interface ListWorkflowRunsParams {
  /** Only runs of this workflow. */
  workflowName?: string;
  /** Only runs in one of these statuses. */
  statuses?: readonly WorkflowRunStatus[];
  /** Only runs created at or after this time. */
  createdAfter?: Date;
  /** Only runs created before this time. */
  createdBefore?: Date;
  /** The most runs to return. */
  limit: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** A page of workflow runs, newest first. */
export interface WorkflowRunPage {
  /** The runs, newest first. */
  runs: WorkflowRun[];
  /** Pass as `cursor` for the next page; `null` on the last page. */
  nextCursor: string | null;
}

/** Parameters of {@linkcode Backend.listStepAttempts}. */
export interface ListStepAttemptsParams {
  /** The run's id. */
  workflowRunId: string;
}

/** Parameters of {@linkcode Backend.createStepAttempt}. */
export interface CreateStepAttemptParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The step's name. */
  stepName: string;
  /** The kind of step. */
  kind: StepKind;
  /** Engine-defined options. */
  config: JsonValue;
  /** Engine-defined context, or `null`. */
  context: JsonValue | null;
}

/** Parameters of {@linkcode Backend.getStepAttempt}. */
export interface GetStepAttemptParams {
  /** The attempt's id. */
  stepAttemptId: string;
}

/** Parameters of {@linkcode Backend.markStepAttemptSucceeded}. */
export interface MarkStepAttemptSucceededParams {
  /** The run's id. */
  workflowRunId: string;
  /** The attempt's id. */
  stepAttemptId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The step output. */
  output: JsonValue | null;
}

/** Parameters of {@linkcode Backend.markStepAttemptFailed}. */
export interface MarkStepAttemptFailedParams {
  /** The run's id. */
  workflowRunId: string;
  /** The attempt's id. */
  stepAttemptId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The serialized error. */
  error: JsonValue;
}

/**
 * Storage for workflow runs and step attempts, scoped to one namespace.
 *
 * Contract, for implementers:
 * - Everything is scoped to the backend's namespace: a run of another
 *   namespace is invisible (`get*` return `null`) and never claimed.
 * - Times that decide ownership (lease expiry, `availableAt <= now`) use one
 *   clock: the database server's where there is one (never the caller's),
 *   or the machine's for an embedded database that all callers share.
 * - A claimable run is one that is `pending` or `sleeping` with
 *   `availableAt <= now`, or `running` with an expired lease
 *   (`availableAt <= now`), whose deadline has not passed, and whose
 *   workflow matches the claim's `workflows`. Claims are atomic: one run is
 *   never handed to two claimers, whatever their number or process.
 * - Fencing: a method taking `workerId` changes nothing and throws
 *   `LeaseLostError` unless the run is `running` and its `workerId` is that
 *   worker. (An expired lease that no one has reclaimed still counts as
 *   held.)
 * - `undefined` never appears in stored JSON; a missing output is `null`.
 * - The optional methods (`getWorkflowRunStatuses`, `subscribe`) may be
 *   left out: the engine then reads runs one by one, and polls.
 *
 * @example Use a backend directly
 * ```ts ignore
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect("postgresql://localhost/app");
 * const run = await backend.getWorkflowRun({ workflowRunId: "…" });
 * console.log(run?.status);
 * await backend.stop();
 * ```
 */
export interface Backend {
  /**
   * Creates a `pending` run (or returns the existing run with the same
   * idempotency key).
   */
  createWorkflowRun(params: CreateWorkflowRunParams): Promise<WorkflowRun>;
  /** Returns the run, or `null` when there is none in this namespace. */
  getWorkflowRun(params: GetWorkflowRunParams): Promise<WorkflowRun | null>;
  /**
   * Optional: the id and status of each of the runs, in one read; ids that
   * name no run of this namespace are left out. A worker whose backend has
   * no live notifications calls it about once a second, for the runs it
   * holds, to learn of a cancel from another process; a backend without it
   * gets one `getWorkflowRun` call per run held instead.
   */
  getWorkflowRunStatuses?(
    params: GetWorkflowRunStatusesParams,
  ): Promise<Pick<WorkflowRun, "id" | "status">[]>;
  /**
   * Claims the claimable run that has waited longest (`availableAt`, then
   * `createdAt`): sets it `running`, its `workerId`, `availableAt` to now +
   * the lease, `startedAt` if unset, and increments `attempts`. Returns
   * `null` when none is claimable.
   */
  claimWorkflowRun(params: ClaimWorkflowRunParams): Promise<WorkflowRun | null>;
  /** Claims up to `limit` runs at once, as `claimWorkflowRun` does one. */
  claimWorkflowRuns(params: ClaimWorkflowRunsParams): Promise<WorkflowRun[]>;
  /**
   * Extends the lease to now + `leaseDurationMs`. Fenced: throws
   * `LeaseLostError` when the worker no longer owns the run.
   */
  heartbeatWorkflowRun(params: HeartbeatWorkflowRunParams): Promise<void>;
  /**
   * Sets the run `succeeded` with its output and `completedAt`. Fenced.
   */
  markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void>;
  /** Sets the run `failed` with its error and `completedAt`. Fenced. */
  markWorkflowRunFailed(params: MarkWorkflowRunFailedParams): Promise<void>;
  /**
   * Gives up the lease: the run returns to `status` (`pending` or
   * `sleeping`), claimable again at `availableAt`. Fenced.
   */
  releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void>;
  /**
   * Fails every non-terminal run whose deadline has passed and which no
   * worker holds (not running, or its lease expired), storing
   * `params.error`. Returns the number of runs failed.
   */
  failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number>;
  /**
   * Sets a non-terminal run `canceled` (with `error` and `completedAt`) and
   * returns it; returns a terminal run unchanged; returns `null` when there
   * is no such run. A worker executing the run loses its lease.
   */
  cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null>;
  /** Lists runs, newest first, with cursor pagination. */
  listWorkflowRuns(params: ListWorkflowRunsParams): Promise<WorkflowRunPage>;
  /** Lists the run's step attempts, oldest first. */
  listStepAttempts(params: ListStepAttemptsParams): Promise<StepAttempt[]>;
  /** Creates a `running` step attempt. Fenced. */
  createStepAttempt(params: CreateStepAttemptParams): Promise<StepAttempt>;
  /** Returns the attempt, or `null`. */
  getStepAttempt(params: GetStepAttemptParams): Promise<StepAttempt | null>;
  /** Sets a `running` attempt `succeeded` with its output. Fenced. */
  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void>;
  /** Sets a `running` attempt `failed` with its error. Fenced. */
  markStepAttemptFailed(params: MarkStepAttemptFailedParams): Promise<void>;
  /** Releases the backend's resources (connections, files). */
  stop(): Promise<void>;
  /**
   * Optional: push notifications about this namespace, from any process
   * (Postgres: LISTEN/NOTIFY). The engine polls less while notifications
   * are live, and falls back to polling when they are not, so correctness
   * never depends on a notification arriving. Returns an unsubscribe
   * function.
   */
  subscribe?(listener: (notification: BackendNotification) => void): () => void;
}
