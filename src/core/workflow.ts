/**
 * The types of a workflow's definition and function.
 *
 * @module
 */

import type { RetryPolicy } from "./retry.ts";
import type { StepApi } from "./step_api.ts";

/**
 * Configuration of `OpenWorkflow.defineWorkflow()`.
 *
 * @example
 * ```ts
 * import type { WorkflowDefinitionConfig } from "@openworkflow/core";
 *
 * const config: WorkflowDefinitionConfig = { name: "send-invoice", version: "2" };
 * console.log(config.name);
 * ```
 *
 * @example Retry the whole run when the workflow function throws
 * ```ts
 * import type { WorkflowDefinitionConfig } from "@openworkflow/core";
 *
 * const config: WorkflowDefinitionConfig = {
 *   name: "place-order",
 *   // Up to 3 runs of the workflow, about 1 s and then 2 s apart.
 *   retry: { maxAttempts: 3, initialIntervalMs: 1_000 },
 * };
 * console.log(config.retry?.maxAttempts); // 3
 * ```
 */
export interface WorkflowDefinitionConfig {
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
   * results; steps that had failed for good get a fresh retry budget.
   * @default {DEFAULT_WORKFLOW_RETRY_POLICY} (one attempt: no retry)
   */
  retry?: RetryPolicy;
}

/**
 * Facts about the run being executed, passed to the workflow function.
 *
 * @example
 * ```ts
 * import type { WorkflowRunInfo } from "@openworkflow/core";
 *
 * const info: WorkflowRunInfo = { id: "4f1c…", workflowName: "greet", version: null, attempt: 1 };
 * console.log(info.attempt);
 * ```
 */
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

/**
 * What a workflow function receives.
 *
 * @example
 * ```ts
 * import type { WorkflowFunctionParams } from "@openworkflow/core";
 *
 * function describe({ input, run }: WorkflowFunctionParams<{ id: string }>): string {
 *   return `${run.workflowName} for ${input.id}`;
 * }
 * ```
 */
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
 *
 * @example
 * ```ts
 * import type { WorkflowFunction } from "@openworkflow/core";
 *
 * const greet: WorkflowFunction<{ name: string }, string> = async ({ input, step }) => {
 *   return await step.run({ name: "greet" }, () => `Hello, ${input.name}!`);
 * };
 * ```
 */
export type WorkflowFunction<Input, Output> = (
  params: WorkflowFunctionParams<Input>,
) => Promise<Output> | Output;
