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
  WorkflowRun,
  WorkflowRunStatus,
  WorkflowSelector,
} from "./records.ts";

/** Parameters of `Backend.createWorkflowRun`. */
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
  /**
   * The run starting this one as its child, stored as the new run's
   * `parentWorkflowRunId`.
   * @default {null}
   */
  parentWorkflowRunId?: string | null;
  /**
   * With a parent: `false` (attached) means that canceling the parent
   * cancels this run, and that this run finishing wakes the parent (makes
   * it claimable at once, see `releaseWorkflowRun`); `true` (detached)
   * means neither.
   * @default {false}
   */
  detached?: boolean;
  /**
   * Claimable runs of higher priority are claimed first.
   * @default {0}
   */
  priority?: number;
  /**
   * The run's concurrency key (`""`: one for the whole workflow), or
   * `null`: at most `concurrencyLimit` runs of the workflow with the same
   * key may be `running` with a live lease at once; claims keep to it.
   * @default {null}
   */
  concurrencyKey?: string | null;
  /**
   * The limit of `concurrencyKey`.
   * @default {null}
   */
  concurrencyLimit?: number | null;
  /**
   * The run's rate-limit key (`""`: one for the whole workflow), or `null`:
   * at most `rateLimit` runs of the workflow with the same key may be
   * claimed for the first time in any `rateLimitPeriodMs`; claims keep to
   * it (the others wait).
   * @default {null}
   */
  rateLimitKey?: string | null;
  /**
   * The limit of `rateLimitKey`.
   * @default {null}
   */
  rateLimit?: number | null;
  /**
   * The window of `rateLimit`, in milliseconds.
   * @default {null}
   */
  rateLimitPeriodMs?: number | null;
}

/** Parameters of `Backend.getWorkflowRun`. */
export interface GetWorkflowRunParams {
  /** The run's id. Any string: one that names no run yields `null`. */
  workflowRunId: string;
}

/** Parameters of `Backend.getWorkflowRunStatuses`. */
export interface GetWorkflowRunStatusesParams {
  /** The runs' ids. Any strings: those that name no run are left out. */
  workflowRunIds: readonly string[];
}

/** Parameters of `Backend.claimWorkflowRun`. */
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
   * @default {undefined}
   */
  workflows?: readonly WorkflowSelector[];
}

/** Parameters of `Backend.claimWorkflowRuns`. */
export interface ClaimWorkflowRunsParams extends ClaimWorkflowRunParams {
  /** The most runs to claim: a positive integer. */
  limit: number;
}

/** Parameters of `Backend.getNextAvailableAt`. */
export interface GetNextAvailableAtParams {
  /**
   * Only runs matching one of these selectors count; `[]` matches none.
   * When omitted, runs of any workflow count.
   * @default {undefined}
   */
  workflows?: readonly WorkflowSelector[];
}

/** Parameters of `Backend.heartbeatWorkflowRun`. */
export interface HeartbeatWorkflowRunParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The lease now ends this many milliseconds after now. */
  leaseDurationMs: number;
}

/** Parameters of `Backend.markWorkflowRunSucceeded`. */
export interface MarkWorkflowRunSucceededParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The workflow output, stored as the run's `output` (`null` for none). */
  output: JsonValue | null;
}

/** A step attempt's result, stored with its run's (see below). */
export interface StepAttemptResult {
  /** The attempt's id: a running attempt of the run. */
  stepAttemptId: string;
  /** The step output, stored as the attempt's `output` (`null` for none). */
  output: JsonValue | null;
}

/** Parameters of `Backend.markWorkflowRunSucceededWithSteps`. */
export interface MarkWorkflowRunSucceededWithStepsParams
  extends MarkWorkflowRunSucceededParams {
  /**
   * The run's step attempts to mark succeeded first, in the same write:
   * the results of its last steps, not stored yet when it returned.
   */
  stepAttempts: readonly StepAttemptResult[];
}

/** Parameters of `Backend.markWorkflowRunFailed`. */
export interface MarkWorkflowRunFailedParams {
  /** The run's id. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The serialized error (a `SerializedError`), stored as the run's `error`. */
  error: JsonValue;
  /**
   * The status the run ends in: `canceled` ends a cancel that asked for
   * compensations, once they have run.
   * @default {"failed"}
   */
  status?: "failed" | "canceled";
}

/** Parameters of `Backend.releaseWorkflowRun`. */
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
   * @default {undefined}
   */
  context?: JsonValue | null;
}

/** Parameters of `Backend.failExpiredWorkflowRuns`. */
export interface FailExpiredWorkflowRunsParams {
  /** The serialized error to store on each run failed. */
  error: JsonValue;
}

/** Parameters of `Backend.cancelWorkflowRun`. */
export interface CancelWorkflowRunParams {
  /** The run's id. Any string: one that names no run yields `null`. */
  workflowRunId: string;
  /**
   * The serialized error to store on the run, if it is canceled (a finished
   * run keeps its own).
   */
  error: JsonValue;
  /**
   * Whether the run's compensations run first: an unfinished run with a
   * completed step that has one (a `succeeded` attempt whose `config` has
   * `compensate: true`) is handed to a worker to unwind instead of being
   * canceled (see `Backend.cancelWorkflowRun`).
   * @default {false}
   */
  compensate?: boolean;
}

/**
 * Parameters of `Backend.listWorkflowRuns`. The filters given must all
 * match.
 */
