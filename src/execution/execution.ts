/**
 * Executes (or resumes) one claimed workflow run: replays the workflow
 * function against the run's step history, runs the steps that have no
 * stored result, and ends by completing, failing or parking the run.
 *
 * How it works. The workflow function is called once per execution and
 * races against `RunState.suspended`: the first of "the function
 * returned", "it threw" and "a suspension" decides the outcome. A
 * suspension comes from a step (`park`: a sleep or a retry not yet due; the
 * step's promise never settles, so the function stops there for good), from
 * the worker (`abort`: a lost lease, a cancel, a failed write) or from the
 * deadline timer. Steps started before the outcome may still be running
 * (branches of a `Promise.all`): `#finish` lets each record its outcome
 * first, unless the run stops meanwhile, so that the next execution finds
 * every result that was computed. Only then does the run's one finishing
 * write go out (succeed, fail, or release until the earliest due time of
 * all parked branches). Whatever happens, the finally block aborts the
 * signals of steps still running and waits for the backend calls already
 * sent, so that no write of this execution lands after it ended.
 *
 * @module
 */

import { clampTime } from "../core/duration.ts";
import { DeadlineExceededError, LeaseLostError } from "../core/errors.ts";
import {
  type JsonValue,
  type SerializedError,
  serializeError,
} from "../core/json.ts";
import { setLongTimeout } from "../core/waits.ts";
import { isNonRetryable, retryDelayMs } from "../core/retry.ts";
import {
  type ExecutionOptions,
  RunState,
  type Suspension,
} from "./run_state.ts";

export type { ExecutionOptions } from "./run_state.ts";
import { Steps } from "./step_runner.ts";
import { callIn, storedTraceFields } from "../telemetry/tracing.ts";

/** How an execution ended. */
export type ExecutionResult =
  | { status: "succeeded"; output: JsonValue }
  | { status: "failed"; error: SerializedError }
  | { status: "canceled"; error: SerializedError }
  | { status: "released"; availableAt: Date }
  | { status: "aborted"; reason: unknown };

type BodyOutcome =
  | { kind: "returned"; value: unknown }
  | { kind: "threw"; error: unknown }
  | Suspension;

/** The abort reason of steps still running when their execution ended. */
const EXECUTION_ENDED = new DOMException(
  "The workflow run's execution ended",
  "AbortError",
);

/**
 * Why a run unwinds, as the backend stored it in `context.unwind` when it
 * handed the run to a worker for its compensations: its deadline passed
 * while no worker held it, or a cancel asked for them.
 */
interface Unwind {
  reason: "deadline" | "cancel";
  /** The error the run ends with (a cancel's). */
  error: SerializedError;
  /** The deadline that passed (epoch ms), or `null`. */
  deadlineAt: number | null;
}

/** The run's unwind request, if its context holds one. */
function unwindOf(context: JsonValue | null): Unwind | null {
  const unwind = context !== null && typeof context === "object" &&
      !Array.isArray(context)
    ? context.unwind
    : undefined;
  if (
    unwind === null || typeof unwind !== "object" || Array.isArray(unwind) ||
    (unwind.reason !== "deadline" && unwind.reason !== "cancel")
  ) return null;
  const error = unwind.error;
  return {
    reason: unwind.reason,
    error: error !== null && typeof error === "object" &&
        !Array.isArray(error) && typeof error.message === "string"
      ? error as unknown as SerializedError
      : { name: "Error", message: "The workflow run was canceled" },
    deadlineAt: typeof unwind.deadlineAt === "number"
      ? unwind.deadlineAt
      : null,
  };
}

/** Executes one claimed run to its next resting point. */
export class Execution {
  readonly #s: RunState;
  readonly #steps: Steps;
  /** Why the run unwinds, when it does. */
  #unwind: Unwind | null;

  constructor(options: ExecutionOptions) {
    this.#s = new RunState(options);
    this.#steps = new Steps(this.#s);
    this.#unwind = unwindOf(options.run.context);
    this.#s.unwinding = this.#unwind !== null;
  }

