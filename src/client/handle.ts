/**
 * `WorkflowRunHandle`: a started run, to wait for, inspect or cancel.
 *
 * @module
 */

import {
  ATTR,
  namespaceAttribute,
  namespaceOf,
  runAttributes,
  SpanKind,
  traced,
} from "../telemetry/tracing.ts";
import {
  type Backend,
  type RunOutcome,
  type StepAttempt,
  TERMINAL_STATUSES,
  type WorkflowRun,
} from "../core/backend.ts";
import {
  DEFAULT_FALLBACK_POLL_INTERVAL_MS,
  DEFAULT_RESULT_POLL_INTERVAL_MS,
  DEFAULT_RESULT_TIMEOUT_MS,
} from "../core/defaults.ts";
import {
  ResultTimeoutError,
  WorkflowCanceledError,
  WorkflowFailedError,
  WorkflowRunNotFoundError,
} from "../core/errors.ts";
import { deserializeError, serializeError } from "../core/json.ts";
import {
  onAbort,
  raceAbort,
  setLongTimeout,
  withTimeout,
} from "../core/waits.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../core/limits.ts";
import type { SendSignalResult } from "../core/step_api.ts";
import { sendSignal } from "./signals.ts";
import { pollStatus, readStatus, type StatusPoll } from "./status_reads.ts";
import {
  checkOptions,
  checkPositiveMs,
  checkSignal,
  received,
} from "../core/validate.ts";
import {
  finishedSince,
  type FinishMark,
  isListening,
  notifyAvailable,
  notifyFinished,
  onFinished,
} from "../core/wakeups.ts";

/**
 * Where the backend's finishes stood when a handle's run was started, for
 * the handles of runs this process started while notifications were live
 * (see `result()`).
 */
const startMarks = new WeakMap<WorkflowRunHandle<unknown>, FinishMark>();

/**
 * Notes that `handle`'s run was started at `mark`: until notifications go
 * down, its finish will be told, and `result()` need not read the run to
 * learn that it has not finished.
 */
export function startedAt(
  handle: WorkflowRunHandle<unknown>,
  mark: FinishMark | null,
): void {
  if (mark !== null) startMarks.set(handle, mark);
}

/** Options of the {@linkcode WorkflowRunHandle} constructor. */
export interface WorkflowRunHandleOptions {
  /**
   * The most bytes of JSON a signal's data may take.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
}

/**
 * Options of {@linkcode WorkflowRunHandle.result}.
 */
export interface ResultOptions {
  /**
   * How long to wait before rejecting with `ResultTimeoutError`.
   * @default {DEFAULT_RESULT_TIMEOUT_MS}
   */
  timeoutMs?: number;
  /**
   * Stops waiting; `result()` then rejects with `signal.reason`.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How often to read the run when no notification arrives sooner.
   * @default {DEFAULT_RESULT_POLL_INTERVAL_MS}
   */
  pollIntervalMs?: number;
  /**
   * How often to read the run while the backend's notifications are live.
   * @default {DEFAULT_FALLBACK_POLL_INTERVAL_MS}
   */
  fallbackPollIntervalMs?: number;
}

/**
 * A started workflow run. Returned by `WorkflowDefinition.run()` and
 * `OpenWorkflow.getRun()`.
 *
 * @example
 * ```ts ignore
 * const handle = await greet.run({ name: "Alice" });
 * console.log(handle.workflowRun.id, handle.workflowRun.status); // "…", "pending"
 * console.log(await handle.result()); // { greeting: "Hello, Alice!" }
 * ```
 */
export class WorkflowRunHandle<Output = unknown> {
  /** The workflow run record, as read when the handle was made. */
  readonly workflowRun: WorkflowRun;
  readonly #backend: Backend;
  readonly #maxPayloadBytes: number;

