/**
 * Executes (or resumes) one claimed workflow run: replays the workflow
 * function against the run's step history, runs the steps that have no
 * stored result, and ends by completing, failing or parking the run.
 *
 * @module
 */

import type { Backend, StepAttempt, WorkflowRun } from "./backend.ts";
import { parseDuration } from "./duration.ts";
import type { Duration } from "./duration.ts";
import {
  DeadlineExceededError,
  DuplicateStepNameError,
  LeaseLostError,
  NonRetryableError,
  StepTimeoutError,
} from "./errors.ts";
import {
  deserializeError,
  encodeJson,
  type JsonValue,
  type SerializedError,
  serializeError,
} from "./json.ts";
import {
  DEFAULT_STEP_RETRY_POLICY,
  resolveRetryPolicy,
  retryDelayMs,
  type RetryPolicy,
} from "./retry.ts";
import type { StepApi, StepFunction, StepFunctionConfig } from "./step.ts";
import { checkPayloadSize } from "./limits.ts";
import { checkName } from "./validate.ts";
import type { WorkflowFunction } from "./workflow.ts";

/** What an execution needs. */
export interface ExecutionOptions {
  backend: Backend;
  workerId: string;
  /** The run as returned by the claim. */
  run: WorkflowRun;
  fn: WorkflowFunction<unknown, unknown>;
  leaseDurationMs: number;
  /**
   * The database clock minus the local clock, in milliseconds, estimated
   * around the claim.
   */
  clockOffsetMs: number;
  /** Aborted (with the reason) when the run must stop without writing. */
  signal: AbortSignal;
  maxPayloadBytes: number;
  /** The workflow-level retry policy. */
  retry: Required<RetryPolicy>;
  /** Told of every failed step attempt. */
  onStepFailed?: (stepName: string, attempt: number, error: unknown) => void;
}

/** How an execution ended. */
export type ExecutionResult =
  | { status: "succeeded"; output: JsonValue }
  | { status: "failed"; error: SerializedError }
  | { status: "released"; availableAt: Date; runStatus: "pending" | "sleeping" }
  | { status: "aborted"; reason: unknown };

type Suspension =
  | { kind: "park" }
  | { kind: "abort"; reason: unknown }
  | { kind: "deadline" };

type BodyOutcome =
  | { kind: "returned"; value: unknown }
  | { kind: "threw"; error: unknown }
  | Suspension;

type StepOutcome =
  | { kind: "value"; value: JsonValue }
  | { kind: "error"; error: Error }
  | { kind: "suspended" };

const SUSPENDED: StepOutcome = { kind: "suspended" };
/** The abort reason of steps still running when their execution ended. */
const EXECUTION_ENDED = new DOMException(
  "The workflow run's execution ended",
  "AbortError",
);
const NEVER: Promise<never> = new Promise(() => {});

/** Executes one claimed run to its next resting point. */
export class Execution implements StepApi {
  readonly #o: ExecutionOptions;
  readonly #run: WorkflowRun;
  readonly #history = new Map<string, StepAttempt[]>();
  readonly #usedNames = new Set<string>();
  readonly #nameUses = new Map<string, number>();
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Backend calls made for steps and still under way. */
  readonly #calls = new Set<Promise<unknown>>();
  /** Step results being stored; the next step function waits for them. */
  readonly #pendingWrites = new Set<Promise<void>>();
  readonly #controller = new AbortController();
  readonly #offsetMs: number;
  #suspension: Suspension | null = null;
  #wake: (suspension: Suspension) => void = () => {};
  readonly #suspended: Promise<Suspension>;
  #parkUntilMs = Infinity;
  #parkStatus: "pending" | "sleeping" = "pending";
  /** How often the workflow function has failed (workflow-level retries). */
  readonly #workflowFailures: number;
  /** Step attempts created up to this time predate the last workflow retry. */
  readonly #retryCutoffMs: number;
  /** The latest `createdAt` of any step attempt of the run. */
  #lastAttemptMs = -Infinity;

