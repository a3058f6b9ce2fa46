/**
 * The parameter objects of the `Backend` methods: each method takes one.
 * No I/O.
 *
 * "Now" below is the backend's clock (the database server's, or the
 * machine's for an embedded database), never the caller's; see `Backend`.
 *
 * @module
 */

import type { JsonValue } from "./json.ts";
import type {
  StepKind,
  WorkflowRunStatus,
  WorkflowSelector,
} from "./records.ts";

/**
 * Parameters of `Backend.createWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { CreateWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: CreateWorkflowRunParams = {
 *   workflowName: "send-email",
 *   version: null,
 *   config: {},
 *   context: null,
 *   input: { userId: "123" },
 *   availableAt: null, // claimable now
 *   deadlineAt: new Date(Date.now() + 3_600_000),
 *   idempotencyKey: "welcome-123",
 * };
 * console.log(params.workflowName);
 * ```
 */
export interface CreateWorkflowRunParams {
  /** The workflow's name, stored as the run's `workflowName`. */
  workflowName: string;
  /**
   * The workflow version, or `null` for an unversioned workflow. Claims
   * match it exactly (see {@linkcode WorkflowSelector}).
   */
  version: string | null;
  /** Engine-defined JSON, stored and returned unchanged (the engine: `{}`). */
  config: JsonValue;
  /** Engine-defined JSON or `null`, stored as the run's `context`. */
  context: JsonValue | null;
  /** The workflow input, or `null` for none. */
  input: JsonValue | null;
  /**
   * When the run may first be claimed; a past time means at once. `null`
   * means now + `availableAfterMs`.
   */
  availableAt: Date | null;
  /**
   * When `availableAt` is `null`: the run may first be claimed this many
   * milliseconds after now (so that a delay is measured by the backend's
   * clock, not the caller's). Ignored when `availableAt` is set.
   * @default {0}
   */
  availableAfterMs?: number;
  /**
   * When the run fails if not finished, or `null` for never. A run is never
   * claimed at or after its deadline; `failExpiredWorkflowRuns` fails it.
   */
  deadlineAt: Date | null;
  /**
   * When not `null`, at most one run of `workflowName` in the namespace has
   * this key: if one exists, it is returned unchanged and nothing is
   * created. The backend enforces this atomically, also against concurrent
   * callers in other processes. Another workflow name or another namespace
   * with the same key makes another run.
   */
  idempotencyKey: string | null;
}

/**
 * Parameters of `Backend.getWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { GetWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: GetWorkflowRunParams = { workflowRunId: crypto.randomUUID() };
 * console.log(params.workflowRunId.length); // 36
 * ```
 */
export interface GetWorkflowRunParams {
  /** The run's id. Any string: one that names no run yields `null`. */
  workflowRunId: string;
}

/**
 * Parameters of `Backend.getWorkflowRunStatuses`.
 *
 * @example
 * ```ts
 * import type { GetWorkflowRunStatusesParams } from "@openworkflow/core";
 *
 * const params: GetWorkflowRunStatusesParams = {
 *   workflowRunIds: [crypto.randomUUID(), crypto.randomUUID()],
 * };
 * console.log(params.workflowRunIds.length); // 2
 * ```
 */
export interface GetWorkflowRunStatusesParams {
  /** The runs' ids. Any strings: those that name no run are left out. */
  workflowRunIds: readonly string[];
}

/**
 * Parameters of `Backend.claimWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { ClaimWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: ClaimWorkflowRunParams = {
 *   workerId: "worker-1",
 *   leaseDurationMs: 30_000,
 *   workflows: [{ name: "send-email", version: null }],
 * };
 * console.log(params.workflows?.length); // 1
 * ```
 */
export interface ClaimWorkflowRunParams {
  /**
   * The claiming worker's id. It becomes the run's `workerId`, and the
   * fenced writes for the run must name it.
   */
  workerId: string;
  /**
   * How long the lease lasts, in milliseconds: the claimed run's
   * `availableAt` becomes now + this.
   */
  leaseDurationMs: number;
  /**
   * Only runs matching one of these selectors are claimed; `[]` claims
   * nothing. When omitted, runs of any workflow are claimed.
   */
  workflows?: readonly WorkflowSelector[];
}