  /**
   * Handles are made by `WorkflowDefinition.run()` and
   * `OpenWorkflow.getRun()`; there is no need to construct one.
   *
   * @param backend The backend the run lives in.
   * @param workflowRun The run's record.
   * @param options The payload limit of `sendSignal()`: the client's.
   */
  constructor(
    backend: Backend,
    workflowRun: WorkflowRun,
    options: WorkflowRunHandleOptions = {},
  ) {
    this.#backend = backend;
    this.workflowRun = workflowRun;
    this.#maxPayloadBytes = options.maxPayloadBytes ??
      DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /**
   * The run's id: the same as `workflowRun.id`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const noop = ow.defineWorkflow({ name: "noop" }, () => null);
   * const handle = await noop.run();
   * assert.equal(handle.id, handle.workflowRun.id);
   * ```
   */
  get id(): string {
    return this.workflowRun.id;
  }

  /**
   * Waits for the run to reach a terminal status and returns its output.
   *
   * A worker in this process wakes the wait as soon as the run finishes;
   * otherwise the run is read every `pollIntervalMs` (backends with
   * notifications wake it sooner).
   *
   * @param options Timeout, abort signal and poll interval.
   * @returns The workflow's output.
   * @throws {WorkflowFailedError} when the run failed; `cause` is its error.
   * @throws {WorkflowCanceledError} when the run was canceled.
   * @throws {ResultTimeoutError} when the run is not done within `timeoutMs`
   * (errors reading the run meanwhile are retried; the last one is the
   * timeout's `cause`).
   * @throws {WorkflowRunNotFoundError} when the run no longer exists.
   *
   * @example
   * ```ts ignore
   * const handle = await greet.run({ name: "Alice" });
   * const output = await handle.result({ timeoutMs: 30_000 });
   * ```
   */
  async result(options?: ResultOptions): Promise<Output> {
    options = checkOptions(options, "wait for result");
    const timeoutMs = options.timeoutMs === undefined
      ? DEFAULT_RESULT_TIMEOUT_MS
      : checkPositiveMs(options.timeoutMs, "wait for result", "timeoutMs");
    const pollMs = options.pollIntervalMs === undefined
      ? DEFAULT_RESULT_POLL_INTERVAL_MS
      : checkPositiveMs(
        options.pollIntervalMs,
        "wait for result",
        "pollIntervalMs",
      );
    const fallbackMs = options.fallbackPollIntervalMs === undefined
      ? DEFAULT_FALLBACK_POLL_INTERVAL_MS
      : checkPositiveMs(
        options.fallbackPollIntervalMs,
        "wait for result",
        "fallbackPollIntervalMs",
      );
    const signal = checkSignal(options.signal, "wait for result");
    signal?.throwIfAborted();
    const backend = this.#backend;
    const id = this.workflowRun.id;
    const endAt = performance.now() + timeoutMs;
    // Listen before the first read, so that a run finishing while it is
    // read is not missed.
    const waiting = new Waiting(backend, id, endAt, signal);
    try {
      let lastError: unknown;
      const pollsStatus = backend.getWorkflowRunStatuses !== undefined;
      // What to read next: its status first (at first, where the backend
      // reads statuses: a run still going is the common case, and its
      // whole record would be fetched and parsed for nothing; or a
      // notification that did not say how it ended), the whole run (once a
      // poll found it finished or gone), or nothing (a poll found it still
      // going).
      let read: "whole" | "status" | null = pollsStatus ? "status" : "whole";
      // A run this process started while notifications were live, and
      // that finished neither when it was started nor since, as far as
      // the notifications told (listened to above): its finish will be
      // told too, so it is not read until the first poll.
      const mark = startMarks.get(this);
      if (mark !== undefined && !isTerminal(this.workflowRun.status)) {
        const finished = finishedSince(backend, mark, id);
        if (finished === false) read = null;
        else if (finished === true) read = "whole";
      }
      // How long until the run is polled again, its status read with the
      // other waiting handles' (see `status_reads.ts`), or ended.
      const intervalMs = () =>
        isListening(backend) && lastError === undefined
          ? Math.max(pollMs, fallbackMs)
          : pollMs;
      while (true) {
        const heard = waiting.take();
        let outcome = heard === "finished" ? null : heard;
        if (heard === "finished" && read === null) read = "status";
        if (outcome === null && read !== null) {
          let run: WorkflowRun | null | undefined;
          try {
            // A read that hangs (a database gone silent) must not hold the
            // wait past its timeout or its signal.
            run = await within(this.#read(id, read), endAt, signal);
            read = null;
            lastError = undefined;
          } catch (error) {
            if (error === READ_TIMED_OUT) {
              throw new ResultTimeoutError(id, timeoutMs, { cause: lastError });
            }
            if (signal?.aborted && error === signal.reason) throw error;
            // Reading is always safe to repeat: a database that is briefly
            // unreachable only delays the result.
            lastError = error;
          }
          if (run === null) throw new WorkflowRunNotFoundError(id);
          if (run !== undefined && isTerminal(run.status)) {
            outcome = run as RunOutcome;
          }
        }
        if (outcome !== null) return settle<Output>(id, outcome);
        if (performance.now() >= endAt) {
          throw new ResultTimeoutError(id, timeoutMs, { cause: lastError });
        }
        if (read !== null || !pollsStatus) {
          // A read to try again, or a backend without status reads: the
          // next read is this handle's own.
          read ??= "whole";
          await waiting.sleep(intervalMs());
        } else {
          await waiting.poll(intervalMs(), (found) => {
            if ("error" in found) {
              lastError = found.error;
              return pollMs;
            }
            lastError = undefined;
            if (found.status !== null && !isTerminal(found.status)) {
              return intervalMs();
            }
            read = "whole";
            return null;
          });
        }
        if (waiting.aborted) throw signal!.reason;
        if (waiting.timedOut && waiting.peek() === null) {
          throw new ResultTimeoutError(id, timeoutMs, { cause: lastError });
        }
      }
    } finally {
      waiting.stop();
    }
  }

  /**
   * The run, or `undefined` when it has not finished: the whole run, or
   * (`"status"`) its status first, read with the other waiting handles'
   * (see `status_reads.ts`), and the whole run only once it has finished
   * or is gone: a notification without an outcome says only that it may
   * have finished (SQLite's say that another process committed).
   */
  async #read(
    id: string,
    what: "whole" | "status",
  ): Promise<WorkflowRun | null | undefined> {
    if (
      what === "status" && this.#backend.getWorkflowRunStatuses !== undefined
    ) {
      const status = await readStatus(this.#backend, id);
      if (status !== null && !isTerminal(status)) return undefined;
    }
    return await this.#backend.getWorkflowRun({ workflowRunId: id });
  }

  /**
   * Reads the run's current record.
   *
   * @returns The record, freshly read.
   * @throws {WorkflowRunNotFoundError} when the run no longer exists.
   *
   * @example
   * ```ts ignore
   * const { status } = await handle.refresh();
   * ```
   */
  async refresh(): Promise<WorkflowRun> {
    const run = await this.#backend.getWorkflowRun({
      workflowRunId: this.workflowRun.id,
    });
    if (run === null) throw new WorkflowRunNotFoundError(this.workflowRun.id);
    return run;
  }

