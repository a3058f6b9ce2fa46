/**
 * `Worker`: claims runs of its registered workflows, executes them with
 * leases kept alive by heartbeats, and stops gracefully.
 *
 * @module
 */

import type { Backend, WorkflowRun, WorkflowSelector } from "./backend.ts";
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_FALLBACK_POLL_INTERVAL_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_POLL_INTERVAL_MS,
} from "./constants.ts";
import { LeaseLostError, WorkflowCanceledError } from "./errors.ts";
import {
  guardListener,
  logWorkerEvent,
  WorkerEvent,
  type WorkerEventInit,
  type WorkerEventType,
} from "./events.ts";
import { Execution, type ExecutionResult } from "./execution.ts";
import { HeldRuns, STATUS_CHECK_INTERVAL_MS } from "./held_runs.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./limits.ts";
import {
  checkName,
  checkPositiveInteger,
  checkPositiveMs,
  received,
} from "./validate.ts";
import {
  isListening,
  notifyAvailable,
  notifyFinished,
  onAvailable,
} from "./wakeup.ts";
import {
  DEFAULT_WORKFLOW_RETRY_POLICY,
  resolveRetryPolicy,
  type RetryPolicy,
} from "./retry.ts";
import type { WorkflowFunction } from "./workflow.ts";

/**
 * A workflow a worker can execute: what `OpenWorkflow.defineWorkflow()`
 * returns.
 *
 * @example
 * ```ts
 * import { OpenWorkflow, Worker, type WorkerWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const greet = ow.defineWorkflow({ name: "greet" }, () => "hello");
 * const workflows: WorkerWorkflow[] = [greet];
 * const worker = new Worker({ backend, workflows });
 * console.log(worker.activeCount); // 0
 * ```
 */
export interface WorkerWorkflow {
  /** The workflow's name. */
  readonly name: string;
  /** The workflow's version, or `null`. */
  readonly version: string | null;
  /** The workflow function. */
  readonly fn: WorkflowFunction<never, unknown>;
  /**
   * The workflow-level retry policy.
   * @default {DEFAULT_WORKFLOW_RETRY_POLICY}
   */
  readonly retry?: RetryPolicy;
}

/**
 * Options of the {@linkcode Worker} constructor.
 *
 * @example
 * ```ts ignore
 * const worker = new Worker({ backend, workflows: [greet], concurrency: 10 });
 * ```
 */
export interface WorkerOptions {
  /** The backend to claim runs from. */
  backend: Backend;
  /** The workflows to execute; runs of other workflows are left alone. */
  workflows: readonly WorkerWorkflow[];
  /**
   * How many runs to execute at once.
   * @default {DEFAULT_CONCURRENCY}
   */
  concurrency?: number;
  /**
   * How long a claim lasts without a heartbeat; heartbeats renew it every
   * third of this.
   * @default {DEFAULT_LEASE_DURATION_MS}
   */
  leaseDurationMs?: number;
  /**
   * How often an idle worker looks for work when nothing wakes it sooner.
   * Without live notifications (SQLite, or Postgres with `listen: false`),
   * the worker also reads the status of the runs it holds, to stop those
   * canceled by another process, every this often but at most once a
   * second.
   * @default {DEFAULT_POLL_INTERVAL_MS}
   */
  pollIntervalMs?: number;
  /**
   * How often an idle worker looks for work while the backend's
   * notifications are live (they wake it at once; this is the safety net).
   * @default {DEFAULT_FALLBACK_POLL_INTERVAL_MS}
   */
  fallbackPollIntervalMs?: number;
  /**
   * The largest JSON text stored for an output or step result.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
  /**
   * The worker's id, recorded on the runs it claims. It must be unique among
   * the workers sharing a database: writes to a run are fenced by the id of
   * the worker holding its lease, so two workers with one id could renew
   * and finish each other's runs. Leave it unset unless you need a stable,
   * unique name (e.g. `${hostname}-${pid}`).
   * @default {crypto.randomUUID()}
   */
  workerId?: string;
}

/** How long the worker waits between deadline sweeps. */
const DEADLINE_SWEEP_INTERVAL_MS = 1000;
/** How many future due times a worker remembers. */
const MAX_DUE_TIMES = 1024;
/** The longest wait after repeated backend errors. */
const MAX_ERROR_BACKOFF_MS = 5000;
const DEADLINE_ERROR = {
  name: "DeadlineExceededError",
  message: "The workflow run exceeded its deadline",
};