/**
 * Parameters of `Backend.claimWorkflowRuns`.
 *
 * @example
 * ```ts
 * import type { ClaimWorkflowRunsParams } from "@openworkflow/core";
 *
 * const params: ClaimWorkflowRunsParams = {
 *   workerId: "worker-1",
 *   leaseDurationMs: 30_000,
 *   limit: 10, // the worker's free slots
 * };
 * console.log(params.limit);
 * ```
 */
export interface ClaimWorkflowRunsParams extends ClaimWorkflowRunParams {
  /** The most runs to claim: a positive integer. */
  limit: number;
}

/**
 * Parameters of `Backend.heartbeatWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { HeartbeatWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: HeartbeatWorkflowRunParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   leaseDurationMs: 30_000,
 * };
 * console.log(params.leaseDurationMs);
 * ```
 */
export interface HeartbeatWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The lease now ends this many milliseconds after now. */
  leaseDurationMs: number;
}

/**
 * Parameters of `Backend.markWorkflowRunSucceeded`.
 *
 * @example
 * ```ts
 * import type { MarkWorkflowRunSucceededParams } from "@openworkflow/core";
 *
 * const params: MarkWorkflowRunSucceededParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   output: { emailId: "e-1" },
 * };
 * console.log(params.output);
 * ```
 */
export interface MarkWorkflowRunSucceededParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The workflow output, stored as the run's `output` (`null` for none). */
  output: JsonValue | null;
}

/**
 * Parameters of `Backend.markWorkflowRunFailed`.
 *
 * @example
 * ```ts
 * import type { MarkWorkflowRunFailedParams } from "@openworkflow/core";
 *
 * const params: MarkWorkflowRunFailedParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   error: { name: "TypeError", message: "bad input" },
 * };
 * console.log(params.error);
 * ```
 */
export interface MarkWorkflowRunFailedParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The serialized error (a `SerializedError`), stored as the run's `error`. */
  error: JsonValue;
}

/**
 * Parameters of `Backend.releaseWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { ReleaseWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: ReleaseWorkflowRunParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   status: "sleeping",
 *   availableAt: new Date(Date.now() + 60_000), // a one-minute durable sleep
 * };
 * console.log(params.status);
 * ```
 */
export interface ReleaseWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /**
   * The status the run returns to: `sleeping` for a durable sleep,
   * `pending` otherwise (a retry's wait).
   */
  status: "pending" | "sleeping";
  /** When the run may be claimed again; `null` means now. */
  availableAt: Date | null;
  /**
   * When given (`null` included), replaces the run's `context`: the engine
   * keeps its workflow-level retry bookkeeping there. When omitted,
   * `context` is unchanged.
   */
  context?: JsonValue | null;
}

/**
 * Parameters of `Backend.failExpiredWorkflowRuns`.
 *
 * @example
 * ```ts
 * import type { FailExpiredWorkflowRunsParams } from "@openworkflow/core";
 *
 * const params: FailExpiredWorkflowRunsParams = {
 *   error: { name: "DeadlineExceededError", message: "deadline passed" },
 * };
 * console.log(params.error);
 * ```
 */
export interface FailExpiredWorkflowRunsParams {
  /** The serialized error to store on each run failed. */
  error: JsonValue;
}

/**
 * Parameters of `Backend.cancelWorkflowRun`.
 *
 * @example
 * ```ts
 * import type { CancelWorkflowRunParams } from "@openworkflow/core";
 *
 * const params: CancelWorkflowRunParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   error: { name: "WorkflowCanceledError", message: "canceled" },
 * };
 * console.log(params.error);
 * ```
 */
export interface CancelWorkflowRunParams {
  /** The run's id. Any string: one that names no run yields `null`. */
  workflowRunId: string;
  /**
   * The serialized error to store on the run, if it is canceled (a finished
   * run keeps its own).
   */
  error: JsonValue;
}

/**
 * Parameters of `Backend.listWorkflowRuns`. The filters given must all
 * match.
 *
 * @example
 * ```ts
 * import type { ListWorkflowRunsParams } from "@openworkflow/core";
 *
 * const params: ListWorkflowRunsParams = {
 *   workflowName: "send-email",
 *   statuses: ["failed", "canceled"],
 *   createdAfter: new Date(Date.now() - 86_400_000), // the last day
 *   limit: 50,
 * };
 * console.log(params.limit);
 * ```
 */
