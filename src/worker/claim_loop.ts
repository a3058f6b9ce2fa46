/**
 * A worker's claim loop: it claims runs for the free slots, executes each
 * with its lease kept alive, sweeps expired deadlines, and waits while
 * there is nothing to do.
 *
 * One loop per worker. Each round claims at most the free slots in one
 * call, and starts an execution per run without awaiting it; a full batch
 * means more may be waiting, so the loop claims again at once. Otherwise it
 * sleeps until the earliest of: a wake-up (a run created or released in
 * this process, a notification from the database, a slot freed), the next
 * due time it knows of, the poll interval (longer while notifications are
 * live), or a growing backoff after errors. A run claimed again while its
 * previous execution winds down waits for that one to end, so that two
 * executions of one run never overlap in one worker. `stop()` aborts the
 * loop's signal, wakes the sleep and awaits every execution in flight.
 *
 * @module
 */

import { backoffMs } from "../core/backoff.ts";
import { delay, nextTurn } from "../core/waits.ts";
import type { WorkflowRun } from "../core/backend.ts";
import {
  BackendError,
  LeaseLostError,
  WorkflowCanceledError,
} from "../core/errors.ts";
import type { WorkerEventInit, WorkerEventType } from "./events.ts";
import { Execution, type ExecutionResult } from "../execution/execution.ts";
import { startHeartbeat } from "./heartbeats.ts";
import { HeldRuns, STATUS_CHECK_INTERVAL_MS } from "./held_runs.ts";
import { IdleWait } from "./idle_wait.ts";
import { Scheduler } from "./scheduler.ts";
import {
  isListening,
  notifyAvailable,
  notifyFinished,
  onAvailable,
  onChanged,
  onClockMoved,
  onListening,
} from "../core/wakeups.ts";
import { type WorkerConfig, workflowKey } from "./worker_options.ts";
import type { WorkflowFunction } from "../core/workflow.ts";
import { metricsOf, runsInFlight } from "../telemetry/metrics.ts";
import {
  ATTR,
  endFailed,
  errorType as errorTypeOf,
  namespaceOf,
  runAttributes,
  runParentContext,
  SpanKind,
  startSpan,
  tracingEnabled,
} from "../telemetry/tracing.ts";

/** How long the worker waits between deadline sweeps. */
const DEADLINE_SWEEP_INTERVAL_MS = 1000;
/** The longest wait after repeated backend errors. */
const MAX_ERROR_BACKOFF_MS = 5000;
const DEADLINE_ERROR = {
  name: "DeadlineExceededError",
  message: "The workflow run exceeded its deadline",
};

/** Reports a worker event. */
export type Emit = (type: WorkerEventType, init: WorkerEventInit) => void;

/** Claims and executes the runs of one worker. */
export class ClaimLoop {
  readonly #config: WorkerConfig;
  readonly #emit: Emit;
  readonly #active = new Map<string, Promise<void>>();
  readonly #held: HeldRuns;
  /** This worker's series of runs in flight, once it has executed any. */
  #inFlight: { add(n: number): void } | undefined;
  readonly #idle: IdleWait;
  readonly #scheduler: Scheduler;
  #controller: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #lastSweepAt = -Infinity;
  /** Runs being handed back after a failed write (see `#handBack`). */
  readonly #handingBack = new Set<Promise<void>>();
  /** Aborted by `stop()`: hand-backs give up (the leases lapse instead). */
  #handBackAbort = new AbortController();
  /** Whether the next round sweeps and fires schedules whatever the time. */
  #checkNow = false;
  /**
   * When the backend last said when the next run falls due
   * (`performance.now()`); `-Infinity` to ask after the next claim.
   */
  #nextDueAskedAt = -Infinity;