/**
 * The execution engine that claims and executes workflow runs.
 *
 * Typically made with `ow.newWorker()`.
 *
 * @example Graceful shutdown
 * ```ts ignore
 * const worker = ow.newWorker({ concurrency: 10 });
 * await worker.start();
 * Deno.addSignalListener("SIGTERM", async () => {
 *   await worker.stop(); // waits for the runs in flight
 *   await backend.stop();
 * });
 * ```
 */
export class Worker extends EventTarget {
  /** The worker's id, recorded on the runs it claims. */
  readonly id: string;
  readonly #backend: Backend;
  readonly #workflows = new Map<
    string,
    { fn: WorkerWorkflow["fn"]; retry: Required<RetryPolicy> }
  >();
  readonly #selectors: WorkflowSelector[];
  readonly #concurrency: number;
  readonly #leaseDurationMs: number;
  readonly #pollIntervalMs: number;
  readonly #maxPayloadBytes: number;
  readonly #active = new Map<string, Promise<void>>();
  readonly #held: HeldRuns;
  #controller: AbortController | null = null;
  #loop: Promise<void> | null = null;
  /** Wakes the idle loop; remembered when the loop is busy. */
  #wake: () => void = () => this.#wakePending = true;
  #wakePending = false;
  #sleepEndsAt = -Infinity;
  /** When runs are known to become claimable (epoch ms, ascending). */
  readonly #dueTimes: number[] = [];
  readonly #fallbackPollIntervalMs: number;
  #lastSweepAt = -Infinity;