  constructor(options: ExecutionOptions) {
    this.#o = options;
    this.#run = options.run;
    // Every time the execution computes is in the database's terms,
    // whatever the local clock says.
    this.#offsetMs = options.clockOffsetMs;
    this.#suspended = new Promise((resolve) => this.#wake = resolve);
    const context = options.run.context;
    const retryState = context !== null && typeof context === "object" &&
        !Array.isArray(context)
      ? context
      : {};
    this.#workflowFailures = typeof retryState.workflowFailures === "number"
      ? retryState.workflowFailures
      : 0;
    this.#retryCutoffMs = typeof retryState.retryCutoff === "string"
      ? Date.parse(retryState.retryCutoff)
      : -Infinity;
  }

  /** The database clock, estimated. */
  #now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** Runs the workflow function to its next resting point. */
  async execute(): Promise<ExecutionResult> {
    const { signal } = this.#o;
    const onAbort = () =>
      this.#suspend({ kind: "abort", reason: signal.reason });
    if (signal.aborted) return { status: "aborted", reason: signal.reason };
    signal.addEventListener("abort", onAbort, { once: true });
    let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      const deadlineAt = this.#run.deadlineAt;
      if (deadlineAt !== null) {
        const remainingMs = deadlineAt.getTime() - this.#now();
        if (remainingMs <= 0) return await this.#failDeadline();
        deadlineTimer = setTimeout(
          () => this.#suspend({ kind: "deadline" }),
          Math.min(remainingMs, 2 ** 31 - 1),
        );
      }
      // A run claimed for the first time has no history to load.
      if (this.#run.attempts > 1) {
        const history = await this.#o.backend.listStepAttempts({
          workflowRunId: this.#run.id,
        });
        for (const attempt of history) {
          this.#noteAttempt(attempt);
          const list = this.#history.get(attempt.stepName);
          if (list === undefined) {
            this.#history.set(attempt.stepName, [attempt]);
          } else list.push(attempt);
        }
      }
      return await this.#finish(await this.#runBody());
    } catch (error) {
      if (error instanceof LeaseLostError) {
        return { status: "aborted", reason: error };
      }
      throw error;
    } finally {
      clearTimeout(deadlineTimer);
      signal.removeEventListener("abort", onAbort);
      // Steps still running (not awaited by the workflow) are told to stop,
      // and the backend calls already sent for steps are let finish.
      this.#controller.abort(EXECUTION_ENDED);
      await Promise.allSettled(this.#calls);
    }
  }

  #runBody(): Promise<BodyOutcome> {
    const body = (async () =>
      await this.#o.fn({
        input: this.#run.input,
        step: this,
        run: {
          id: this.#run.id,
          workflowName: this.#run.workflowName,
          version: this.#run.version,
          attempt: this.#run.attempts,
        },
      }))();
    return Promise.race([
      body.then(
        (value) => ({ kind: "returned" as const, value }),
        (error) => ({ kind: "threw" as const, error }),
      ),
      this.#suspended,
    ]);
  }

  async #finish(first: BodyOutcome): Promise<ExecutionResult> {
    if (first.kind === "abort") {
      return { status: "aborted", reason: first.reason };
    }
    if (first.kind === "deadline") return await this.#failDeadline();
    // Let started steps record their outcome before the run moves on.
    while (this.#inFlight.size > 0) {
      await Promise.race([Promise.allSettled(this.#inFlight), this.#suspended]);
      if (this.#suspension?.kind === "abort") {
        return { status: "aborted", reason: this.#suspension.reason };
      }
      if (this.#suspension?.kind === "deadline") {
        return await this.#failDeadline();
      }
    }
    const { backend, workerId } = this.#o;
    const workflowRunId = this.#run.id;
    if (first.kind === "park") {
      const availableAt = new Date(this.#parkUntilMs);
      await backend.releaseWorkflowRun({
        workflowRunId,
        workerId,
        status: this.#parkStatus,
        availableAt,
      });
      return { status: "released", availableAt, runStatus: this.#parkStatus };
    }
    if (first.kind === "returned") {
      let output: JsonValue;
      try {
        output = this.#encode(
          first.value,
          `output of workflow '${this.#run.workflowName}'`,
        );
      } catch (error) {
        return await this.#fail(error, false);
      }
      await backend.markWorkflowRunSucceeded({
        workflowRunId,
        workerId,
        output,
      });
      return { status: "succeeded", output };
    }
    return await this.#fail(first.error);
  }

  async #fail(error: unknown, retryable = true): Promise<ExecutionResult> {
    const serialized = serializeError(error);
    const { retry } = this.#o;
    const failures = this.#workflowFailures + 1;
    if (
      retryable && !(error instanceof NonRetryableError) &&
      failures < retry.maxAttempts
    ) {
      const availableAt = new Date(
        this.#now() +
          retryDelayMs(retry, failures, `${this.#run.id}:${failures}`),
      );
      await this.#o.backend.releaseWorkflowRun({
        workflowRunId: this.#run.id,
        workerId: this.#o.workerId,
        status: "pending",
        availableAt,
        context: {
          workflowFailures: failures,
          retryCutoff: new Date(
            Math.max(this.#lastAttemptMs, this.#retryCutoffMs, 0),
          ).toISOString(),
          lastError: serialized,
        },
      });
      return { status: "released", availableAt, runStatus: "pending" };
    }
    await this.#o.backend.markWorkflowRunFailed({
      workflowRunId: this.#run.id,
      workerId: this.#o.workerId,
      error: serialized,
    });
    return { status: "failed", error: serialized };
  }

  #failDeadline(): Promise<ExecutionResult> {
    const error = new DeadlineExceededError(
      this.#run.id,
      this.#run.deadlineAt ?? new Date(this.#now()),
    );
    this.#controller.abort(error);
    return this.#fail(error, false);
  }

  #noteAttempt(attempt: StepAttempt): void {
    this.#lastAttemptMs = Math.max(
      this.#lastAttemptMs,
      attempt.createdAt.getTime(),
    );
  }

  #suspend(suspension: Suspension): void {
    if (suspension.kind === "park" && this.#suspension !== null) return;
    if (
      this.#suspension?.kind === "abort" ||
      (this.#suspension?.kind === "deadline" && suspension.kind !== "abort")
    ) return;
    this.#suspension = suspension;
    if (suspension.kind === "abort") this.#controller.abort(suspension.reason);
    this.#wake(suspension);
  }

  /**
   * Tracks a backend call made for a step, so that the execution does not
   * end while one is still under way.
   */
  #io<T>(call: Promise<T>): Promise<T> {
    const tracked = call.finally(() => this.#calls.delete(tracked));
    this.#calls.add(tracked);
    return tracked;
  }

  /** Stores a step result in the background; a failure stops the run. */
  #storeBehind(write: Promise<void>): void {
    const tracked: Promise<void> = write.then(
      () => {},
      (error) => this.#suspend({ kind: "abort", reason: error }),
    ).finally(() => {
      this.#pendingWrites.delete(tracked);
      this.#inFlight.delete(tracked);
    });
    this.#pendingWrites.add(tracked);
    this.#inFlight.add(tracked);
  }

  /** Whether the run stopped (lost, canceled, past its deadline). */
  #isAborted(): boolean {
    const kind = this.#suspension?.kind;
    return kind === "abort" || kind === "deadline";
  }

  #park(untilMs: number, status: "pending" | "sleeping"): void {
    if (untilMs < this.#parkUntilMs) {
      this.#parkUntilMs = untilMs;
      this.#parkStatus = status;
    }
    this.#suspend({ kind: "park" });
  }

  #encode(value: unknown, subject: string): JsonValue {
    const { text, value: json } = encodeJson(value, subject);
    checkPayloadSize(text, subject, this.#o.maxPayloadBytes);
    return json;
  }

  /**
   * Claims a step name for this execution. The n-th use of a name in one
   * execution (n > 1) is named `${name}:${n - 1}`, in call order, so loops
   * that reuse a name stay deterministic; a generated name that is taken
   * already (the workflow also named a step `fetch:1`) is an error.
   */
  #useName(value: unknown, what: string): string {
    const base = checkName(value, what, "name");
    const uses = this.#nameUses.get(base) ?? 0;
    this.#nameUses.set(base, uses + 1);
    const name = uses === 0 ? base : `${base}:${uses}`;
    if (this.#usedNames.has(name)) {
      throw new DuplicateStepNameError(this.#run.id, name);
    }
    this.#usedNames.add(name);
    return name;
  }

  /** Runs `work` as a tracked step; turns its outcome into the step's promise. */
  async #step<T>(work: Promise<StepOutcome>): Promise<T> {
    this.#inFlight.add(work);
    let outcome: StepOutcome;
    try {
      outcome = await work;
    } catch (error) {
      // Step failures are outcomes; what throws here is the backend (a lost
      // lease, an unreachable database). The execution stops without
      // another write; the run is resumed once its lease expires.
      this.#suspend({ kind: "abort", reason: error });
      return NEVER;
    } finally {
      this.#inFlight.delete(work);
    }
    if (outcome.kind === "suspended" || this.#suspension !== null) return NEVER;
    if (outcome.kind === "error") throw outcome.error;
    return outcome.value as T;
  }

  run<Output>(
    config: StepFunctionConfig,
    fn: StepFunction<Output>,
  ): Promise<Output> {
    if (this.#suspension !== null) return NEVER;
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
          !Number.isFinite(timeoutMs))
      ) {
        throw new RangeError(
          `Cannot run step '${name}': 'timeoutMs' must be a positive finite number, received ${timeoutMs}`,
        );
      }
      const policy = resolveRetryPolicy(
        config.retry,
        DEFAULT_STEP_RETRY_POLICY,
        `step '${name}'`,
      );
      // The results this step may depend on: those of the steps that had
      // returned when it was called (not of siblings running beside it).
      const stored = Promise.all(this.#pendingWrites);
      return this.#step(this.#runStep(name, policy, timeoutMs, fn, stored));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #runStep<Output>(
    name: string,
    policy: ReturnType<typeof resolveRetryPolicy>,
    timeoutMs: number | undefined,
    fn: StepFunction<Output>,
    stored: Promise<unknown>,
  ): Promise<StepOutcome> {
    const all = this.#history.get(name) ?? [];
    const latest = all.at(-1);
    if (latest?.status === "succeeded") {
      return { kind: "value", value: latest.output };
    }
    // Failures before the last workflow-level retry do not count.
    const attempts = all.filter((a) =>
      a.createdAt.getTime() > this.#retryCutoffMs
    );
    const last = attempts.at(-1);
    const failures = attempts.filter((a) => a.status === "failed").length;
    if (last?.status === "failed") {
      if (failures >= policy.maxAttempts || isNonRetryable(last.error)) {
        return { kind: "error", error: deserializeError(last.error) };
      }
      const dueMs = (last.completedAt ?? last.createdAt).getTime() +
        retryDelayMs(policy, failures, last.id);
      if (dueMs > this.#now()) {
        this.#park(dueMs, "pending");
        return SUSPENDED;
      }
    }
    if (this.#suspension !== null) return SUSPENDED;
    const { backend, workerId } = this.#o;
    const workflowRunId = this.#run.id;
    const attempt = await this.#io(backend.createStepAttempt({
      workflowRunId,
      workerId,
      stepName: name,
      kind: "run",
      config: timeoutMs === undefined
        ? { retry: policy }
        : { retry: policy, timeoutMs },
      context: null,
    }));
    this.#noteAttempt(attempt);
    // Earlier steps' results are stored before this step's function runs.
    await stored;
    if (this.#isAborted()) return SUSPENDED;
    let value: JsonValue | undefined;
    let failure: unknown;
    try {
      value = this.#encode(
        await this.#callStep(name, fn, failures + 1, timeoutMs),
        `output of step '${name}'`,
      );
    } catch (error) {
      failure = error;
    }
    if (this.#isAborted()) return SUSPENDED;
    if (value !== undefined) {
      // The result is returned at once and stored meanwhile: a step called
      // after this one returned runs its function only once it is stored,
      // and the run finishes only once every write is done.
      this.#storeBehind(this.#io(backend.markStepAttemptSucceeded({
        workflowRunId,
        stepAttemptId: attempt.id,
        workerId,
        output: value,
      })));
      return { kind: "value", value };
    }
    const error = serializeError(failure);
    const retryable = !(failure instanceof NonRetryableError ||
      (failure instanceof TypeError &&
        failure.message.startsWith("Cannot serialize")));
    if (!retryable) error.nonRetryable = true;
    this.#o.onStepFailed?.(name, failures + 1, failure);
    await this.#io(backend.markStepAttemptFailed({
      workflowRunId,
      stepAttemptId: attempt.id,
      workerId,
      error,
    }));
    if (!retryable || failures + 1 >= policy.maxAttempts) {
      return { kind: "error", error: deserializeError(error) };
    }
    this.#park(
      this.#now() + retryDelayMs(policy, failures + 1, attempt.id),
      "pending",
    );
    return SUSPENDED;
  }

  async #callStep<Output>(
    name: string,
    fn: StepFunction<Output>,
    attempt: number,
    timeoutMs: number | undefined,
  ): Promise<Output | undefined> {
    const runSignal = this.#controller.signal;
    if (timeoutMs === undefined) {
      return await raceAbort(
        Promise.resolve().then(() => fn({ signal: runSignal, attempt })),
        runSignal,
      );
    }
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new StepTimeoutError(name, timeoutMs)),
      timeoutMs,
    );
    const signal = AbortSignal.any([runSignal, timeout.signal]);
    try {
      return await raceAbort(
        Promise.resolve().then(() => fn({ signal, attempt })),
        signal,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  sleep(name: string, duration: Duration): Promise<void> {
    if (this.#suspension !== null) return NEVER;
    try {
      const stepName = this.#useName(name, "sleep");
      const ms = parseDuration(duration, `duration of sleep '${stepName}'`);
      return this.#step(this.#sleepStep(stepName, () => this.#now() + ms));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sleepUntil(name: string, until: Date): Promise<void> {
    if (this.#suspension !== null) return NEVER;
    try {
      const stepName = this.#useName(name, "sleep");
      if (!(until instanceof Date) || Number.isNaN(until.getTime())) {
        throw new TypeError(
          `Cannot sleep '${stepName}': 'until' must be a valid Date, received ${
            until instanceof Date ? "Invalid Date" : typeof until
          }`,
        );
      }
      return this.#step(this.#sleepStep(stepName, () => until.getTime()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #sleepStep(name: string, resumeAt: () => number): Promise<StepOutcome> {
    const last = this.#history.get(name)?.at(-1);
    if (last?.status === "succeeded") return { kind: "value", value: null };
    if (this.#suspension !== null) return SUSPENDED;
    const { backend, workerId } = this.#o;
    const workflowRunId = this.#run.id;
    let attemptId: string;
    let resumeAtMs: number;
    const stored = last?.status === "running" ? resumeAtOf(last) : null;
    if (last !== undefined && stored !== null) {
      attemptId = last.id;
      resumeAtMs = stored;
    } else {
      resumeAtMs = resumeAt();
      const attempt = await this.#io(backend.createStepAttempt({
        workflowRunId,
        workerId,
        stepName: name,
        kind: "sleep",
        config: {},
        context: { resumeAt: new Date(resumeAtMs).toISOString() },
      }));
      this.#noteAttempt(attempt);
      attemptId = attempt.id;
    }
    if (resumeAtMs > this.#now()) {
      this.#park(resumeAtMs, "sleeping");
      return SUSPENDED;
    }
    await this.#io(backend.markStepAttemptSucceeded({
      workflowRunId,
      stepAttemptId: attemptId,
      workerId,
      output: null,
    }));
    return { kind: "value", value: null };
  }
}

function resumeAtOf(attempt: StepAttempt): number | null {
  const context = attempt.context;
  if (
    attempt.kind !== "sleep" || context === null ||
    typeof context !== "object" ||
    Array.isArray(context) || typeof context.resumeAt !== "string"
  ) return null;
  const ms = Date.parse(context.resumeAt);
  return Number.isNaN(ms) ? null : ms;
}

function isNonRetryable(error: JsonValue | null): boolean {
  return error !== null && typeof error === "object" && !Array.isArray(error) &&
    (error.nonRetryable === true || error.name === "NonRetryableError");
}

/** Settles like `promise`, or rejects with `signal.reason` once aborted. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
