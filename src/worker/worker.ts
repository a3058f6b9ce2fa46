/**
 * `Worker`: claims runs of its registered workflows, executes them with
 * leases kept alive by heartbeats, and stops gracefully.
 *
 * @module
 */

import { ClaimLoop } from "./claim_loop.ts";
import {
  guardListener,
  isWorkerEventLogged,
  logWorkerEvent,
  WorkerEvent,
  type WorkerEventInit,
  type WorkerEventType,
} from "./events.ts";
import { createSchedule } from "../core/schedule_store.ts";
import { RetentionSweeper } from "./retention.ts";
import {
  resolveWorkerOptions,
  type WorkerConfig,
  type WorkerOptions,
} from "./worker_options.ts";

export type { WorkerOptions, WorkerWorkflow } from "./worker_options.ts";

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
  readonly #loop: ClaimLoop;
  readonly #sweeper: RetentionSweeper | null;
  readonly #config: WorkerConfig;
  /** The event types ever listened to (a removed listener is not counted). */
  readonly #listened = new Set<string>();

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
    const config = resolveWorkerOptions(options);
    this.#config = config;
    this.id = config.workerId;
    this.#loop = new ClaimLoop(config, (type, init) => this.#emit(type, init));
    this.#sweeper = config.retention === null
      ? null
      : new RetentionSweeper(config.backend, config.retention, config.workerId);
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
    return this.#loop.activeCount;
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
  async start(): Promise<void> {
    for (const { name, version, schedule } of this.#config.schedules) {
      await createSchedule(
        this.#config.backend,
        { id: name, workflow: { name, version }, ...schedule },
        this.#config.maxPayloadBytes,
        "update",
      );
    }
    this.#loop.start();
    this.#sweeper?.start();
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
    await this.#sweeper?.stop();
    await this.#loop.stop();
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
    return await this.#loop.tick();
  }

  /**
   * Dispatches an event and logs it. Listeners are guarded when added, so
   * one that throws is logged and breaks nothing.
   */
  #emit(type: WorkerEventType, init: WorkerEventInit): void {
    // Two events a run: not built when no listener and no log would see it.
    if (!this.#listened.has(type) && !isWorkerEventLogged(type)) return;
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
    if (listener !== null) this.#listened.add(type);
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