  /**
   * Creates a worker. Does no I/O.
   *
   * @param options Backend, workflows and tuning.
   * @throws {TypeError} for a missing backend or workflows.
   * @throws {RangeError} for a non-positive-integer `concurrency` or other
   * invalid numbers.
   *
   * @example Construct a worker directly (`ow.newWorker()` does the same)
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow, Worker } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const double = ow.defineWorkflow<number, number>(
   *   { name: "double" },
   *   async ({ input, step }) => await step.run({ name: "double" }, () => input * 2),
   * );
   * const worker = new Worker({ backend, workflows: [double], concurrency: 4 });
   * const handle = await double.run(21);
   * assert.equal(await worker.tick(), 1);
   * assert.equal(await handle.result(), 42);
   * ```
   */
  constructor(options: WorkerOptions) {
    super();
    const what = "create worker";
    if (options?.backend === null || typeof options?.backend !== "object") {
      throw new TypeError(
        `Cannot ${what}: 'backend' must be a Backend, received ${
          received(options?.backend)
        }`,
      );
    }
    if (!Array.isArray(options.workflows)) {
      throw new TypeError(
        `Cannot ${what}: 'workflows' must be an array of workflow definitions, received ${
          received(options.workflows)
        }`,
      );
    }
    this.#backend = options.backend;
    for (const [index, workflow] of options.workflows.entries()) {
      checkWorkerWorkflow(workflow, index, what);
      if (this.#workflows.has(key(workflow.name, workflow.version ?? null))) {
        throw new TypeError(
          `Cannot ${what}: 'workflows' lists workflow '${workflow.name}'${
            workflow.version == null ? "" : ` version '${workflow.version}'`
          } twice`,
        );
      }
      this.#workflows.set(key(workflow.name, workflow.version ?? null), {
        fn: workflow.fn,
        retry: resolveRetryPolicy(
          workflow.retry,
          DEFAULT_WORKFLOW_RETRY_POLICY,
          `workflow '${workflow.name}'`,
        ),
      });
    }
    this.#selectors = options.workflows.map(({ name, version }) => ({
      name,
      version: version ?? null,
    }));
    this.#concurrency = options.concurrency === undefined
      ? DEFAULT_CONCURRENCY
      : checkPositiveInteger(options.concurrency, what, "concurrency");
    this.#leaseDurationMs = options.leaseDurationMs === undefined
      ? DEFAULT_LEASE_DURATION_MS
      : checkPositiveMs(options.leaseDurationMs, what, "leaseDurationMs");
    this.#pollIntervalMs = options.pollIntervalMs === undefined
      ? DEFAULT_POLL_INTERVAL_MS
      : checkPositiveMs(options.pollIntervalMs, what, "pollIntervalMs");
    this.#fallbackPollIntervalMs = options.fallbackPollIntervalMs === undefined
      ? DEFAULT_FALLBACK_POLL_INTERVAL_MS
      : checkPositiveMs(
        options.fallbackPollIntervalMs,
        what,
        "fallbackPollIntervalMs",
      );
    this.#maxPayloadBytes = options.maxPayloadBytes === undefined
      ? DEFAULT_MAX_PAYLOAD_BYTES
      : checkPositiveInteger(options.maxPayloadBytes, what, "maxPayloadBytes");
    this.id = options.workerId === undefined
      ? crypto.randomUUID()
      : checkName(options.workerId, what, "workerId");
    this.#held = new HeldRuns(
      this.#backend,
      this.id,
      Math.max(this.#pollIntervalMs, STATUS_CHECK_INTERVAL_MS),
    );
  }

  /**
   * How many runs the worker is executing now.
   *
   * @example
   * ```ts
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const worker = new OpenWorkflow({ backend }).newWorker({ concurrency: 4 });
   * console.log(`${worker.activeCount} of 4 slots busy`); // 0 of 4 slots busy
   * ```
   */
  get activeCount(): number {
    return this.#active.size;
  }

  /**
   * Starts the worker: it claims and executes runs in the background until
   * `stop()`. Starting a started worker does nothing.
   *
   * @example
   * ```ts ignore
   * await worker.start();
   * ```
   */
  start(): Promise<void> {
    if (this.#loop === null) {
      this.#controller = new AbortController();
      this.#loop = this.#runLoop(this.#controller.signal);
    }
    return Promise.resolve();
  }

  /**
   * Stops the worker gracefully: it claims nothing more and resolves when
   * every run in flight has finished or parked. Calling it again, or on a
   * worker never started, is harmless; `start()` starts it again.
   *
   * @example
   * ```ts ignore
   * await worker.stop();
   * ```
   */
  async stop(): Promise<void> {
    const loop = this.#loop;
    this.#controller?.abort();
    // A later start() starts the worker again.
    this.#controller = null;
    this.#loop = null;
    this.#wake();
    await loop;
    await Promise.all(this.#active.values());
    await this.#held.settled();
  }

  /**
   * Processes one round: claims as many runs as there are free slots and
   * executes them, resolving when those executions have finished or parked.
   * Primarily used for testing.
   *
   * @returns The number of workflow runs claimed.
   *
   * @example
   * ```ts ignore
   * await greet.run({ name: "Alice" });
   * console.log(await worker.tick()); // 1
   * ```
   */
  async tick(): Promise<number> {
    await this.#sweepDeadlines(true);
    const started = await this.#claimAndStart();
    await Promise.all(started);
    return started.length;
  }

  async #runLoop(signal: AbortSignal): Promise<void> {
    const stopListening = onAvailable(this.#backend, (atMs) => {
      if (atMs === null) this.#wake();
      else this.#addDueTime(atMs);
    });
    let failures = 0;
    try {
      while (!signal.aborted) {
        let claimed = 0;
        const free = this.#concurrency - this.#active.size;
        if (free > 0) {
          try {
            await this.#sweepDeadlines(false);
            claimed = (await this.#claimAndStart()).length;
            failures = 0;
          } catch (error) {
            failures++;
            this.#emit("error", { workerId: this.id, error });
          }
        }
        if (signal.aborted) break;
        // A full batch suggests more work is waiting: claim again at once.
        if (claimed > 0 && claimed === free) continue;
        const waitMs = failures === 0 ? this.#idleWaitMs() : Math.min(
          this.#pollIntervalMs * 2 ** failures,
          MAX_ERROR_BACKOFF_MS,
        );
        await this.#sleep(waitMs, signal);
        // Runs finishing together free their slots in one turn of the event
        // loop: let them all, then claim for every free slot at once.
        if (this.#active.size > 0) await nextTurn();
      }
    } finally {
      stopListening();
    }
  }

  /**
   * How long an idle worker waits: the poll interval, or the slower
   * fallback interval while the backend's notifications are live; never
   * past the next time a run is known to become due.
   */
  #idleWaitMs(): number {
    let pollMs = isListening(this.#backend)
      ? Math.max(this.#pollIntervalMs, this.#fallbackPollIntervalMs)
      : this.#pollIntervalMs;
    const now = Date.now();
    while (this.#dueTimes.length > 0 && this.#dueTimes[0] <= now) {
      this.#dueTimes.shift();
      // A run just came due: should the claim have been a moment early
      // for the database's clock, look again soon.
      pollMs = this.#pollIntervalMs;
    }
    const nextDue = this.#dueTimes[0];
    return nextDue === undefined ? pollMs : Math.min(pollMs, nextDue - now + 2);
  }

  /** Remembers when a run becomes claimable, to wake exactly then. */
  #addDueTime(atMs: number): void {
    const due = this.#dueTimes;
    let index = due.length;
    while (index > 0 && due[index - 1] > atMs) index--;
    if (due[index - 1] === atMs) return;
    due.splice(index, 0, atMs);
    if (due.length > MAX_DUE_TIMES) due.pop(); // the fallback poll covers the rest
    if (atMs < this.#sleepEndsAt) this.#wake();
  }

  /** Waits `ms`, or until woken or stopped. */
  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#wakePending || signal.aborted) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = () => this.#wakePending = true;
        this.#sleepEndsAt = -Infinity;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#sleepEndsAt = Date.now() + ms;
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  async #sweepDeadlines(force: boolean): Promise<void> {
    const now = performance.now();
    const intervalMs = isListening(this.#backend)
      ? Math.max(DEADLINE_SWEEP_INTERVAL_MS, this.#fallbackPollIntervalMs)
      : DEADLINE_SWEEP_INTERVAL_MS;
    if (!force && now - this.#lastSweepAt < intervalMs) return;
    this.#lastSweepAt = now;
    await this.#backend.failExpiredWorkflowRuns({ error: DEADLINE_ERROR });
  }

  /** Claims runs for the free slots and starts executing them. */
  async #claimAndStart(): Promise<Promise<void>[]> {
    const free = this.#concurrency - this.#active.size;
    if (free <= 0 || this.#selectors.length === 0) return [];
    const requestedAt = Date.now();
    const runs = await this.#backend.claimWorkflowRuns({
      workerId: this.id,
      leaseDurationMs: this.#leaseDurationMs,
      workflows: this.#selectors,
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
        this.#leaseDurationMs - localMidMs;
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
          this.#wake();
        });
      this.#active.set(run.id, execution);
      started.push(execution);
    }
    return started;
  }

  async #execute(
    run: WorkflowRun,
    clockOffsetMs: number,
    clockUncertaintyMs: number,
  ): Promise<void> {
    const workflow = this.#workflows.get(key(run.workflowName, run.version));
    if (workflow === undefined) return; // never claimed: filtered by selectors
    const controller = new AbortController();
    const stopHeartbeat = this.#heartbeat(run.id, controller);
    // The run finished elsewhere (canceled): stop executing it.
    const stopWatching = this.#held.watch(run.id, controller);
    const about = {
      workerId: this.id,
      workflowRunId: run.id,
      workflowName: run.workflowName,
    };
    this.#emit("run-claimed", { ...about, attempt: run.attempts });
    let result: ExecutionResult | undefined;
    try {
      result = await new Execution({
        backend: this.#backend,
        workerId: this.id,
        run,
        fn: workflow.fn as WorkflowFunction<unknown, unknown>,
        retry: workflow.retry,
        leaseDurationMs: this.#leaseDurationMs,
        clockOffsetMs,
        clockUncertaintyMs,
        signal: controller.signal,
        maxPayloadBytes: this.#maxPayloadBytes,
        onStepFailed: (stepName, attempt, error) =>
          this.#emit("step-failed", { ...about, stepName, attempt, error }),
      }).execute();
    } catch (error) {
      this.#emit("error", { ...about, error });
    } finally {
      stopWatching();
      await stopHeartbeat();
    }
    switch (result?.status) {
      case "succeeded":
        notifyFinished(this.#backend, run.id, {
          status: "succeeded",
          output: result.output,
          error: null,
        });
        this.#emit("run-succeeded", about);
        break;
      case "failed":
        notifyFinished(this.#backend, run.id, {
          status: "failed",
          output: null,
          error: result.error,
        });
        this.#emit("run-failed", { ...about, error: result.error });
        break;
      case "released":
        // This worker wakes when the run is due, whether or not its loop
        // is running yet; other workers here and elsewhere are told too.
        this.#addDueTime(result.availableAt.getTime());
        notifyAvailable(this.#backend, result.availableAt);
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
      }
    }
  }

  /**
   * Renews the run's lease every third of the lease duration. Aborts
   * `controller` when the lease is lost, or when no renewal succeeded for a
   * whole lease duration (the run may be someone else's by then).
   */
  #heartbeat(
    workflowRunId: string,
    controller: AbortController,
  ): () => Promise<void> {
    const intervalMs = this.#leaseDurationMs / 3;
    let renewedAt = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    let stopped = false;
    const beat = async () => {
      const startedAt = performance.now();
      // A heartbeat that has not answered by the end of the lease counts
      // as lost: it is not waited for any longer.
      let deadline: ReturnType<typeof setTimeout> | undefined;
      let unanswered = false;
      const call = this.#backend.heartbeatWorkflowRun({
        workflowRunId,
        workerId: this.id,
        leaseDurationMs: this.#leaseDurationMs,
      });
      call.catch(() => {}); // it may settle after the deadline
      try {
        await Promise.race([
          call,
          new Promise<never>((_, reject) => {
            deadline = setTimeout(() => {
              unanswered = true;
              reject(new LeaseLostError(workflowRunId, this.id));
            }, Math.max(0, renewedAt + this.#leaseDurationMs - startedAt));
          }),
        ]);
        renewedAt = startedAt;
      } catch (error) {
        if (error instanceof LeaseLostError) {
          clearTimeout(deadline);
          // Refused (not unanswered): the steps' signals say why when the
          // run was canceled.
          controller.abort(
            unanswered
              ? error
              : await this.#held.lostReason(workflowRunId, error),
          );
          return;
        }
        this.#emit("error", { workerId: this.id, workflowRunId, error });
        if (performance.now() - renewedAt >= this.#leaseDurationMs) {
          controller.abort(new LeaseLostError(workflowRunId, this.id));
          return;
        }
      } finally {
        clearTimeout(deadline);
      }
      if (!stopped) timer = setTimeout(() => inFlight = beat(), intervalMs);
    };
    timer = setTimeout(() => inFlight = beat(), intervalMs);
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    };
  }

  /**
   * Dispatches an event and logs it. Listeners are guarded when added, so
   * one that throws is logged and breaks nothing.
   */
  #emit(type: WorkerEventType, init: WorkerEventInit): void {
    const event = new WorkerEvent(type, init);
    logWorkerEvent(event);
    this.dispatchEvent(event);
  }

  /**
   * Listens to the worker's events; see {@linkcode WorkerEventType}.
   *
   * @param type The event type.
   * @param listener Called with each event.
   * @param options As for `EventTarget.addEventListener`.
   *
   * A listener that throws (or returns a promise that rejects) does not break
   * the worker or the process: the error is logged at level `error` under
   * `["openworkflow", "worker"]`, and the other listeners still run.
   *
   * @example
   * ```ts ignore
   * worker.addEventListener("run-failed", (event) => {
   *   console.error(`run ${event.workflowRunId} failed`, event.error);
   * });
   * ```
   */
  override addEventListener(
    type: WorkerEventType,
    listener:
      | ((event: WorkerEvent) => void)
      | { handleEvent(event: WorkerEvent): void }
      | null,
    options?: boolean | {
      capture?: boolean;
      once?: boolean;
      passive?: boolean;
      signal?: AbortSignal;
    },
  ): void {
    super.addEventListener(type, guardListener(listener), options);
  }

  /**
   * Stops listening; see {@linkcode Worker.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener added before.
   * @param options As for `EventTarget.removeEventListener`.
   *
   * @example
   * ```ts ignore
   * worker.removeEventListener("run-failed", onFailed);
   * ```
   */
  override removeEventListener(
    type: WorkerEventType,
    listener:
      | ((event: WorkerEvent) => void)
      | { handleEvent(event: WorkerEvent): void }
      | null,
    options?: boolean | { capture?: boolean },
  ): void {
    super.removeEventListener(type, guardListener(listener), options);
  }
}

/** Checks one entry of `workflows`: a definition or its likeness. */
function checkWorkerWorkflow(
  workflow: WorkerWorkflow,
  index: number,
  what: string,
): void {
  const argument = `workflows[${index}]`;
  if (workflow === null || typeof workflow !== "object") {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must be a workflow definition, received ${
        received(workflow)
      }`,
    );
  }
  checkName(workflow.name, what, `${argument}.name`);
  if (typeof workflow.fn !== "function") {
    throw new TypeError(
      `Cannot ${what}: '${argument}.fn' must be a function, received ${
        received(workflow.fn)
      }`,
    );
  }
  if (workflow.version != null && typeof workflow.version !== "string") {
    throw new TypeError(
      `Cannot ${what}: '${argument}.version' must be a string, null or undefined, received ${
        received(workflow.version)
      }`,
    );
  }
}

function key(name: string, version: string | null): string {
  return version === null ? name : `${name}\u0000${version}`;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
