/**
 * The types of a workflow's definition and function.
 *
 * @module
 */

import type { RetryPolicy } from "./retry.ts";
import type { ConcurrencyConfig, RateLimitConfig } from "./flow_control.ts";
import type { ScheduleCatchUp } from "./schedules.ts";
import type { StepApi } from "./step_api.ts";

/** Configuration of `OpenWorkflow.defineWorkflow()`. */
export interface WorkflowDefinitionConfig<Input = unknown> {
  /** The workflow's name, unique within a client. */
  name: string;
  /**
   * The workflow's version. A run records the version it started on, and a
   * worker only executes runs of the versions it has registered.
   * @default {null}
   */
  version?: string | null;
  /**
   * Retries the whole run when the workflow function throws: the run is
   * parked for the backoff, then replayed. Completed steps keep their
   * results; steps that had failed for good get a fresh retry budget. Set
   * `maxAttempts` above 1 to retry: it defaults to 1 here, and the other
   * fields as for a step.
   * @default {DEFAULT_WORKFLOW_RETRY_POLICY} (one attempt: no retry)
   */
  retry?: RetryPolicy;
  /**
   * A cron schedule the workflow runs on: every worker that registers the
   * workflow creates it when it starts (or updates it: the schedule's id is
   * the workflow's name), and one of them fires each slot.
   * @default {undefined}
   */
  schedule?: ScheduleConfig;
  /**
   * At most `limit` runs with the same key (from the input; without `key`,
   * of the whole workflow) execute at once, across every worker. Parked
   * runs (sleeping, waiting for a signal, a child or a retry) do not count;
   * a busy key holds up no other key.
   * @default {undefined}
   */
  concurrency?: ConcurrencyConfig<Input>;
  /**
   * At most `limit` runs with the same key (from the input; without `key`,
   * of the whole workflow) start for the first time in any `period`, across
   * every worker; the others wait and start later.
   * @default {undefined}
   */
  rateLimit?: RateLimitConfig<Input>;
}

/** A schedule declared with a workflow (`defineWorkflow({ schedule })`). */
export interface ScheduleConfig {
  /** A cron expression (5 fields, or 6 with seconds first; or `@daily`...). */
  cron: string;
  /**
   * The IANA time zone the expression is read in.
   * @default {"UTC"}
   */
  timezone?: string;
  /**
   * The input of every run.
   * @default {null}
   */
  input?: unknown;
  /**
   * What to do with the slots missed while no worker ran.
   * @default {"latest"}
   */
  catchUp?: ScheduleCatchUp;
}

/** Facts about the run being executed, passed to the workflow function. */
export interface WorkflowRunInfo {
  /** The run's id. */
  id: string;
  /** The workflow's name. */
  workflowName: string;
  /** The workflow version the run started on. */
  version: string | null;
  /** How many times a worker has claimed the run, this time included. */
  attempt: number;
}

/** What a workflow function receives. */
export interface WorkflowFunctionParams<Input> {
  /** The input the run was started with. */
  input: Input;
  /** The step API, for checkpointed side effects and durable waits. */
  step: StepApi;
  /** Facts about this run. */
  run: WorkflowRunInfo;
}

/**
 * The function signature for defining workflow logic. It may be executed
 * more than once for one run (after a crash, a sleep or a retry wait): keep
 * it deterministic and put side effects in steps.
 */
export type WorkflowFunction<Input, Output> = (
  params: WorkflowFunctionParams<Input>,
) => Promise<Output> | Output;