  /**
   * Lists the run's step attempts, oldest first.
   *
   * @returns Every attempt of every step of the run.
   *
   * @example
   * ```ts ignore
   * for (const a of await handle.listStepAttempts()) console.log(a.stepName, a.status);
   * ```
   */
  listStepAttempts(): Promise<StepAttempt[]> {
    return this.#backend.listStepAttempts({
      workflowRunId: this.workflowRun.id,
    });
  }

  /**
   * Cancels the run. A pending or sleeping run never starts again; a running
   * run stops at its next step boundary, and its steps' `signal` is aborted
   * with `WorkflowCanceledError`: at once in this process and, through
   * Postgres notifications, in others; within about a second where there
   * are none (SQLite, `listen: false`). Canceling a finished run changes
   * nothing. With `{ compensate: true }`, the compensations of its
   * completed steps run first (see {@linkcode CancelRunOptions}).
   *
   * @param options Whether the run's compensations run first.
   * @returns The run's record after the cancellation (still unfinished
   * while its compensations are to run).
   * @throws {WorkflowRunNotFoundError} when the run does not exist.
   * @throws {TypeError} for options that are not an object, or a
   * `compensate` that is not a boolean; nothing is changed.
   *
   * @example
   * ```ts ignore
   * const handle = await report.run({ month: "2026-10" });
   * await handle.cancel();
   * ```
   *
   * @example Undo what a booking reserved
   * ```ts ignore
   * await booking.cancel({ compensate: true });
   * ```
   */
  cancel(options?: CancelRunOptions): Promise<WorkflowRun> {
    return cancelWorkflowRun(this.#backend, this.workflowRun.id, options);
  }

  /**
   * Sends a signal to this run; see {@linkcode OpenWorkflow.sendSignal}.
   * The data is limited to the client's `maxPayloadBytes`.
   *
   * @param signal The signal's name.
   * @param data The signal's data: a JSON value.
   * @returns The runs that received it at once: this one, if it was
   * waiting for it.
   * @throws {WorkflowRunFinishedError} when the run has finished.
   * @throws {NotJsonError|PayloadTooLargeError} for data that cannot be
   * stored.
   *
   * @example
   * ```ts ignore
   * const handle = await expense.run({ amount: 120 });
   * await handle.sendSignal("approval", { approved: true });
   * ```
   */
  sendSignal(signal: string, data?: unknown): Promise<SendSignalResult> {
    return sendSignal(
      this.#backend,
      { signal, data, workflowRunId: this.workflowRun.id },
      this.#maxPayloadBytes,
    );
  }
}