  /** Runs the workflow function to its next resting point. */
  async execute(): Promise<ExecutionResult> {
    const { signal } = this.#s.options;
    const onAbort = () =>
      this.#s.suspend({ kind: "abort", reason: signal.reason });
    if (signal.aborted) return { status: "aborted", reason: signal.reason };
    signal.addEventListener("abort", onAbort, { once: true });
    let cancelDeadline = () => {};
    try {
      const deadlineAt = this.#s.run.deadlineAt;
      if (deadlineAt !== null) {
        const remainingMs = deadlineAt.getTime() - this.#s.now();
        if (remainingMs <= 0) {
          // Past it already: replay for the compensations, then fail.
          this.#unwind ??= {
            reason: "deadline",
            error: serializeError(
              new DeadlineExceededError(
                this.#s.run.id,
                deadlineAt,
              ),
            ),
            deadlineAt: deadlineAt.getTime(),
          };
          this.#s.unwinding = true;
        } else {
          // A deadline over setTimeout's limit (about 24.8 days) still
          // holds.
          cancelDeadline = setLongTimeout(
            () => this.#s.suspend({ kind: "deadline" }),
            remainingMs,
          );
        }
      }
      // A run claimed for the first time has no history to load, unless
      // it is a fork (with the steps it was forked with) or unwinds.
      if (
        this.#s.run.attempts > 1 ||
        this.#s.run.forkedFromWorkflowRunId != null || this.#s.unwinding
      ) {
        const history = await this.#s.options.backend.listStepAttempts({
          workflowRunId: this.#s.run.id,
        });
        for (const attempt of history) {
          this.#s.noteAttempt(attempt);
          const list = this.#s.history.get(attempt.stepName);
          if (list === undefined) {
            this.#s.history.set(attempt.stepName, [attempt]);
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
      cancelDeadline();
      signal.removeEventListener("abort", onAbort);
      // Steps still running (not awaited by the workflow) are told to stop,
      // and the backend calls already sent for steps are let finish.
      if (this.#s.runningSteps > 0) {
        this.#s.controller.abort(EXECUTION_ENDED);
      }
      // Step results still held back (the execution ended otherwise than
      // by storing them) are stored as they would have been.
      this.#s.flushHeld();
      await Promise.allSettled(this.#s.calls);
      this.#s.endStepSpans();
    }
  }

  #runBody(): Promise<BodyOutcome> {
    const call = () =>
      this.#s.options.fn({
        input: this.#s.run.input,
        step: this.#steps,
        run: {
          id: this.#s.run.id,
          workflowName: this.#s.run.workflowName,
          version: this.#s.run.version,
          attempt: this.#s.run.attempts,
        },
      });
    // The workflow's own spans (if it makes any) are the execution's
    // children.
    const { traceContext } = this.#s;
    const body =
      (async () =>
        await (traceContext === undefined
          ? call()
          : callIn(traceContext, call)))();
    return Promise.race([
      body.then(
        (value) => ({ kind: "returned" as const, value }),
        (error) => ({ kind: "threw" as const, error }),
      ),
      this.#s.suspended,
    ]);
  }

  async #finish(first: BodyOutcome): Promise<ExecutionResult> {
    if (first.kind === "abort") {
      return { status: "aborted", reason: first.reason };
    }
    if (this.#unwind !== null && this.#s.unwinding) {
      return await this.#finishUnwinding(this.#unwind);
    }
    if (first.kind === "deadline" || first.kind === "unwind") {
      return await this.#failDeadline();
    }
    const { backend, workerId } = this.#s.options;
    // A workflow that returned takes the results of its last steps, still
    // held back, along with its completion (one write); otherwise they go
    // out now.
    let output: JsonValue = null;
    let unstorable: unknown;
    if (first.kind === "returned") {
      try {
        output = this.#s.encode(
          first.value,
          `output of workflow '${this.#s.run.workflowName}'`,
        );
      } catch (error) {
        unstorable = error;
      }
    }
    const withSteps = first.kind === "returned" && unstorable === undefined
      ? backend.markWorkflowRunSucceededWithSteps?.bind(backend)
      : undefined;
    // Let started steps record their outcome before the run moves on,
    // unless the run stops meanwhile: results held back go out at once,
    // but for those the run's completion takes along.
    while (true) {
      if (withSteps === undefined) this.#s.flushHeld();
      const waiting = [...this.#s.inFlight].filter((w) => !this.#s.isHeld(w));
      if (waiting.length === 0) break;
      await Promise.race([
        Promise.allSettled(waiting),
        this.#s.stopped,
      ]);
      if (this.#s.suspension?.kind === "abort") {
        return { status: "aborted", reason: this.#s.suspension.reason };
      }
      if (this.#s.suspension?.kind === "deadline") {
        return await this.#failDeadline();
      }
    }
    const workflowRunId = this.#s.run.id;
    if (first.kind === "park") {
      const availableAt = new Date(clampTime(this.#s.parkUntilMs));
      await backend.releaseWorkflowRun({
        workflowRunId,
        workerId,
        status: this.#s.parkStatus,
        availableAt,
      });
      return { status: "released", availableAt };
    }
    if (first.kind === "returned") {
      if (unstorable !== undefined) return await this.#fail(unstorable, false);
      const held = this.#s.takeHeld();
      this.#s.options.onSucceeding?.();
      if (withSteps === undefined || held.length === 0) {
        await backend.markWorkflowRunSucceeded({
          workflowRunId,
          workerId,
          output,
        });
      } else {
        const write = withSteps({
          workflowRunId,
          workerId,
          output,
          stepAttempts: held.map(({ stepAttemptId, output }) => ({
            stepAttemptId,
            output,
          })),
        });
        for (const result of held) result.settle(write);
        await write;
      }
      return { status: "succeeded", output };
    }
    return await this.#fail(first.error);
  }

  async #fail(error: unknown, retryable = true): Promise<ExecutionResult> {
    // Results held back are sent before the run fails or is retried.
    this.#s.flushHeld();
    const serialized = serializeError(error);
    const { retry } = this.#s.options;
    const failures = this.#s.workflowFailures + 1;
    // A step's NonRetryableError that the workflow does not catch reaches
    // here rehydrated (an `Error` marked `nonRetryable`): the same test as
    // for the step's own retries keeps the run from being retried.
    if (retryable && !isNonRetryable(error) && failures < retry.maxAttempts) {
      const availableAt = new Date(clampTime(
        this.#s.now() +
          retryDelayMs(retry, failures, `${this.#s.run.id}:${failures}`),
      ));
      await this.#s.options.backend.releaseWorkflowRun({
        workflowRunId: this.#s.run.id,
        workerId: this.#s.options.workerId,
        status: "pending",
        availableAt,
        context: {
          ...storedTraceFields(this.#s.run.context),
          workflowFailures: failures,
          retryCutoff: new Date(
            Math.max(this.#s.lastAttemptMs, this.#s.retryCutoffMs, 0),
          ).toISOString(),
          lastError: serialized,
        },
      });
      return { status: "released", availableAt };
    }
    return await this.#endCompensated(serialized, "failed");
  }

  /**
   * Runs the run's compensations, if any, and ends it `status` with
   * `error` (holding the compensations that failed for good as its cause).
   */
  async #endCompensated(
    error: SerializedError,
    status: "failed" | "canceled",
  ): Promise<ExecutionResult> {
    let stored = error;
    if (this.#s.compensations.length > 0) {
      const compensated = await this.#compensate();
      if (!Array.isArray(compensated)) return compensated;
      if (compensated.length > 0) {
        stored = withCompensationFailures(error, compensated);
      }
    }
    await this.#s.options.backend.markWorkflowRunFailed({
      workflowRunId: this.#s.run.id,
      workerId: this.#s.options.workerId,
      error: stored,
      ...(status === "canceled" ? { status } : {}),
    });
    return { status, error: stored };
  }

  /**
   * Runs the compensations of the completed steps, latest completed first,
   * each as the durable step `compensate:<name>`: a compensation that
   * succeeded (in this execution or an earlier one) is not run again.
   *
   * @returns The compensations that failed for good, or how the execution
   * ended when it stopped on the way (a compensation's retry not due yet
   * parks the run; a lost lease aborts it).
   */
  async #compensate(): Promise<
    { step: string; error: SerializedError }[] | ExecutionResult
  > {
    // After the failure that got here (a deadline, a sibling's park), the
    // compensations run on a fresh suspension and signal.
    this.#s.rearm();
    const failures: { step: string; error: SerializedError }[] = [];
    // Latest completed first; steps completed within the same millisecond
    // in the reverse of the order they returned in.
    const pending = this.#s.compensations.map((c, order) => ({ ...c, order }))
      .sort((a, b) => b.completedMs - a.completedMs || b.order - a.order);
    for (const compensation of pending) {
      const step = `compensate:${compensation.name}`;
      const done = this.#steps.run(
        { name: step, retry: compensation.retry },
        async (context) => {
          await compensation.compensate(compensation.output as never, context);
          return null;
        },
      ).then(
        () => ({ kind: "compensated" as const }),
        (error: unknown) => ({ kind: "failed" as const, error }),
      );
      let outcome = await Promise.race([done, this.#s.suspended]);
      // A deadline passing meanwhile does not stop the compensations.
      while (outcome.kind === "deadline") {
        this.#s.rearm();
        outcome = await Promise.race([done, this.#s.suspended]);
      }
      if (outcome.kind === "failed") {
        failures.push({ step, error: serializeError(outcome.error) });
      } else if (outcome.kind !== "compensated") {
        return await this.#finish(outcome);
      }
    }
    await this.#s.settleInFlight();
    if (this.#s.suspension?.kind === "abort") {
      return { status: "aborted", reason: this.#s.suspension.reason };
    }
    return failures;
  }

  /**
   * Ends an unwinding run once its replay stopped: its compensations run,
   * then it fails with `DeadlineExceededError` or ends `canceled`.
   */
  async #finishUnwinding(unwind: Unwind): Promise<ExecutionResult> {
    // Steps replayed beside the one that stopped register their
    // compensations first.
    // (No step function runs while a run unwinds: what is in flight is a
    // replay, and settles.)
    await this.#s.settleInFlight();
    if (this.#s.suspension?.kind === "abort") {
      return { status: "aborted", reason: this.#s.suspension.reason };
    }
    this.#s.unwinding = false;
    if (unwind.reason === "deadline") return await this.#failDeadline();
    return await this.#endCompensated(unwind.error, "canceled");
  }

  #failDeadline(): Promise<ExecutionResult> {
    const deadlineAt = this.#unwind?.deadlineAt ?? null;
    const error = new DeadlineExceededError(
      this.#s.run.id,
      this.#s.run.deadlineAt ??
        new Date(deadlineAt ?? this.#s.now()),
    );
    this.#s.controller.abort(error);
    return this.#fail(error, false);
  }
}

/**
 * The run's error with the compensations that failed for good as its
 * `cause` (a `CompensationError` listing them in `errors`, and holding the
 * error's own cause, if any, as its `cause`).
 */
function withCompensationFailures(
  error: SerializedError,
  failures: { step: string; error: SerializedError }[],
): SerializedError {
  const cause: SerializedError = {
    name: "CompensationError",
    message: `${failures.length} compensation${
      failures.length === 1 ? "" : "s"
    } failed: ${
      failures.map((f) => `${f.step}: ${f.error.message}`).join("; ")
    }`,
    errors: failures.map((f) => ({ step: f.step, ...f.error })),
  };
  if (error.cause !== undefined) cause.cause = error.cause;
  return { ...error, cause };
}