export interface ListWorkflowRunsParams {
  /** Only runs of this workflow name (any version). */
  workflowName?: string;
  /** Only runs in one of these statuses. */
  statuses?: readonly WorkflowRunStatus[];
  /** Only runs with `createdAt` at or after this time (inclusive). */
  createdAfter?: Date;
  /** Only runs with `createdAt` before this time (exclusive). */
  createdBefore?: Date;
  /** The most runs to return: a positive integer (the engine passes 1–1000). */
  limit: number;
  /**
   * The `nextCursor` of the previous page (from a call with the same
   * filters); `null` or omitted for the first page.
   */
  cursor?: string | null;
}

/**
 * Parameters of `Backend.listStepAttempts`.
 *
 * @example
 * ```ts
 * import type { ListStepAttemptsParams } from "@openworkflow/core";
 *
 * const params: ListStepAttemptsParams = { workflowRunId: crypto.randomUUID() };
 * console.log(params.workflowRunId.length); // 36
 * ```
 */
export interface ListStepAttemptsParams {
  /** The run's id. Any string: one that names no run yields `[]`. */
  workflowRunId: string;
}

/**
 * Parameters of `Backend.createStepAttempt`.
 *
 * @example
 * ```ts
 * import type { CreateStepAttemptParams } from "@openworkflow/core";
 *
 * const params: CreateStepAttemptParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   stepName: "fetch-user",
 *   kind: "run",
 *   config: {},
 *   context: null,
 * };
 * console.log(params.stepName);
 * ```
 */
export interface CreateStepAttemptParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /**
   * The step's name. Not unique: each attempt (retry) of a step has its
   * name.
   */
  stepName: string;
  /** The kind of step. */
  kind: StepKind;
  /**
   * Engine-defined JSON, stored and returned unchanged (the engine: the
   * step's retry policy and timeout for `run`, `{}` for `sleep`).
   */
  config: JsonValue;
  /**
   * Engine-defined JSON or `null` (the engine: `{ resumeAt }`, an ISO
   * date, for `sleep`; `null` for `run`).
   */
  context: JsonValue | null;
}

/**
 * Parameters of `Backend.getStepAttempt`.
 *
 * @example
 * ```ts
 * import type { GetStepAttemptParams } from "@openworkflow/core";
 *
 * const params: GetStepAttemptParams = { stepAttemptId: crypto.randomUUID() };
 * console.log(params.stepAttemptId.length); // 36
 * ```
 */
export interface GetStepAttemptParams {
  /** The attempt's id. Any string: one that names no attempt yields `null`. */
  stepAttemptId: string;
}

/**
 * Parameters of `Backend.markStepAttemptSucceeded`.
 *
 * @example
 * ```ts
 * import type { MarkStepAttemptSucceededParams } from "@openworkflow/core";
 *
 * const params: MarkStepAttemptSucceededParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   stepAttemptId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   output: { email: "ada@example.com" },
 * };
 * console.log(params.output);
 * ```
 */
export interface MarkStepAttemptSucceededParams {
  /** The id of the run the attempt belongs to. */
  workflowRunId: string;
  /** The attempt's id. */
  stepAttemptId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The step output, stored as the attempt's `output` (`null` for none). */
  output: JsonValue | null;
}

/**
 * Parameters of `Backend.markStepAttemptFailed`.
 *
 * @example
 * ```ts
 * import type { MarkStepAttemptFailedParams } from "@openworkflow/core";
 *
 * const params: MarkStepAttemptFailedParams = {
 *   workflowRunId: crypto.randomUUID(),
 *   stepAttemptId: crypto.randomUUID(),
 *   workerId: "worker-1",
 *   error: { name: "Error", message: "timeout", code: "ETIMEDOUT" },
 * };
 * console.log(params.error);
 * ```
 */
export interface MarkStepAttemptFailedParams {
  /** The id of the run the attempt belongs to. */
  workflowRunId: string;
  /** The attempt's id. */
  stepAttemptId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /**
   * The serialized error (a `SerializedError`), stored as the attempt's
   * `error`.
   */
  error: JsonValue;
}
