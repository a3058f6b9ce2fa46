/**
 * The step API a workflow function uses for its side effects and waits.
 *
 * @module
 */

import type { StandardSchemaV1 } from "./standard_schema.ts";
import type { Duration } from "./duration.ts";
import type { JsonValue } from "./json.ts";
import type { FlowControl } from "./flow_control.ts";
import type { RetryPolicy } from "./retry.ts";

export type {
  StandardSchemaIssue,
  StandardSchemaProps,
  StandardSchemaResult,
  StandardSchemaV1,
} from "./standard_schema.ts";

/** Configuration of one `step.run()` call. */
export interface StepFunctionConfig<Output = unknown> {
  /**
   * The step's name: unique within the run and deterministic (never
   * `step-${Date.now()}`). Its stored result is found by this name.
   */
  name: string;
  /**
   * How often a failing step is tried.
   * @default {DEFAULT_STEP_RETRY_POLICY}
   */
  retry?: RetryPolicy;
  /**
   * Fails an attempt that runs longer than this many milliseconds (its
   * `signal` is aborted); the failure is retried per `retry`. Any positive
   * number up to `MAX_DURATION_MS` (100 years) is honoured, also past
   * `setTimeout`'s limit of about 24.8 days. No timeout when omitted.
   * @default {undefined}
   */
  timeoutMs?: number;
  /**
   * Undoes the step (a saga's compensation): when the run fails for good
   * (an uncaught error after its retries, a `NonRetryableError`, its
   * deadline), the `compensate` functions of its completed steps run in
   * reverse order of completion, each as a durable step of its own named
   * `compensate:<name>` (retried with this step's `retry` policy,
   * checkpointed, never run again once it succeeded, resumed by another
   * worker after a crash), receiving the step's stored output. A
   * compensation that fails for good is reported in the run's error
   * (`cause`) and the others still run. A run whose deadline passes while
   * it waits (asleep, or for a signal, a child or a retry) is handed to a
   * worker, which replays its completed steps and runs their
   * compensations. A canceled run compensates only when the cancel asks
   * for it: `cancelRun(id, { compensate: true })`.
   * @default {undefined}
   */
  compensate?: (
    output: Output,
    context: StepFunctionContext,
  ) => unknown;
}

/** What a step function receives. */
export interface StepFunctionContext {
  /**
   * Aborted when the step should stop: the run was canceled, the worker
   * lost the run's lease, the run's deadline passed, or the step's
   * `timeoutMs` elapsed. Pass it on to `fetch` and other abortable calls.
   * Each attempt has a signal of its own, which never aborts once the
   * attempt has settled.
   */
  signal: AbortSignal;
  /** Which attempt this is, counting from 1. */
  attempt: number;
}

/**
 * The function a step runs. Sync or async; `undefined` is stored and
 * returned as `null`. Its result must be a JSON value (`Date` and other
 * `toJSON` values are converted as `JSON.stringify` does).
 */
export type StepFunction<Output> = (
  context: StepFunctionContext,
) => Promise<Output | undefined> | Output | undefined;

/** Configuration of `step.waitForSignal()`. */
export interface WaitForSignalConfig<Data = JsonValue> {
  /** The name of the signal to wait for. */
  signal: string;
  /**
   * The step's name, unique within the run.
   * @default {config.signal}
   */
  name?: string;
  /**
   * How long to wait (at most `MAX_DURATION_MS`); `waitForSignal()` then
   * returns `null` and the run goes on.
   * @default {undefined} (no timeout)
   */
  timeout?: Duration;
  /**
   * A Standard Schema (Zod, Valibot, ArkType, ...) the signal's data must
   * satisfy; its output is what `waitForSignal()` returns. Data that fails
   * it fails the step for good with `SignalValidationError`.
   * @default {undefined}
   */
  schema?: StandardSchemaV1<unknown, Data>;
}

/** Configuration of `step.sendSignal()`. */
export interface StepSendSignalConfig {
  /** The signal's name. */
  signal: string;
  /**
   * The signal's data: a JSON value.
   * @default {null}
   */
  data?: unknown;
  /**
   * The run to send it to. Without it, the signal is a broadcast: every
   * unfinished run of the namespace created before it that waits for its
   * name receives it once.
   * @default {undefined}
   */
  workflowRunId?: string;
  /**
   * The step's name, unique within the run.
   * @default {`send:${config.signal}`}
   */
  name?: string;
}

/** What sending a signal did. */
export interface SendSignalResult {
  /** The runs that were waiting for the signal and received it at once. */
  workflowRunIds: string[];
}

/**
 * A workflow a run can start as its child: a `WorkflowDefinition`, or any
 * object with its name, version and function.
 */
export interface ChildWorkflow<Input = unknown, Output = unknown> {
  /** The workflow's name. */
  readonly name: string;
  /** The workflow's version. */
  readonly version: string | null;
  /** The workflow's function (only its type is used). */
  fn(params: { input: Input }): Promise<Output> | Output;
  /**
   * The workflow's concurrency and rate limits, which the child's run keeps
   * to.
   * @default {undefined}
   */
  readonly flowControl?: FlowControl;
}