/**
 * What a `result()` call waits on between its reads: a notification that
 * the run finished (kept, with its outcome when the notification carried
 * it, from the moment this is made), the next poll, the call's timeout and
 * its signal. It keeps one timer and one abort callback for the whole
 * call; its polls are shared with the other waiting handles.
 */
class Waiting {
  #seen: RunOutcome | "finished" | null = null;
  #timedOut = false;
  #aborted = false;
  #wake: (() => void) | null = null;
  readonly #backend: Backend;
  readonly #id: string;
  readonly #stops: (() => void)[];

  constructor(
    backend: Backend,
    workflowRunId: string,
    endAt: number,
    signal: AbortSignal | undefined,
  ) {
    this.#backend = backend;
    this.#id = workflowRunId;
    this.#stops = [
      onFinished(backend, workflowRunId, (outcome) => {
        this.#seen = outcome ?? "finished";
        this.#wake?.();
      }),
      setLongTimeout(() => {
        this.#timedOut = true;
        this.#wake?.();
      }, endAt - performance.now()),
    ];
    if (signal !== undefined) {
      this.#stops.push(onAbort(signal, () => {
        this.#aborted = true;
        this.#wake?.();
      }));
    }
  }

  /** Whether the call's time is up. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** Whether the call's signal aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** What a notification said since the last `take()`, kept. */
  peek(): RunOutcome | "finished" | null {
    return this.#seen;
  }

  /**
   * What a notification said since the last call: the outcome it carried,
   * `"finished"` when it carried none (read the run), `null` when none
   * came.
   */
  take(): RunOutcome | "finished" | null {
    const seen = this.#seen;
    this.#seen = null;
    return seen;
  }

  /** Resolves after `ms`, or sooner on a notification, timeout or abort. */
  sleep(ms: number): Promise<void> {
    return this.#until((done) => setLongTimeout(done, ms));
  }

  /**
   * Polls the run's status (see `pollStatus`) until `check` returns
   * `null`; resolves then, or sooner on a notification, timeout or abort.
   */
  poll(
    firstMs: number,
    check: (found: StatusPoll) => number | null,
  ): Promise<void> {
    return this.#until((done) =>
      pollStatus(this.#backend, this.#id, firstMs, (found) => {
        const nextMs = check(found);
        if (nextMs === null) done();
        return nextMs;
      })
    );
  }

  /** Waits until `start`'s callback is called, or something above happens. */
  #until(start: (done: () => void) => () => void): Promise<void> {
    if (this.#seen !== null || this.#timedOut || this.#aborted) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = null;
        cancel();
        resolve();
      };
      const cancel = start(done);
      this.#wake = done;
    });
  }

  stop(): void {
    for (const stop of this.#stops) stop();
    this.#wake = null;
  }
}

