/**
 * The state of one execution of a run, shared by the run-level logic
 * (`Execution`) and the step API (`Steps`): the step history, the estimated
 * database clock, the suspension (park, abort, deadline), and the tracking
 * of in-flight steps and backend calls.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { StepAttempt, WorkflowRun } from "../core/backend.ts";
import { clampTime } from "../core/duration.ts";
import type { RetryPolicy } from "../core/retry.ts";
import type { WorkflowFunction } from "../core/workflow.ts";
import type { StepFunctionContext } from "../core/step_api.ts";
import type { Backend } from "../core/backend.ts";
import { encodeJson, type JsonValue } from "../core/json.ts";
import { checkPayloadSize } from "../core/limits.ts";
import {
  type HistogramSeries,
  stepAttemptDuration,
} from "../telemetry/metrics.ts";
import {
  ATTR,
  type Context,
  endFailed,
  namespaceOf,
  runAttributes,
  type Span,
  SpanKind,
  startSpan,
  withSpan,
} from "../telemetry/tracing.ts";

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
  /** How far `clockOffsetMs` may be off (half the claim's round trip). */
  clockUncertaintyMs?: number;
  /** Aborted (with the reason) when the run must stop without writing. */
  signal: AbortSignal;
  maxPayloadBytes: number;
  /** The workflow-level retry policy. */
  retry: Required<RetryPolicy>;
  /** Told of every failed step attempt. */
  onStepFailed?: (stepName: string, attempt: number, error: unknown) => void;
  /** Told as the run's success is written (its news is then no surprise). */
  onSucceeding?: () => void;
  /**
   * The span of this execution (`workflow_run.execute`): its step
   * attempts' spans are its children. None: the steps make no spans.
   */
  span?: Span;
}

/**
 * A step attempt open in this execution: when it began, and its span (with
 * an SDK registered).
 */
interface OpenStep {
  span: Span | undefined;
  kind: string;
  startedMs: number;
}

/** A completed step's compensation, to run if the run fails for good. */
export interface Compensation {
  /** The step's name. */
  name: string;
  /** Its `compensate` function. */
  compensate: (output: never, context: StepFunctionContext) => unknown;
  /** Its stored output. */
  output: JsonValue;
  /** Its retry policy. */
  retry: RetryPolicy;
  /** When it completed (database time, ms). */
  completedMs: number;
}

/** Why an execution stops before the workflow function returns. */
export type Suspension =
  | { kind: "park" }
  | { kind: "abort"; reason: unknown }
  | { kind: "deadline" }
  | { kind: "unwind" };

/** A step result held back, to be stored with what the execution does next. */
export interface HeldResult {
  stepAttemptId: string;
  output: JsonValue;
  /** Its store, as tracked in `pendingWrites` and `inFlight`. */
  tracked: Promise<void>;
  /** Settles the store with the write that stored it. */
  settle: (write: Promise<void>) => void;
}

/**
 * The executions holding step results back in this turn of the event loop,
 * sent together at its end: one `setImmediate` a turn for all of them, not
 * one per step (each execution takes its own out as it writes meanwhile).
 */
const heldThisTurn = new Set<RunState>();
let turnEnd: ReturnType<typeof setImmediate> | null = null;

function flushAtTurnEnd(state: RunState): void {
  heldThisTurn.add(state);
  turnEnd ??= setImmediate(() => {
    turnEnd = null;
    for (const held of heldThisTurn) held.flushHeld();
  });
}

/** The shared state of one execution. */
export class RunState {
  readonly options: ExecutionOptions;
  readonly run: WorkflowRun;
  /** The run's step attempts by step name, oldest first. */
  readonly history: Map<string, StepAttempt[]> = new Map();
  /** Steps (and step writes) under way. */
  readonly inFlight: Set<Promise<unknown>> = new Set();
  /** Backend calls made for steps and still under way. */
  readonly calls: Set<Promise<unknown>> = new Set();
  /** Step results being stored; later steps wait for them. */
  readonly pendingWrites: Set<Promise<void>> = new Set();
  /** Step results held back (see `storeResult`). */
  #held: HeldResult[] = [];
  /**
   * The completed steps that have a `compensate` function, with their
   * output and when they completed (database time).
   */
  readonly compensations: Compensation[] = [];
  /** How many step functions are running (settled or not awaited). */
  runningSteps = 0;
  /** Aborts the steps' signals. */
  controller: AbortController = new AbortController();
  readonly offsetMs: number;
  /** How far the estimate of the database clock may be off, in ms. */
  readonly uncertaintyMs: number;
  suspension: Suspension | null = null;
  wake: (suspension: Suspension) => void = () => {};
  /** Resolves with the first suspension. */
  suspended: Promise<Suspension>;
  #stop: () => void = () => {};
  /** Resolves once the run is aborted or past its deadline. */
  stopped: Promise<void>;
  /**
   * Whether the run unwinds (its deadline passed, or a cancel asked for
   * its compensations): its completed steps replay, and where the workflow
   * would begin anything new (a step, a sleep, a wait) it stops instead,
   * for its compensations to run.
   */
  unwinding = false;
  parkUntilMs = Infinity;
  parkStatus: "pending" | "sleeping" = "pending";
  /** How often the workflow function has failed (workflow-level retries). */
  readonly workflowFailures: number;
  /** Step attempts created up to this time predate the last workflow retry. */
  readonly retryCutoffMs: number;
  /** The latest `createdAt` of any step attempt of the run. */
  lastAttemptMs = -Infinity;
  /** The execution's trace context: its span, current. */
  readonly traceContext: Context | undefined;
  /** The step attempts open in this execution, by attempt id. */
  readonly #openSteps = new Map<string, OpenStep>();
  /** The series of the step durations, by kind and outcome. */
  readonly #durations = new Map<string, HistogramSeries>();