  /**
   * @param config The worker's checked options.
   * @param emit Reports the worker's events.
   */
  constructor(config: WorkerConfig, emit: Emit) {
    this.#config = config;
    this.#emit = emit;
    this.#held = new HeldRuns(
      config.backend,
      config.workerId,
      Math.max(config.pollIntervalMs, STATUS_CHECK_INTERVAL_MS),
    );
    this.#idle = new IdleWait(
      config.backend,
      config.pollIntervalMs,
      config.fallbackPollIntervalMs,
    );
    this.#scheduler = new Scheduler(
      config.backend,
      this.#idle,
      (name, version) =>
        config.workflows.get(workflowKey(name, version))?.flowControl,
    );
  }

  /** How many runs are executing now. */
  get activeCount(): number {
    return this.#active.size;
  }

  /** Starts the loop in the background, unless it is running. */
  start(): void {
    if (this.#loop === null) {
      this.#controller = new AbortController();
      this.#loop = this.#runLoop(this.#controller.signal);
    }
  }

  /**
   * Stops the loop; resolves once every run in flight has finished or
   * parked.
   */
  async stop(): Promise<void> {
    const loop = this.#loop;
    this.#controller?.abort();
    // A later start() starts the worker again.
    this.#controller = null;
    this.#loop = null;
    this.#idle.wake();
    await loop;
    await Promise.all(this.#active.values());
    this.#handBackAbort.abort();
    await Promise.all(this.#handingBack);
    this.#handBackAbort = new AbortController();
    await this.#held.settled();
    runsInFlight.forget(this.#workerLabels());
    this.#inFlight = undefined;
  }

  /** This worker's labels in the process's metrics. */
  #workerLabels(): Record<string, string> {
    const ns = namespaceOf(this.#config.backend);
    return ns === undefined
      ? { worker: this.#config.workerId }
      : { namespace: ns, worker: this.#config.workerId };
  }

  /** One round: returns how many runs it claimed, once they ended. */
  async tick(): Promise<number> {
    await this.#sweepDeadlines(true);
    await this.#scheduler.fireDue(true);
    const started = await this.#claimAndStart();
    await Promise.all(started);
    return started.length;
  }

  async #runLoop(signal: AbortSignal): Promise<void> {
    const stopListening = onAvailable(this.#config.backend, (atMs) => {
      if (atMs === null) this.#idle.wake();
      else {
        this.#scheduler.noteDue(atMs);
        this.#idle.addDueTime(atMs);
      }
    });
    const stopClock = onClockMoved(this.#config.backend, () => {
      this.#checkNow = true;
      this.#idle.wake();
    });
    // Due times announced while notifications were down were missed.
    const stopRelistened = onListening(this.#config.backend, () => {
      this.#nextDueAskedAt = -Infinity;
    });
    this.#nextDueAskedAt = -Infinity;
    // Another process changed the database (SQLite): schedules may be new.
    const stopChanged = onChanged(
      this.#config.backend,
      () => this.#scheduler.noteDue(Date.now()),
    );
    let failures = 0;
    try {
      while (!signal.aborted) {
        let claimed = 0;
        const checkNow = this.#checkNow;
        this.#checkNow = false;
        try {
          // Schedules fire whether or not this worker has a free slot.
          await this.#scheduler.fireDue(checkNow);
        } catch (error) {
          this.#emit("error", { workerId: this.#config.workerId, error });
        }
        const free = this.#config.concurrency - this.#active.size;
        // Deadlines are swept with a free slot: keep the request till then.
        if (free <= 0 && checkNow) this.#checkNow = true;
        if (free > 0) {
          try {
            await this.#sweepDeadlines(checkNow);
            if (checkNow || this.#idle.shouldClaim()) {
              this.#idle.claiming();
              claimed = (await this.#claimAndStart()).length;
              if (claimed === free) this.#idle.claiming(true);
              else await this.#learnNextDue();
            }
            failures = 0;
          } catch (error) {
            failures++;
            this.#idle.claiming(true);
            this.#emit("error", { workerId: this.#config.workerId, error });
          }
        }
        if (signal.aborted) break;
        // A full batch suggests more work is waiting: claim again at once.
        if (claimed > 0 && claimed === free) continue;
        const waitMs = failures === 0
          ? this.#idle.idleWaitMs()
          : backoffMs(failures - 1, {
            initialMs: this.#config.pollIntervalMs * 2,
            maxMs: MAX_ERROR_BACKOFF_MS,
          });
        await this.#idle.sleep(waitMs, signal);
        // Runs finishing together free their slots in one turn of the event
        // loop: let them all, then claim for every free slot at once.
        if (this.#active.size > 0) await nextTurn();
      }
    } finally {
      stopListening();
      stopClock();
      stopRelistened();
      stopChanged();
    }
  }

  /**
   * After a claim that left slots free: asks the backend when its next run
   * falls due, to wake then, when it never did since the loop started or
   * notifications came back, or, while notifications are live, when the
   * last answer is older than the fallback interval. Announcements cover
   * the rest; without notifications, the poll does.
   */
  async #learnNextDue(): Promise<void> {
    const { backend, selectors, fallbackPollIntervalMs } = this.#config;
    if (backend.getNextAvailableAt === undefined || selectors.length === 0) {
      return;
    }
    const now = performance.now();
    if (
      this.#nextDueAskedAt !== -Infinity &&
      (!isListening(backend) ||
        now - this.#nextDueAskedAt < fallbackPollIntervalMs)
    ) return;
    this.#nextDueAskedAt = now;
    let at: Date | null;
    try {
      at = await backend.getNextAvailableAt({ workflows: selectors });
    } catch (error) {
      this.#nextDueAskedAt = -Infinity; // ask again after the next claim
      throw error;
    }
    if (at !== null) this.#idle.addDueTime(at.getTime());
  }

  async #sweepDeadlines(force: boolean): Promise<void> {
    const now = performance.now();
    const intervalMs = isListening(this.#config.backend)
      ? Math.max(
        DEADLINE_SWEEP_INTERVAL_MS,
        this.#config.fallbackPollIntervalMs,
      )
      : DEADLINE_SWEEP_INTERVAL_MS;
    if (!force && now - this.#lastSweepAt < intervalMs) return;
    this.#lastSweepAt = now;
    await this.#config.backend.failExpiredWorkflowRuns({
      error: DEADLINE_ERROR,
    });
  }

  /** Claims runs for the free slots and starts executing them. */
  async #claimAndStart(): Promise<Promise<void>[]> {
    const { backend, leaseDurationMs, selectors } = this.#config;
    const free = this.#config.concurrency - this.#active.size;
    if (free <= 0 || selectors.length === 0) return [];
    const requestedAt = Date.now();
    const runs = await backend.claimWorkflowRuns({
      workerId: this.#config.workerId,
      leaseDurationMs,
      workflows: selectors,
      limit: free,
    });
    // The claim set availableAt to the database's now + the lease, at some
    // moment between the request and the response: take the middle.
    const respondedAt = Date.now();
    const localMidMs = (requestedAt + respondedAt) / 2;
    const clockUncertaintyMs = (respondedAt - requestedAt) / 2;
    const started: Promise<void>[] = [];
    for (const run of runs) {
      const clockOffsetMs = run.availableAt.getTime() -
        leaseDurationMs - localMidMs;
      // A run this worker claims again while its previous execution winds
      // down (it parked the run a moment ago, or its lease lapsed) is
      // executed again once that execution has ended: each claim is
      // executed, so no claimed run is left held with nothing running it.
      const previous = this.#active.get(run.id)?.catch(() => {}) ??
        Promise.resolve();
      const execution: Promise<void> = previous
        .then(() => this.#execute(run, clockOffsetMs, clockUncertaintyMs))
        .finally(() => {
          if (this.#active.get(run.id) === execution) {
            this.#active.delete(run.id);
          }
          this.#idle.slotFreed();
        });
      this.#active.set(run.id, execution);
      started.push(execution);
    }
    return started;
  }

  /**
   * A child run finished here: its parent, woken by the same write, is
   * claimable now (other processes hear it from the database).
   */
  #wakeParent(run: WorkflowRun): void {
    if (run.parentWorkflowRunId !== null) {
      notifyAvailable(this.#config.backend);
    }
  }

  async #execute(
    run: WorkflowRun,
    clockOffsetMs: number,
    clockUncertaintyMs: number,
  ): Promise<void> {
    const { backend, workerId, leaseDurationMs } = this.#config;
    const workflow = this.#config.workflows.get(
      workflowKey(run.workflowName, run.version),
    );
    if (workflow === undefined) return; // never claimed: filtered by selectors
    const controller = new AbortController();
    const stopHeartbeat = startHeartbeat({
      backend,
      workerId,
      workflowRunId: run.id,
      leaseDurationMs,
      controller,
      held: this.#held,
      onError: (error) =>
        this.#emit("error", { workerId, workflowRunId: run.id, error }),
    });
    // The run finished elsewhere (canceled): stop executing it.
    const stopWatching = this.#held.watch(run.id, controller);
    const about = {
      workerId,
      workflowRunId: run.id,
      workflowName: run.workflowName,
    };
    this.#emit("run-claimed", { ...about, attempt: run.attempts });
    // The claim's time by the database clock: the lease's start.
    const claimedMs = run.availableAt.getTime() - leaseDurationMs;
    const namespaceId = namespaceOf(backend);
    const metrics = metricsOf(namespaceId, run.workflowName);
    if (run.attempts === 1) metrics.started();
    if (run.readyAt instanceof Date) {
      metrics.queued((claimedMs - run.readyAt.getTime()) / 1000);
    }
    this.#inFlight ??= runsInFlight.series(this.#workerLabels());
    const inFlight = this.#inFlight;
    inFlight.add(1);
    // One span per execution, in the run's trace (none without an SDK).
    const span = tracingEnabled()
      ? startSpan("workflow_run.execute", SpanKind.CONSUMER, {
        ...runAttributes(run, namespaceId),
        [ATTR.attempt]: run.attempts,
        [ATTR.workerId]: workerId,
      }, runParentContext(run))
      : undefined;
    let thrown: { error: unknown } | undefined;
    let result: ExecutionResult | undefined;
    try {
      result = await new Execution({
        backend,
        workerId,
        run,
        fn: workflow.fn as WorkflowFunction<unknown, unknown>,
        retry: workflow.retry,
        leaseDurationMs,
        clockOffsetMs,
        clockUncertaintyMs,
        signal: controller.signal,
        maxPayloadBytes: this.#config.maxPayloadBytes,
        onStepFailed: (stepName, attempt, error) =>
          this.#emit("step-failed", { ...about, stepName, attempt, error }),
        onSucceeding: () => this.#held.ending(run.id),
        span,
      }).execute();
    } catch (error) {
      thrown = { error };
      this.#emit("error", { ...about, error });
      if (error instanceof BackendError) this.#handBack(run);
    } finally {
      stopWatching();
      await stopHeartbeat();
      inFlight.add(-1);
    }
    const outcome = result?.status ?? "error";

    const finished = outcome === "succeeded" || outcome === "failed" ||
      outcome === "canceled";
    metrics.executed(
      outcome,
      finished
        ? (Date.now() + clockOffsetMs - run.createdAt.getTime()) / 1000
        : null,
    );
    if (span !== undefined) {
      span.setAttribute(ATTR.outcome, outcome);
      if (thrown !== undefined) endFailed(span, thrown.error);
      else if (result?.status === "failed") endFailed(span, result.error);
      else if (result?.status === "aborted") {
        span.setAttribute(ATTR.errorType, errorTypeOf(result.reason));
        span.end();
      } else span.end();
    }
    switch (result?.status) {
      case "succeeded":
        this.#wakeParent(run);
        notifyFinished(backend, run.id, {
          status: "succeeded",
          output: result.output,
          error: null,
        });
        this.#emit("run-succeeded", about);
        break;
      case "failed":
        this.#wakeParent(run);
        notifyFinished(backend, run.id, {
          status: "failed",
          output: null,
          error: result.error,
        });
        this.#emit("run-failed", { ...about, error: result.error });
        break;
      case "canceled":
        this.#wakeParent(run);
        notifyFinished(backend, run.id, {
          status: "canceled",
          output: null,
          error: result.error,
        });
        this.#emit("run-canceled", { ...about, error: result.error });
        break;
      case "released":
        // This worker wakes when the run is due, whether or not its loop
        // is running yet; other workers here and elsewhere are told too.
        this.#idle.addDueTime(result.availableAt.getTime());
        notifyAvailable(backend, result.availableAt);
        this.#emit("run-released", about);
        break;
      case "aborted": {
        let reason = result.reason;
        // A fenced write was refused: say so when it was for a cancel.
        if (
          reason instanceof LeaseLostError &&
          controller.signal.reason !== reason
        ) {
          reason = await this.#held.lostReason(run.id, reason);
        }
        this.#emit(
          reason instanceof LeaseLostError ||
            reason instanceof WorkflowCanceledError
            ? "lease-lost"
            : "error",
          { ...about, error: reason },
        );
        if (reason instanceof BackendError) this.#handBack(run);
      }
    }
  }

  /**
   * A write of the execution of `run` failed (the database went away, or
   * failed over): the run is still this worker's until its lease lapses,
   * and nothing of it runs here any more. Rather than leave it held until
   * then, release it as soon as the database takes the write again, so
   * that it resumes (here or elsewhere) within moments of the database
   * coming back, not a lease later. Gives up once the lease has lapsed
   * (the run is claimable anyway), or another worker holds it.
   */
  #handBack(run: WorkflowRun): void {
    const { backend, workerId, leaseDurationMs } = this.#config;
    const until = performance.now() + leaseDurationMs;
    const { signal } = this.#handBackAbort;
    const handBack = (async () => {
      for (let attempt = 0; performance.now() < until; attempt++) {
        await delay(backoffMs(attempt, HAND_BACK_BACKOFF), signal)
          .catch(() => {});
        if (signal.aborted) return;
        try {
          await backend.releaseWorkflowRun({
            workflowRunId: run.id,
            workerId,
            status: "pending",
            availableAt: null,
          });
          notifyAvailable(backend);
          return;
        } catch (error) {
          if (!(error instanceof BackendError)) return; // no longer ours
        }
      }
    })();
    this.#handingBack.add(handBack);
    handBack.finally(() => this.#handingBack.delete(handBack));
  }
}

/** The waits between attempts to hand a run back after a failed write. */
const HAND_BACK_BACKOFF = { initialMs: 100, maxMs: 1000 };