function isTerminal(status: WorkflowRun["status"]): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Returns the output of a finished run, or throws its error. */
function settle<Output>(id: string, outcome: RunOutcome): Output {
  switch (outcome.status) {
    case "succeeded":
      return outcome.output as Output;
    case "failed":
      throw new WorkflowFailedError(id, deserializeError(outcome.error));
    case "canceled":
      throw new WorkflowCanceledError(id);
  }
}

/**
 * Options of `cancelRun()` and `handle.cancel()`.
 *
 * @example
 * ```ts
 * import type { CancelRunOptions } from "@openworkflow/core";
 *
 * const options: CancelRunOptions = { compensate: true };
 * console.log(options.compensate); // true
 * ```
 */
export interface CancelRunOptions {
  /**
   * Run the compensations of the run's completed steps first, latest
   * completed first, as a run that fails for good does; the run is
   * `canceled` once they have run (one that fails for good is reported in
   * the run's error, as its `cause`). A run with no completed step that has
   * a compensation is canceled at once. The run stops where it is (a step
   * running then is not compensated unless its result was stored) and its
   * attached children are canceled at once.
   * @default {false}
   */
  compensate?: boolean;
}

/** Cancels a run through `backend` and wakes this process's waiters. */
export async function cancelWorkflowRun(
  backend: Backend,
  workflowRunId: string,
  options: CancelRunOptions = {},
): Promise<WorkflowRun> {
  const what = "cancel run";
  options = checkOptions(options, what);
  if (
    options.compensate !== undefined && typeof options.compensate !== "boolean"
  ) {
    throw new TypeError(
      `Cannot ${what}: 'compensate' must be a boolean, received ${
        received(options.compensate)
      }`,
    );
  }
  const compensate = options.compensate === true;
  const run = await traced("workflow_run.cancel", SpanKind.CLIENT, () => ({
    [ATTR.runId]: workflowRunId,
    ...namespaceAttribute(backend),
  }), async (span) => {
    const run = await backend.cancelWorkflowRun({
      workflowRunId,
      error: serializeError(new WorkflowCanceledError(workflowRunId)),
      ...(compensate ? { compensate: true } : {}),
    });
    if (run === null) throw new WorkflowRunNotFoundError(workflowRunId);
    span?.setAttributes(runAttributes(run, namespaceOf(backend)));
    return run;
  });
  // A child's parent, and the children canceled with it, are due now.
  notifyAvailable(backend);
  notifyFinished(
    backend,
    workflowRunId,
    run.status === "canceled" ? run as RunOutcome : null,
  );
  return run;
}

/** What `within()` rejects with when the time is up. */
const READ_TIMED_OUT = Symbol("read timed out");

/**
 * Settles as `promise` does, unless `endAt` (a `performance.now()` time)
 * comes first (rejects with `READ_TIMED_OUT`) or `signal` aborts (rejects
 * with its reason).
 */
function within<T>(
  promise: Promise<T>,
  endAt: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  return withTimeout(
    signal === undefined ? promise : raceAbort(promise, signal),
    endAt - performance.now(),
    () => READ_TIMED_OUT,
  );
}
