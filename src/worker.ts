/**
 * `Worker`: claims runs of its registered workflows, executes them with
 * leases kept alive by heartbeats, and stops gracefully.
 *
 * @module
 */

import type { Backend, WorkflowRun, WorkflowSelector } from "./backend.ts";
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_POLL_INTERVAL_MS,
} from "./constants.ts";
import { LeaseLostError, WorkflowCanceledError } from "./errors.ts";
import { Execution, type ExecutionResult } from "./execution.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./limits.ts";
import { checkPositiveInteger, checkPositiveMs, received } from "./validate.ts";
import { notifyFinished, onAvailable, onFinished } from "./wakeup.ts";
import {
  DEFAULT_WORKFLOW_RETRY_POLICY,
  resolveRetryPolicy,
  type RetryPolicy,
} from "./retry.ts";
import type { WorkflowFunction } from "./workflow.ts";

/**
 * A workflow a worker can execute: what `OpenWorkflow.defineWorkflow()`
 * returns.
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
   * @default {DEFAULT_POLL_INTERVAL_MS}
   */
  pollIntervalMs?: number;
  /**
   * The largest JSON text stored for an output or step result.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
  /**
   * The worker's id, recorded on the runs it claims.
   * @default {crypto.randomUUID()}
   */
  workerId?: string;
}

/** How long the worker waits between deadline sweeps. */
const DEADLINE_SWEEP_INTERVAL_MS = 1000;
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
export class Worker {
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
  #controller: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #wake: () => void = () => {};
  #lastSweepAt = -Infinity;

  /**
   * Creates a worker. Does no I/O.
   *
   * @param options Backend, workflows and tuning.
   * @throws {TypeError} for a missing backend or workflows.
   * @throws {RangeError} for a non-positive-integer `concurrency` or other
   * invalid numbers.
   */
  constructor(options: WorkerOptions) {
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
    for (const workflow of options.workflows) {
      this.#workflows.set(key(workflow.name, workflow.version), {
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
      version,
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
    this.#maxPayloadBytes = options.maxPayloadBytes ??
      DEFAULT_MAX_PAYLOAD_BYTES;
    this.id = options.workerId ?? crypto.randomUUID();
  }

  /** How many runs the worker is executing now. */
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
   * worker never started, is harmless.
   *
   * @example
   * ```ts ignore
   * await worker.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#controller?.abort();
    this.#wake();
    await this.#loop;
    await Promise.all(this.#active.values());
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
    const stopListening = onAvailable(this.#backend, () => this.#wake());
    let failures = 0;
    try {
      while (!signal.aborted) {
        let claimed = 0;
        if (this.#active.size < this.#concurrency) {
          try {
            await this.#sweepDeadlines(false);
            claimed = (await this.#claimAndStart()).length;
            failures = 0;
          } catch (error) {
            failures++;
            this.#report("claim", error);
          }
        }
        if (signal.aborted) break;
        if (claimed > 0 && this.#active.size < this.#concurrency) continue;
        const waitMs = failures === 0 ? this.#pollIntervalMs : Math.min(
          this.#pollIntervalMs * 2 ** failures,
          MAX_ERROR_BACKOFF_MS,
        );
        await this.#sleep(waitMs, signal);
      }
    } finally {
      stopListening();
    }
  }

  /** Waits `ms`, or until woken or stopped. */
  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  async #sweepDeadlines(force: boolean): Promise<void> {
    const now = performance.now();
    if (!force && now - this.#lastSweepAt < DEADLINE_SWEEP_INTERVAL_MS) return;
    this.#lastSweepAt = now;
    await this.#backend.failExpiredWorkflowRuns({ error: DEADLINE_ERROR });
  }

  /** Claims runs for the free slots and starts executing them. */
  async #claimAndStart(): Promise<Promise<void>[]> {
    const free = this.#concurrency - this.#active.size;
    if (free <= 0 || this.#selectors.length === 0) return [];
    const runs = await this.#backend.claimWorkflowRuns({
      workerId: this.id,
      leaseDurationMs: this.#leaseDurationMs,
      workflows: this.#selectors,
      limit: free,
    });
    const started: Promise<void>[] = [];
    for (const run of runs) {
      // A run this worker still executes was re-claimed after its lease
      // lapsed: the execution in flight simply goes on with the new lease.
      if (this.#active.has(run.id)) continue;
      const execution = this.#execute(run).finally(() => {
        this.#active.delete(run.id);
        this.#wake();
      });
      this.#active.set(run.id, execution);
      started.push(execution);
    }
    return started;
  }

  async #execute(run: WorkflowRun): Promise<void> {
    const workflow = this.#workflows.get(key(run.workflowName, run.version));
    if (workflow === undefined) return; // never claimed: filtered by selectors
    const controller = new AbortController();
    const stopHeartbeat = this.#heartbeat(run.id, controller);
    const stopWatching = onFinished(
      this.#backend,
      run.id,
      () => controller.abort(new WorkflowCanceledError(run.id)),
    );
    let result: ExecutionResult | undefined;
    try {
      result = await new Execution({
        backend: this.#backend,
        workerId: this.id,
        run,
        fn: workflow.fn as WorkflowFunction<unknown, unknown>,
        retry: workflow.retry,
        leaseDurationMs: this.#leaseDurationMs,
        signal: controller.signal,
        maxPayloadBytes: this.#maxPayloadBytes,
      }).execute();
    } catch (error) {
      this.#report("execute", error, run);
    } finally {
      stopWatching();
      await stopHeartbeat();
    }
    if (result?.status === "succeeded" || result?.status === "failed") {
      notifyFinished(this.#backend, run.id);
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
      try {
        await this.#backend.heartbeatWorkflowRun({
          workflowRunId,
          workerId: this.id,
          leaseDurationMs: this.#leaseDurationMs,
        });
        renewedAt = startedAt;
      } catch (error) {
        if (error instanceof LeaseLostError) {
          controller.abort(error);
          return;
        }
        this.#report("heartbeat", error);
        if (performance.now() - renewedAt >= this.#leaseDurationMs) {
          controller.abort(new LeaseLostError(workflowRunId, this.id));
          return;
        }
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

  #report(_action: string, _error: unknown, _run?: WorkflowRun): void {
    // Wired to events and logging by the observability layer.
  }
}

function key(name: string, version: string | null): string {
  return version === null ? name : `${name}\u0000${version}`;
}
