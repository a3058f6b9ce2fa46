/**
 * `Steps`: the step API of one execution (`step.run`, `step.sleep`,
 * `step.sleepUntil`): memoized results, retries, timeouts, durable sleeps.
 *
 * How a step runs. Its name is claimed first (unique within the run), then
 * its history decides: a succeeded attempt returns the stored output; a
 * `running` attempt of a `run` step was cut off by a crash and is recorded
 * failed (`interrupted.ts`); failures within the retry budget whose retry
 * is not due yet park the run. Otherwise an attempt row is created, the
 * writes of the steps that had returned before this one was called are
 * awaited (never those of siblings running beside it), and the function
 * runs with a signal of its own that follows the run's only while it runs.
 * Its output is returned at once and stored behind (`storeResult`): held
 * back until the execution's next write, and sent with it (the next
 * step's attempt; the run's completion when the workflow returns), so a
 * chain of steps costs one round trip each, not two. A backend failure in
 * any of this suspends the whole execution (`abort`): the step's promise
 * never settles and nothing more is written. A suspended step returns a
 * fresh never-settling promise, so a parked execution holds no reference
 * that keeps it alive.
 *
 * @module
 */

import {
  clampTime,
  type Duration,
  MAX_DURATION_MS,
  parseDuration,
} from "../core/duration.ts";
import {
  DuplicateStepNameError,
  NotJsonError,
  PayloadTooLargeError,
  StepInterruptedTooOftenError,
  StepTimeoutError,
} from "../core/errors.ts";
import type { StepAttempt } from "../core/backend.ts";
import { failInterrupted } from "./interrupted.ts";
import {
  deserializeError,
  type JsonValue,
  serializeError,
} from "../core/json.ts";
import { follow, raceAbort, setLongTimeout } from "../core/waits.ts";
import {
  DEFAULT_STEP_RETRY_POLICY,
  isNonRetryable,
  resolveRetryPolicy,
  retryDelayMs,
} from "../core/retry.ts";
import type { Compensation, RunState } from "./run_state.ts";
import { runWorkflow, startWorkflow } from "./child_steps.ts";
import { flowParams } from "../core/flow_control.ts";
import { sleep } from "./sleep_steps.ts";
import { sendSignal, signalMethods, waitForSignal } from "./signal_steps.ts";
import {
  handled,
  never,
  type StepOutcome,
  succeed,
  SUSPENDED,
} from "./step_outcome.ts";
import type {
  ChildWorkflow,
  ChildWorkflowOptions,
  SendSignalResult,
  StepApi,
  StepFunction,
  StepFunctionConfig,
  StepFunctionContext,
  StepSendSignalConfig,
  WaitForSignalConfig,
} from "../core/step_api.ts";
import { checkName, checkTime } from "../core/validate.ts";
import { callIn, type Context } from "../telemetry/tracing.ts";

/** A `step.run()` call, its arguments checked. */
interface RunCall<Output> {
  name: string;
  policy: ReturnType<typeof resolveRetryPolicy>;
  timeoutMs: number | undefined;
  fn: StepFunction<Output>;
  /** The earlier steps' results still being stored (none: all are). */
  stored: Promise<unknown> | undefined;
  /** Whether the step has a `compensate` function. */
  compensable: boolean;
}

/** The step API of one execution. */
export class Steps implements StepApi {
  readonly #s: RunState;
  readonly #usedNames = new Set<string>();

  constructor(state: RunState) {
    this.#s = state;
  }

  /**
   * Claims a step name for this execution. Names are unique within a run:
   * a step's stored result is found by its name, and numbering repeated
   * names in call order would hand stored results to the wrong calls when
   * concurrent branches reach them in another order on replay.
   */
  #useName(value: unknown, what: string): string {
    const name = checkName(value, what, "name");
    if (this.#usedNames.has(name)) {
      throw new DuplicateStepNameError(this.#s.run.id, name);
    }
    this.#usedNames.add(name);
    return name;
  }

