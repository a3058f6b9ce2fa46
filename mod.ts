/**
 * A durable workflow engine for TypeScript.
 *
 * Define workflows whose side effects run in checkpointed steps; start runs;
 * let workers execute them. A run interrupted by a crash, a deploy or a lost
 * lease resumes on another worker without redoing completed steps.
 *
 * This module holds the client, the worker, the types and the errors. The
 * backends live in their own entry points, so that importing the client
 * pulls in no database driver: `@openworkflow/core/postgres` and
 * `@openworkflow/core/sqlite`.
 *
 * @example
 * ```ts ignore
 * import { OpenWorkflow } from "@openworkflow/core";
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
 * const ow = new OpenWorkflow({ backend });
 *
 * const greet = ow.defineWorkflow<{ name: string }, { greeting: string }>(
 *   { name: "greet" },
 *   async ({ input, step }) => {
 *     const greeting = await step.run({ name: "generate" }, () => `Hello, ${input.name}!`);
 *     return { greeting };
 *   },
 * );
 *
 * const worker = ow.newWorker({ concurrency: 10 });
 * await worker.start();
 * const handle = await greet.run({ name: "Alice" });
 * console.log(await handle.result()); // { greeting: "Hello, Alice!" }
 * await worker.stop();
 * await backend.stop();
 * ```
 *
 * @module
 */

export {
  type ListRunsOptions,
  OpenWorkflow,
  type OpenWorkflowOptions,
} from "./src/client/client.ts";
export {
  defineWorkflow,
  WorkflowDeclaration,
  WorkflowDefinition,
  type WorkflowDefinitionOptions,
  type WorkflowRunOptions,
} from "./src/client/definition.ts";
export type {
  DeleteRunsOptions,
  ForkRunOptions,
} from "./src/client/operations.ts";
export {
  DELETE_BATCH_SIZE,
  type FinishedStatus,
  type RetentionOptions,
} from "./src/worker/retention.ts";
export {
  type CancelRunOptions,
  type ResultOptions,
  WorkflowRunHandle,
  type WorkflowRunHandleOptions,
} from "./src/client/handle.ts";
export {
  Worker,
  type WorkerOptions,
  type WorkerWorkflow,
} from "./src/worker/worker.ts";
export {
  WorkerEvent,
  type WorkerEventInit,
  type WorkerEventType,
} from "./src/worker/events.ts";
export type {
  ScheduleConfig,
  WorkflowDefinitionConfig,
  WorkflowFunction,
  WorkflowFunctionParams,
  WorkflowRunInfo,
} from "./src/core/workflow.ts";
export type {
  ChildWorkflow,
  ChildWorkflowOptions,
  SendSignalResult,
  StandardSchemaIssue,
  StandardSchemaProps,
  StandardSchemaResult,
  StandardSchemaV1,
  StepApi,
  StepFunction,
  StepFunctionConfig,
  StepFunctionContext,
  StepSendSignalConfig,
  WaitForSignalConfig,
} from "./src/core/step_api.ts";
export type { SendSignalOptions } from "./src/client/signals.ts";
export type { CreateScheduleOptions } from "./src/core/schedule_store.ts";
export type {
  ConcurrencyConfig,
  FlowControl,
  RateLimitConfig,
} from "./src/core/flow_control.ts";
export {
  DEFAULT_STEP_RETRY_POLICY,
  DEFAULT_WORKFLOW_RETRY_POLICY,
  type RetryPolicy,
} from "./src/core/retry.ts";
export {
  type Duration,
  MAX_DURATION_MS,
  parseDuration,
} from "./src/core/duration.ts";
export type * from "./src/core/backend.ts";
export { TERMINAL_STATUSES } from "./src/core/backend.ts";
export type {
  JsonPrimitive,
  JsonValue,
  SerializedError,
} from "./src/core/json.ts";
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_FALLBACK_POLL_INTERVAL_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_NAMESPACE_ID,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RESULT_POLL_INTERVAL_MS,
  DEFAULT_RESULT_TIMEOUT_MS,
} from "./src/core/defaults.ts";
export { DEFAULT_MAX_PAYLOAD_BYTES } from "./src/core/limits.ts";
export {
  BackendError,
  type BackendErrorOptions,
  type BackendProblem,
  DeadlineExceededError,
  DuplicateStepNameError,
  LeaseLostError,
  NonRetryableError,
  NotJsonError,
  OpenWorkflowError,
  type OpenWorkflowErrorOptions,
  PayloadTooLargeError,
  ResultTimeoutError,
  ScheduleExistsError,
  ScheduleNotFoundError,
  SchemaVersionError,
  type SignalIssue,
  SignalValidationError,
  StepInterruptedError,
  StepInterruptedTooOftenError,
  StepNotFoundError,
  StepTimeoutError,
  WorkflowCanceledError,
  WorkflowFailedError,
  WorkflowRunFinishedError,
  WorkflowRunNotFoundError,
  WorkflowRunStatusError,
} from "./src/core/errors.ts";