/** Options of `step.runWorkflow()` and `step.startWorkflow()`. */
export interface ChildWorkflowOptions {
  /**
   * The step's name, unique within the run.
   * @default {the child workflow's name}
   */
  name?: string;
  /**
   * `runWorkflow()` only: how long to wait for the child (at most
   * `MAX_DURATION_MS`); past it the child is canceled and the step fails
   * with `StepTimeoutError`.
   * @default {undefined} (no timeout)
   */
  timeout?: Duration;
}

/**
 * The step API, passed to every workflow function as `step`.
 *
 * Each step's outcome is checkpointed. When a run resumes (after a crash, a
 * lost lease, a sleep or a retry wait) the workflow function runs again from
 * the top and every completed step returns its stored result instead of
 * running again.
 *
 * @example
 * ```ts ignore
 * const wf = ow.defineWorkflow({ name: "onboard" }, async ({ input, step }) => {
 *   const user = await step.run({ name: "create-user" }, () => db.createUser(input));
 *   await step.sleep("wait-a-day", "1d");
 *   await step.run({ name: "send-tips" }, () => mail.sendTips(user.email));
 * });
 * ```
 */
export interface StepApi {
  /**
   * Executes a step with memoization. If the step has already completed in
   * an earlier execution of the run, returns the stored result without
   * calling `fn`.
   *
   * A step that fails is retried per `config.retry` (the run releases its
   * worker while it waits); when it has failed for good, `run()` rejects
   * with the stored error (an `Error` with the original `name`, `message`
   * and `stack`), which the workflow may catch. An attempt cut off by a
   * crash or a lost lease is recorded failed with `StepInterruptedError`
   * by the next worker and tried again at once; it counts against the
   * policy's `maxInterruptions` (10 by default), not its `maxAttempts`, and
   * past that budget the step fails for good with
   * `StepInterruptedTooOftenError`. A
   * `NonRetryableError` the workflow does not catch also fails the run
   * without a workflow-level retry.
   *
   * @param config The step's name and options.
   * @param fn The function to execute.
   * @returns The step's output (`null` for `undefined`).
   * @throws {DuplicateStepNameError} when the name was used before in the run.
   * @throws {TypeError|RangeError} for a bad name, function, `timeoutMs` or
   * retry policy (an unknown policy field included); nothing is written.
   *
   * @example A checkpointed step with retries and a timeout
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const quote = ow.defineWorkflow({ name: "quote" }, async ({ step }) => {
   *   const price = await step.run(
   *     { name: "fetch-price", retry: { maxAttempts: 5 }, timeoutMs: 10_000 },
   *     // Pass `signal` on (to `fetch`, say): it aborts on cancel or timeout.
   *     ({ signal }) => {
   *       signal.throwIfAborted();
   *       return 42;
   *     },
   *   );
   *   return `USD ${price}`;
   * });
   * const worker = ow.newWorker();
   * await worker.start();
   * assert.equal(await (await quote.run()).result(), "USD 42");
   * await worker.stop();
   * ```
   */
  run<Output>(
    config: StepFunctionConfig<Output>,
    fn: StepFunction<Output>,
  ): Promise<Output>;
  /**
   * Sleeps durably: the run releases its worker and any worker resumes it
   * when the time is up, even after restarts. A completed sleep is never
   * slept again.
   *
   * @param name The step's name, unique within the run.
   * @param duration Milliseconds, or a string such as `"30s"`, `"5m"`, `"1d"`;
   * at most `MAX_DURATION_MS` (100 years).
   * @throws {RangeError|TypeError} for a negative, too long or unparseable
   * duration.
   *
   * @example Wait, with the worker free meanwhile
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const reminder = ow.defineWorkflow({ name: "reminder" }, async ({ step }) => {
   *   await step.sleep("wait-a-moment", "50ms"); // or 50, "30s", "1d"
   *   return await step.run({ name: "send" }, () => "sent");
   * });
   * const worker = ow.newWorker();
   * await worker.start();
   * const handle = await reminder.run();
   * assert.equal(await handle.result(), "sent");
   * await worker.stop();
   * ```
   */
  sleep(name: string, duration: Duration): Promise<void>;
  /**
   * Sleeps durably until `until`; see {@linkcode StepApi.sleep}. A time in
   * the past returns at once.
   *
   * @param name The step's name, unique within the run.
   * @param until When to wake up, in years 1 to 9999.
   * @throws {TypeError} for an invalid `Date`.
   * @throws {RangeError} for a time outside years 1 to 9999.
   *
   * @example Wait until a time given in the input
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const launch = ow.defineWorkflow<{ opensAt: string }, string>(
   *   { name: "launch" },
   *   async ({ input, step }) => {
   *     // From the input, not `Date.now()`: the function must replay alike.
   *     await step.sleepUntil("opening", new Date(input.opensAt));
   *     return await step.run({ name: "open" }, () => "open");
   *   },
   * );
   * const worker = ow.newWorker();
   * await worker.start();
   * const opensAt = new Date(Date.now() + 50).toISOString();
   * assert.equal(await (await launch.run({ opensAt })).result(), "open");
   * await worker.stop();
   * ```
   */
  sleepUntil(name: string, until: Date): Promise<void>;
  /**
   * Waits durably for a signal sent with `ow.sendSignal()`,
   * `handle.sendSignal()` or `step.sendSignal()`. The run releases its
   * worker meanwhile and wakes within milliseconds of the send. A signal
   * addressed to the run before it waits is kept and delivered when it
   * does; each wait receives the oldest undelivered signal of its name,
   * exactly once, in the order they were sent. Broadcasts (no run named)
   * sent after the run was created count too, each at most once.
   *
   * @param config The signal's name, and the step's name, timeout and schema.
   * @returns `{ data }`, or `null` once `timeout` has passed.
   * @throws {SignalValidationError} when the data fails `schema` (the step
   * fails for good).
   * @throws {DuplicateStepNameError} when the name was used before in the run.
   * @throws {TypeError|RangeError} for an empty signal name or a bad timeout.
   *
   * @example Wait for an approval, for three days at most
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const expense = ow.defineWorkflow({ name: "expense" }, async ({ step }) => {
   *   const reply = await step.waitForSignal<{ approved: boolean }>({
   *     signal: "approval",
   *     timeout: "3d",
   *   });
   *   return reply === null ? "timed out" : reply.data.approved ? "paid" : "refused";
   * });
   * const worker = ow.newWorker();
   * await worker.start();
   * const handle = await expense.run();
   * await handle.sendSignal("approval", { approved: true });
   * assert.equal(await handle.result(), "paid");
   * await worker.stop();
   * ```
   */
  waitForSignal<Data = JsonValue>(
    config: WaitForSignalConfig<Data>,
  ): Promise<{ data: Data } | null>;
  /**
   * Sends a signal as a step: a replay never sends it twice.
   *
   * @param config The signal, its data, the run it is for (none: a
   * broadcast), and the step's name.
   * @returns The runs that were waiting for it and received it at once.
   * @throws {WorkflowRunNotFoundError} when `workflowRunId` names no run.
   * @throws {WorkflowRunFinishedError} when that run has finished.
   * @throws {NotJsonError|PayloadTooLargeError} for data that cannot be
   * stored.
   *
   * @example Tell a waiting run from another workflow
   * ```ts ignore
   * await step.sendSignal({ signal: "approval", data: { approved: true }, workflowRunId });
   * ```
   */
  sendSignal(config: StepSendSignalConfig): Promise<SendSignalResult>;
  /**
   * Starts `workflow` as a child run and waits for its output, durably: the
   * parent releases its worker meanwhile (a worker with `concurrency: 1`
   * runs both) and wakes when the child finishes. A replay never starts a
   * second child. Canceling the parent cancels the child.
   *
   * @param workflow The child workflow's definition.
   * @param input The child's input.
   * @param options The step's name and a timeout.
   * @returns The child's output.
   * @throws {WorkflowFailedError} when the child failed; its `cause` is the
   * child's error.
   * @throws {WorkflowCanceledError} when the child was canceled.
   * @throws {StepTimeoutError} when `timeout` passed first; the child is
   * canceled.
   *
   * @example Price an order in a child workflow
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const price = ow.defineWorkflow<{ items: number }, number>(
   *   { name: "price" },
   *   ({ input }) => input.items * 5,
   * );
   * const order = ow.defineWorkflow({ name: "order" }, async ({ step }) => {
   *   const total = await step.runWorkflow(price, { items: 3 }, { timeout: "1h" });
   *   return `total ${total}`;
   * });
   * const worker = ow.newWorker({ concurrency: 1 });
   * await worker.start();
   * assert.equal(await (await order.run()).result(), "total 15");
   * await worker.stop();
   * ```
   */
  runWorkflow<Input, Output>(
    workflow: ChildWorkflow<Input, Output>,
    input: Input,
    options?: ChildWorkflowOptions,
  ): Promise<Output>;
  /**
   * Starts `workflow` as a detached child run, as a step (a replay never
   * starts a second one), and returns at once. The child records the
   * parent's id, but keeps running when the parent is canceled.
   *
   * @param workflow The child workflow's definition.
   * @param input The child's input.
   * @param options The step's name.
   * @returns The child run's id.
   *
   * @example Fire and forget
   * ```ts ignore
   * const { workflowRunId } = await step.startWorkflow(audit, { orderId }, { name: "audit" });
   * ```
   */
  startWorkflow<Input>(
    workflow: ChildWorkflow<Input, unknown>,
    input: Input,
    options?: ChildWorkflowOptions,
  ): Promise<{ workflowRunId: string }>;
}
