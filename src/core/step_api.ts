/**
 * The step API a workflow function uses for its side effects and waits.
 *
 * @module
 */

import type { Duration } from "./duration.ts";
import type { RetryPolicy } from "./retry.ts";

/** Configuration of one `step.run()` call. */
export interface StepFunctionConfig {
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
   * by the next worker, and counts against the same budget. A
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
    config: StepFunctionConfig,
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
}