  /** Runs `work` as a tracked step; turns its outcome into the step's promise. */
  async #step<T>(work: Promise<StepOutcome>): Promise<T> {
    this.#s.inFlight.add(work);
    let outcome: StepOutcome;
    try {
      outcome = await work;
    } catch (error) {
      // Step failures are outcomes; what throws here is the backend (a lost
      // lease, an unreachable database). The execution stops without
      // another write; the run is resumed once its lease expires.
      this.#s.suspend({ kind: "abort", reason: error });
      return never();
    } finally {
      this.#s.inFlight.delete(work);
    }
    if (outcome.kind === "suspended" || this.#s.suspension !== null) {
      return never();
    }
    if (outcome.kind === "error") throw outcome.error;
    return outcome.value as T;
  }

  run<Output>(
    config: StepFunctionConfig<Output>,
    fn: StepFunction<Output>,
  ): Promise<Output> {
    if (this.#s.suspension !== null) return never();
    try {
      if (config === null || typeof config !== "object") {
        throw new TypeError(
          `Cannot run step: 'config' must be an object with a 'name', received ${
            config === null ? "null" : typeof config
          }`,
        );
      }
      const name = this.#useName(config.name, "run step");
      if (typeof fn !== "function") {
        throw new TypeError(
          `Cannot run step '${name}': 'fn' must be a function, received ${typeof fn}`,
        );
      }
      const timeoutMs = config.timeoutMs;
      if (
        timeoutMs !== undefined &&
        (typeof timeoutMs !== "number" || !(timeoutMs > 0) ||
          timeoutMs > MAX_DURATION_MS)
      ) {
        throw new RangeError(
          `Cannot run step '${name}': 'timeoutMs' must be a positive number of at most ${MAX_DURATION_MS} (100 years), received ${timeoutMs}`,
        );
      }
      const policy = resolveRetryPolicy(
        config.retry,
        DEFAULT_STEP_RETRY_POLICY,
        `step '${name}'`,
      );
      const compensate = config.compensate;
      if (compensate !== undefined && typeof compensate !== "function") {
        throw new TypeError(
          `Cannot run step '${name}': 'compensate' must be a function, received ${typeof compensate}`,
        );
      }
      // The results this step may depend on: those of the steps that had
      // returned when it was called (not of siblings running beside it).
      const stored = this.#s.pendingStores();
      const outcome = this.#runStep({
        name,
        policy,
        timeoutMs,
        fn,
        stored,
        compensable: compensate !== undefined,
      });
      return handled(this.#step(
        compensate === undefined ? outcome : outcome.then((result) => {
          if (result.kind === "value") {
            this.#s.compensations.push({
              name,
              compensate: compensate as Compensation["compensate"],
              output: result.value as JsonValue,
              retry: config.retry ?? {},
              completedMs: result.completedMs ?? this.#s.now(),
            });
          }
          return result;
        }),
      ));
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  #runStep<Output>(call: RunCall<Output>): Promise<StepOutcome> {
    const all = this.#s.history.get(call.name);
    // A step this run never began (most): its first attempt, at once.
    if (all === undefined) return this.#attempt(call);
    return this.#resumeStep(call, all);
  }

  /** Runs a step that has attempts: replayed, retried or parked. */
  async #resumeStep<Output>(
    call: RunCall<Output>,
    all: StepAttempt[],
  ): Promise<StepOutcome> {
    const { name, policy } = call;
    const latest = all.at(-1);
    if (latest?.status === "succeeded") {
      return {
        kind: "value",
        value: latest.output,
        completedMs: (latest.completedAt ?? latest.createdAt).getTime(),
      };
    }
    let cut: Awaited<ReturnType<typeof failInterrupted>> | undefined;
    if (latest?.status === "running" && this.#s.unwinding) {
      this.#s.unwind();
      return SUSPENDED;
    }
    if (latest?.status === "running" && latest.kind === "run") {
      // Cut off by a crash or a lost lease: failed, and retried as such.
      cut = await failInterrupted(this.#s, latest);
      all[all.length - 1] = cut.attempt;
    }
    // Failures before the last workflow-level retry do not count.
    const attempts = all.filter((a) =>
      a.createdAt.getTime() > this.#s.retryCutoffMs
    );
    const last = attempts.at(-1);
    // Attempts cut off by a crash or a lost lease are not the step's own
    // failures: they have a budget of their own, and are retried at once.
    const interruptions = attempts.filter(isInterrupted).length;
    const failures = attempts.filter((a) => a.status === "failed").length -
      interruptions;
    if (cut !== undefined && last === cut.attempt) {
      this.#s.options.onStepFailed?.(name, attempts.length, cut.error);
    }
    if (last !== undefined && isInterrupted(last)) {
      if (interruptions > policy.maxInterruptions) {
        return {
          kind: "error",
          error: new StepInterruptedTooOftenError(
            this.#s.run.id,
            name,
            interruptions,
          ),
        };
      }
    } else if (last?.status === "failed") {
      if (failures >= policy.maxAttempts || isNonRetryable(last.error)) {
        return { kind: "error", error: deserializeError(last.error) };
      }
      const dueMs = (last.completedAt ?? last.createdAt).getTime() +
        retryDelayMs(policy, failures, last.id);
      if (dueMs > this.#s.latest()) {
        this.#s.park(dueMs, "pending");
        return SUSPENDED;
      }
    }
    return await this.#attempt(call, attempts.length, failures);
  }

  /**
   * Makes a new attempt of a step that has had `before` attempts since the
   * last workflow retry, `failures` of them its own failures.
   */
  async #attempt<Output>(
    call: RunCall<Output>,
    before = 0,
    failures = 0,
  ): Promise<StepOutcome> {
    const { name, policy, timeoutMs, fn, stored, compensable } = call;
    if (this.#s.unwinding) this.#s.unwind();
    if (this.#s.suspension !== null) return SUSPENDED;
    const { backend, workerId } = this.#s.options;
    const workflowRunId = this.#s.run.id;
    // `compensate` tells the backend that the run has compensations to run
    // once its step completed (a deadline sweep leaves it to a worker).
    const config: { retry: JsonValue; timeoutMs?: number; compensate?: true } =
      { retry: policy };
    if (timeoutMs !== undefined) config.timeoutMs = timeoutMs;
    if (compensable) config.compensate = true;
    const attempt = await this.#s.io(backend.createStepAttempt({
      workflowRunId,
      workerId,
      stepName: name,
      kind: "run",
      config,
      context: null,
    }));
    this.#s.noteAttempt(attempt);
    const traceContext = this.#s.startStepSpan(attempt, before + 1);
    // Earlier steps' results are stored before this step's function runs.
    if (stored !== undefined) await stored;
    if (this.#s.isAborted()) return SUSPENDED;
    let value: JsonValue | undefined;
    let failure: unknown;
    try {
      value = this.#s.encode(
        await this.#callStep(name, fn, before + 1, timeoutMs, traceContext),
        `output of step '${name}'`,
      );
    } catch (error) {
      failure = error;
    }
    if (this.#s.isAborted()) return SUSPENDED;
    // The result is returned at once and stored meanwhile: a step called
    // after this one returned runs its function only once it is stored,
    // and the run finishes only once every write is done.
    if (value !== undefined) return succeed(this.#s, attempt.id, value);
    this.#s.endStepSpan(attempt.id, "failed", failure);
    const error = serializeError(failure);
    // Failures that would recur on every attempt are not retried.
    const retryable = !(isNonRetryable(failure) ||
      failure instanceof PayloadTooLargeError ||
      failure instanceof NotJsonError);
    if (!retryable) error.nonRetryable = true;
    this.#s.options.onStepFailed?.(name, before + 1, failure);
    await this.#s.io(backend.markStepAttemptFailed({
      workflowRunId,
      stepAttemptId: attempt.id,
      workerId,
      error,
    }));
    if (!retryable || failures + 1 >= policy.maxAttempts) {
      return { kind: "error", error: deserializeError(error) };
    }
    const delayMs = retryDelayMs(policy, failures + 1, attempt.id);
    this.#s.park(
      // A retry due at once is due by any reckoning of the clock: from the
      // earliest it may read, claimable now however slow the claim was.
      // A later one from the latest the failure may have been recorded at,
      // so that the retry is due on replay once the run is claimable again.
      delayMs === 0 ? this.#s.earliest() : this.#s.latest() + delayMs,
      "pending",
    );
    return SUSPENDED;
  }

  /**
   * Calls a step function. Its promise is raced against the run's signal
   * (the step's own, with a timeout); the function counts as running
   * until it settles itself (`runningSteps`: the execution's end aborts
   * the signals of those still running). A function that returns a value
   * (not a promise) is done at once.
   */
  #callStep<Output>(
    name: string,
    fn: StepFunction<Output>,
    attempt: number,
    timeoutMs: number | undefined,
    traceContext: Context | undefined,
  ): Output | undefined | Promise<Output | undefined> {
    // Each call gets a signal of its own that follows the run's only while
    // the call runs: a step that has settled never sees an abort later
    // (the run finishing, canceled or lost afterwards is no news to it).
    // It is made when the function first reads it (most never do): until
    // then, the call is raced against the run's signal itself.
    const runSignal = this.#s.controller.signal;
    let controller: AbortController | null = null;
    let unfollow = NOOP;
    let settled = false;
    const stepSignal = () => {
      if (controller === null) {
        controller = new AbortController();
        if (!settled) unfollow = follow(runSignal, controller).unfollow;
      }
      return controller.signal;
    };
    const context: StepFunctionContext = {
      attempt,
      get signal() {
        return stepSignal();
      },
    };
    // A timeout over setTimeout's limit (about 24.8 days) is still honoured.
    const cancelTimer = timeoutMs === undefined ? NOOP : setLongTimeout(
      () => controller?.abort(new StepTimeoutError(name, timeoutMs)),
      timeoutMs,
    );
    const raceSignal = timeoutMs === undefined ? runSignal : stepSignal();
    let result: Output | undefined | Promise<Output | undefined>;
    try {
      result = traceContext === undefined
        ? fn(context)
        : callIn(traceContext, () => fn(context));
    } catch (error) {
      result = Promise.reject(error);
    }
    const end = () => {
      settled = true;
      cancelTimer();
      // Ended by the run's abort, the step's signal still follows it (a
      // signal first read after the race began hears it after the race).
      if (!runSignal.aborted) unfollow();
    };
    if (!isPromiseLike(result)) {
      end();
      return result;
    }
    const work = Promise.resolve(result);
    this.#s.runningSteps++;
    const returned = () => {
      this.#s.runningSteps--;
    };
    work.then(returned, returned);
    return raceAbort(work, raceSignal, end);
  }

  sleep(name: string, duration: Duration): Promise<void> {
    if (this.#s.suspension !== null) return never();
    try {
      const stepName = this.#useName(name, "sleep");
      const ms = parseDuration(duration, `duration of sleep '${stepName}'`);
      return handled(
        this.#step(
          sleep(this.#s, stepName, () => clampTime(this.#s.now() + ms)),
        ),
      );
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  sleepUntil(name: string, until: Date): Promise<void> {
    if (this.#s.suspension !== null) return never();
    try {
      const stepName = this.#useName(name, "sleep");
      const untilMs = checkTime(until, `sleep '${stepName}'`, "until")
        .getTime();
      return handled(
        this.#step(sleep(this.#s, stepName, () => untilMs)),
      );
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  waitForSignal<Data = JsonValue>(
    config: WaitForSignalConfig<Data>,
  ): Promise<{ data: Data } | null> {
    return this.#checked(() => {
      const signal = checkSignalName(config, "wait for signal");
      const what = `wait for signal '${signal}'`;
      signalMethods(this.#s.options.backend, what);
      const name = this.#useName(config.name ?? signal, what);
      const timeoutMs = config.timeout === undefined
        ? undefined
        : parseDuration(config.timeout, `timeout of ${what}`);
      const schema = config.schema;
      if (
        schema !== undefined &&
        typeof schema?.["~standard"]?.validate !== "function"
      ) {
        throw new TypeError(
          `Cannot ${what}: 'schema' must be a Standard Schema (with ~standard.validate), received ${typeof schema}`,
        );
      }
      return waitForSignal(this.#s, {
        name,
        signal,
        timeoutMs,
        schema: schema as WaitForSignalConfig["schema"],
      });
    });
  }

  sendSignal(config: StepSendSignalConfig): Promise<SendSignalResult> {
    return this.#checked(() => {
      const signal = checkSignalName(config, "send signal");
      const what = `send signal '${signal}'`;
      signalMethods(this.#s.options.backend, what);
      const name = this.#useName(config.name ?? `send:${signal}`, what);
      const workflowRunId = config.workflowRunId ?? null;
      if (workflowRunId !== null && typeof workflowRunId !== "string") {
        throw new TypeError(
          `Cannot ${what}: 'workflowRunId' must be a string, received ${typeof workflowRunId}`,
        );
      }
      const data = this.#s.encode(
        config.data ?? null,
        `data of signal '${signal}'`,
      );
      return sendSignal(this.#s, { name, signal, data, workflowRunId });
    });
  }

  runWorkflow<Input, Output>(
    workflow: ChildWorkflow<Input, Output>,
    input: Input,
    options: ChildWorkflowOptions = {},
  ): Promise<Output> {
    return this.#checked(
      () => runWorkflow(this.#s, this.#child(workflow, input, options, "run")),
    );
  }

  startWorkflow<Input>(
    workflow: ChildWorkflow<Input, unknown>,
    input: Input,
    options: ChildWorkflowOptions = {},
  ): Promise<{ workflowRunId: string }> {
    return this.#checked(
      () =>
        startWorkflow(this.#s, this.#child(workflow, input, options, "start")),
    );
  }

  /** Checks a child step's arguments and encodes its input. */
  #child(
    workflow: ChildWorkflow<unknown, unknown>,
    input: unknown,
    options: ChildWorkflowOptions,
    verb: "run" | "start",
  ) {
    if (
      workflow === null || typeof workflow !== "object" ||
      typeof workflow.name !== "string"
    ) {
      throw new TypeError(
        `Cannot ${verb} workflow: 'workflow' must be a workflow definition, received ${
          workflow === null ? "null" : typeof workflow
        }`,
      );
    }
    const what = `${verb} workflow '${workflow.name}'`;
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Cannot ${what}: 'options' must be an object`);
    }
    const name = this.#useName(options.name ?? workflow.name, what);
    const timeoutMs = options.timeout === undefined
      ? undefined
      : parseDuration(options.timeout, `timeout of ${what}`);
    return {
      name,
      workflowName: workflow.name,
      version: workflow.version ?? null,
      input: this.#s.encode(input, `input of workflow '${workflow.name}'`),
      timeoutMs,
      flow: flowParams(workflow.flowControl, input, undefined, what),
    };
  }

  /**
   * Runs a step whose arguments `start` checks (synchronously, writing
   * nothing: a bad argument rejects the step's promise) before it goes.
   */
  #checked<T>(start: () => Promise<StepOutcome>): Promise<T> {
    if (this.#s.suspension !== null) return never();
    try {
      return handled(this.#step<T>(start()));
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }
}

/** A signal step's `signal`: a non-empty string. */
function checkSignalName(
  config: { signal?: unknown } | null | undefined,
  what: string,
): string {
  if (config === null || typeof config !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'config' must be an object with a 'signal', received ${
        config === null ? "null" : typeof config
      }`,
    );
  }
  return checkName(config.signal, what, "signal");
}

/** Whether `attempt` was cut off by a crash or a lost lease. */
function isInterrupted(attempt: StepAttempt): boolean {
  const error = attempt.error;
  return attempt.status === "failed" && error !== null &&
    typeof error === "object" && !Array.isArray(error) &&
    error.name === "StepInterruptedError";
}

const NOOP = () => {};

/** Whether `value` is a promise or another thenable. */
function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}
