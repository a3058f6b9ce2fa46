/**
 * The records and parameters of the optional `Backend` methods that let
 * operators look at a namespace as a whole: run counts by workflow and
 * status, the age of the queue, and the signals a run received. The
 * dashboard and its Prometheus endpoint read them. No I/O.
 *
 * @module
 */

import type { JsonValue } from "./json.ts";
import type { WorkflowRunStatus } from "./records.ts";

/**
 * Parameters of `Backend.countWorkflowRuns`. The filters given must all
 * match.
 */
export interface CountWorkflowRunsParams {
  /**
   * Only runs of this workflow name (any version); all names when omitted.
   * @default {undefined}
   */
  workflowName?: string;
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
}

/** How many runs of one workflow are in one status. */
export interface WorkflowRunCount {
  /** The workflow's name. */
  workflowName: string;
  /** The status. */
  status: WorkflowRunStatus;
  /** How many runs: a positive integer (pairs with none are left out). */
  count: number;
}

/** How far behind the namespace's queue is, by the backend's clock. */
export interface QueueStatistics {
  /** The backend's clock when the statistics were read. */
  now: Date;
  /**
   * The smallest `availableAt` of the runs claimable now (unfinished,
   * `availableAt` at or before now, deadline not passed), or `null` when
   * none is; `now` minus it is how long the oldest has waited.
   */
  oldestClaimableAvailableAt: Date | null;
  /**
   * The smallest `nextRunAt` of the unpaused schedules that are due
   * (`nextRunAt` at or before now), or `null` when none is; `now` minus it
   * is how late the latest-firing schedule is. Always `null` for a backend
   * without schedules.
   */
  oldestDueScheduleAt: Date | null;
}

/** Parameters of `Backend.listSignals`. */
export interface ListSignalsParams {
  /** The run's id. Any string: one that names no run yields `[]`. */
  workflowRunId: string;
}

/** A signal a run received, or that waits for it. */
export interface WorkflowRunSignal {
  /** The signal's id. */
  signalId: string;
  /** The signal's name. */
  signal: string;
  /** Its data. */
  data: JsonValue | null;
  /** Whether it was a broadcast (sent to no run in particular). */
  broadcast: boolean;
  /** When it was sent (backend clock). */
  sentAt: Date;
  /**
   * When the run received it (backend clock), or `null` for a signal
   * addressed to the run that no step has received yet.
   */
  receivedAt: Date | null;
  /** The `signal-wait` step attempt that received it, or `null`. */
  stepAttemptId: string | null;
}