  constructor(options: ExecutionOptions) {
    this.options = options;
    this.run = options.run;
    // Every time the execution computes is in the database's terms,
    // whatever the local clock says.
    this.offsetMs = options.clockOffsetMs;
    this.uncertaintyMs = options.clockUncertaintyMs ?? 0;
    this.traceContext = options.span === undefined
      ? undefined
      : withSpan(options.span);
    this.suspended = new Promise((resolve) => this.wake = resolve);
    this.stopped = new Promise((resolve) => this.#stop = resolve);
    const context = options.run.context;
    const retryState = context !== null && typeof context === "object" &&
        !Array.isArray(context)
      ? context
      : {};
    this.workflowFailures = typeof retryState.workflowFailures === "number"
      ? retryState.workflowFailures
      : 0;
    this.retryCutoffMs = typeof retryState.retryCutoff === "string"
      ? Date.parse(retryState.retryCutoff)
      : -Infinity;
  }

  /** The database clock, estimated. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /**
   * The latest the database clock may read now: the estimate plus its
   * uncertainty. A time the engine itself set for the run to become due
   * (a retry, the end of a sleep) has passed by this reckoning once the
   * database made the run claimable for it, so a run woken for it is never
   * put back to sleep for want of a few milliseconds of clock estimate.
   */
  latest(): number {
    return this.now() + this.uncertaintyMs;
  }

  /**
   * The earliest the database clock may read now: the estimate less its
   * uncertainty. A time at or before it has passed in the database.
   */
  earliest(): number {
    return this.now() - this.uncertaintyMs;
  }

  /**
   * Notes a step attempt this execution begins, with its span
   * (`step_attempt.execute`, a child of the execution's span) when the
   * execution has one; returns the context to run the step's function in.
   */
  startStepSpan(attempt: StepAttempt, number: number): Context | undefined {
    const parent = this.traceContext;
    const span = parent === undefined
      ? undefined
      : startSpan("step_attempt.execute", SpanKind.INTERNAL, {
        ...runAttributes(this.run, namespaceOf(this.options.backend)),
        [ATTR.stepName]: attempt.stepName,
        [ATTR.stepKind]: attempt.kind,
        [ATTR.attempt]: number,
      }, parent);
    this.#openSteps.set(attempt.id, {
      span,
      kind: attempt.kind,
      startedMs: performance.now(),
    });
    return span === undefined ? undefined : withSpan(span, parent);
  }

  /**
   * Ends a step attempt's span with its outcome (`succeeded`, `failed`
   * with `error`, or `suspended`: still open when the execution ended),
   * and records its duration.
   */
  endStepSpan(
    attemptId: string,
    outcome: "succeeded" | "failed" | "suspended",
    error?: unknown,
  ): void {
    const open = this.#openSteps.get(attemptId);
    if (open === undefined) return;
    this.#openSteps.delete(attemptId);
    const { span, kind, startedMs } = open;
    if (span !== undefined) {
      span.setAttribute(ATTR.outcome, outcome);
      if (outcome === "failed") endFailed(span, error);
      else span.end();
    }
    const key = `${kind}\u0000${outcome}`;
    let series = this.#durations.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      const ns = namespaceOf(this.options.backend);
      if (ns !== undefined) labels.namespace = ns;
      labels.workflow = this.run.workflowName;
      labels.kind = kind;
      labels.outcome = outcome;
      series = stepAttemptDuration.series(labels);
      this.#durations.set(key, series);
    }
    series.record((performance.now() - startedMs) / 1000);
  }

  /** Ends the step attempts still open: the execution ended. */
  endStepSpans(): void {
    for (const id of [...this.#openSteps.keys()]) {
      this.endStepSpan(id, "suspended");
    }
  }

  noteAttempt(attempt: StepAttempt): void {
    this.lastAttemptMs = Math.max(
      this.lastAttemptMs,
      attempt.createdAt.getTime(),
    );
  }

  /**
   * Starts afresh after a park or a deadline, for the compensations of a
   * run that failed for good: no suspension, a new controller for the
   * steps' signals. Not after an abort (the run is no longer this
   * worker's).
   */
  rearm(): void {
    if (this.suspension?.kind === "abort") return;
    this.suspension = null;
    this.suspended = new Promise((resolve) => this.wake = resolve);
    this.stopped = new Promise((resolve) => this.#stop = resolve);
    this.controller = new AbortController();
  }

  suspend(suspension: Suspension): void {
    if (suspension.kind === "park" && this.suspension !== null) return;
    if (
      this.suspension?.kind === "abort" ||
      (this.suspension?.kind === "deadline" && suspension.kind !== "abort")
    ) return;
    this.suspension = suspension;
    if (suspension.kind === "abort") this.controller.abort(suspension.reason);
    if (suspension.kind !== "park") this.#stop();
    this.wake(suspension);
  }

  /**
   * Tracks a backend call made for a step, so that the execution does not
   * end while one is still under way. Step results held back (see
   * `storeResult`) go out with it.
   */
  io<T>(call: Promise<T>): Promise<T> {
    if (this.#held.length > 0) this.flushHeld();
    return this.#track(call);
  }

  #track<T>(call: Promise<T>): Promise<T> {
    const tracked = call.finally(() => this.calls.delete(tracked));
    this.calls.add(tracked);
    return tracked;
  }

  /**
   * Stores a step result in the background; a failure stops the run.
   *
   * With a backend that marks a run succeeded together with its last
   * steps (`markWorkflowRunSucceededWithSteps`), the write is held back
   * until the end of the current turn of the event loop: a workflow that
   * returns meanwhile takes it along (`takeHeld`), so that its last step
   * and its completion are one write. Any other backend call of the
   * execution (the next step's attempt, a sleep, ...) sends it at once,
   * with itself: one round trip for both.
   */
  storeResult(stepAttemptId: string, output: JsonValue): void {
    // (Not Promise.withResolvers(): Node 20 has none.)
    let settle!: (write: Promise<void>) => void;
    const tracked = this.#storeBehind(
      new Promise<void>((resolve) => settle = resolve),
    );
    this.#held.push({ stepAttemptId, output, tracked, settle });
    // Without the backend's method, nothing would take it along: at once.
    if (this.options.backend.markWorkflowRunSucceededWithSteps === undefined) {
      this.flushHeld();
    } else flushAtTurnEnd(this);
  }

  /** Sends the step results held back, each on its own. */
  flushHeld(): void {
    const { backend, workerId } = this.options;
    for (const held of this.takeHeld()) {
      held.settle(this.#track(backend.markStepAttemptSucceeded({
        workflowRunId: this.run.id,
        stepAttemptId: held.stepAttemptId,
        workerId,
        output: held.output,
      })));
    }
  }

  /**
   * Takes the step results held back, for the caller to store (with the
   * run's completion) and settle.
   */
  takeHeld(): HeldResult[] {
    heldThisTurn.delete(this);
    const held = this.#held;
    this.#held = [];
    return held;
  }

  /** Waits for everything in flight, sending step results held back. */
  async settleInFlight(): Promise<void> {
    while (this.inFlight.size > 0) {
      this.flushHeld();
      await Promise.allSettled(this.inFlight);
    }
  }

  /** Whether `write` is the store of a step result still held back. */
  isHeld(write: Promise<unknown>): boolean {
    return this.#held.some((held) => held.tracked === write);
  }

  /**
   * Stores a step result in the background; a failure stops the run.
   * Returns the write as tracked in `pendingWrites` and `inFlight`.
   */
  #storeBehind(write: Promise<void>): Promise<void> {
    const tracked: Promise<void> = write.then(
      () => this.#stored(tracked),
      (error) => {
        this.#stored(tracked);
        this.suspend({ kind: "abort", reason: error });
      },
    );
    this.pendingWrites.add(tracked);
    this.inFlight.add(tracked);
    return tracked;
  }

  /**
   * The step results being stored now, as one promise (`undefined` when
   * none is): what a step called now waits for before its function runs.
   */
  pendingStores(): Promise<unknown> | undefined {
    const pending = this.pendingWrites;
    if (pending.size === 0) return undefined;
    if (pending.size === 1) return pending.values().next().value;
    return Promise.all(pending);
  }

  #stored(write: Promise<void>): void {
    this.pendingWrites.delete(write);
    this.inFlight.delete(write);
  }

  /** Whether the run stopped (lost, canceled, past its deadline). */
  isAborted(): boolean {
    const kind = this.suspension?.kind;
    return kind === "abort" || kind === "deadline";
  }

  /**
   * Parks the run until `untilMs` (the earliest of the times asked for
   * wins), brought within the times a backend stores: a retry or a sleep
   * computed past year 9999 waits until then rather than failing to store.
   */
  park(untilMs: number, status: "pending" | "sleeping"): void {
    if (this.unwinding) return this.unwind();
    untilMs = clampTime(untilMs);
    if (untilMs < this.parkUntilMs) {
      this.parkUntilMs = untilMs;
      this.parkStatus = status;
    }
    this.suspend({ kind: "park" });
  }

  /** Stops an unwinding run where it would begin new work. */
  unwind(): void {
    this.suspend({ kind: "unwind" });
  }

  encode(value: unknown, subject: string): JsonValue {
    const { text, value: json } = encodeJson(value, subject);
    checkPayloadSize(text, subject, this.options.maxPayloadBytes);
    return json;
  }
}