export interface ListWorkflowRunsParams {
  /**
   * Only runs of this workflow name (any version); all names when omitted.
   * @default {undefined}
   */
  workflowName?: string;
  /**
   * Only runs in one of these statuses; all statuses when omitted.
   * @default {undefined}
   */
  statuses?: readonly WorkflowRunStatus[];
  /**
   * Only runs with `createdAt` at or after this time (inclusive).
   * @default {undefined}
   */
  createdAfter?: Date;
  /**
   * Only runs with `createdAt` before this time (exclusive).
   * @default {undefined}
   */
  createdBefore?: Date;
  /**
   * Only the children of this run (runs whose `parentWorkflowRunId` it is).
   * @default {undefined}
   */
  parentWorkflowRunId?: string;
  /** The most runs to return: a positive integer (the engine passes 1–1000). */
  limit: number;
  /**
   * The `nextCursor` of the previous page (from a call with the same
   * filters); `null` or omitted for the first page.
   * @default {null}
   */
  cursor?: string | null;
}

/** Parameters of `Backend.listStepAttempts`. */
export interface ListStepAttemptsParams {
  /** The run's id. Any string: one that names no run yields `[]`. */
  workflowRunId: string;
}

/** Parameters of `Backend.createStepAttempt`. */
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

/** Parameters of `Backend.getStepAttempt`. */
export interface GetStepAttemptParams {
  /** The attempt's id. Any string: one that names no attempt yields `null`. */
  stepAttemptId: string;
}

/** Parameters of `Backend.markStepAttemptSucceeded`. */
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

/** Parameters of `Backend.markStepAttemptFailed`. */
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

/** Parameters of `Backend.sendSignal`. */
export interface SendSignalParams {
  /** The signal's name: a non-empty string. */
  signal: string;
  /** The signal's data (`null` for none). */
  data: JsonValue | null;
  /**
   * The run it is addressed to, or `null` for a broadcast to every
   * unfinished run of the namespace created before the send.
   */
  workflowRunId: string | null;
  /**
   * When not `null`, a second send with this key in the namespace stores
   * nothing and returns the first send's result.
   */
  idempotencyKey: string | null;
}

/** What `Backend.sendSignal` did. */
export type SendSignalOutcome =
  | {
    /** The signal was stored (or had been, under its idempotency key). */
    kind: "sent";
    /**
     * The runs that were waiting for the signal (had a `running`
     * `signal-wait` attempt for its name) and were woken to receive it.
     */
    workflowRunIds: string[];
  }
  | {
    /** The addressed run does not exist; nothing was stored. */
    kind: "run-not-found";
  }
  | {
    /** The addressed run has finished; nothing was stored. */
    kind: "run-finished";
    /** The run's status. */
    status: WorkflowRunStatus;
  };

/** Parameters of `Backend.receiveSignal`. */
export interface ReceiveSignalParams {
  /** The run that waits. */
  workflowRunId: string;
  /** The worker that holds the run's lease. */
  workerId: string;
  /** The run's `signal-wait` attempt that receives the signal. */
  stepAttemptId: string;
  /** The signal's name. */
  signal: string;
}

/** A signal delivered to a `signal-wait` attempt. */
export interface ReceivedSignal {
  /** The signal's id. */
  signalId: string;
  /** Its data. */
  data: JsonValue | null;
}

/** Parameters of `Backend.retryWorkflowRun`. */
export interface RetryWorkflowRunParams {
  /** The run's id. Any string: one that names no run is `not-found`. */
  workflowRunId: string;
}

/** What `Backend.retryWorkflowRun` did. */
export type RetryWorkflowRunOutcome =
  | {
    /**
     * The failed or canceled run is `pending` and claimable now, its error
     * and deadline cleared, its workflow-level failures reset, and its
     * failed step attempts no longer counted against their retry policy.
     */
    kind: "retried";
    /** The run as it is now. */
    workflowRun: WorkflowRun;
  }
  | {
    /** No run has that id. */
    kind: "not-found";
  }
  | {
    /** The run is not failed or canceled; nothing was changed. */
    kind: "not-retryable";
    /** Its status. */
    status: WorkflowRunStatus;
  };

/** Parameters of `Backend.forkWorkflowRun`. */
export interface ForkWorkflowRunParams {
  /** The run to fork. Any string: one that names no run is `not-found`. */
  workflowRunId: string;
  /** The new run's id (a UUID). */
  id: string;
  /**
   * The step the new run starts from: the step attempts that succeeded
   * before this step's first attempt are copied to the new run; `null`
   * copies none.
   */
  fromStep: string | null;
}

/** What `Backend.forkWorkflowRun` did. */
export type ForkWorkflowRunOutcome =
  | {
    /** The new run, `pending` and claimable now. */
    kind: "forked";
    /** The new run. */
    workflowRun: WorkflowRun;
    /** How many succeeded step attempts were copied to it. */
    copiedSteps: number;
  }
  | {
    /** No run has that id; nothing was created. */
    kind: "not-found";
  }
  | {
    /** The run has no step named `fromStep`; nothing was created. */
    kind: "step-not-found";
  };

/** Parameters of `Backend.deleteWorkflowRuns`: one bounded batch. */
export interface DeleteWorkflowRunsParams {
  /** Only runs that finished (`completedAt`) before this time. */
  finishedBefore: Date;
  /** Only runs in these statuses: finished ones only. */
  statuses: readonly ("succeeded" | "failed" | "canceled")[];
  /** Only runs of this workflow. @default {null} */
  workflowName?: string | null;
  /** At most this many runs (with all that belongs to them). */
  limit: number;
}

/** Parameters of `Backend.acquireMaintenanceLock`. */
export interface MaintenanceLockParams {
  /** The lock's name, e.g. `"retention"`; one per namespace. */
  name: string;
  /** Who holds it: a worker's id. */
  ownerId: string;
  /** How long it is held unless released or renewed. */
  durationMs: number;
}
