/**
 * Deleting finished runs: in bounded batches (`deleteFinishedRuns`, which
 * `OpenWorkflow.deleteRuns()` uses), and as a worker's retention sweeps, one
 * sweeper at a time across the workers of a namespace (a lock in the
 * database, renewed between batches).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  type Backend,
  type DeleteWorkflowRunsParams,
  TERMINAL_STATUSES,
} from "../core/backend.ts";
import { type Duration, parseDuration } from "../core/duration.ts";
import { delay } from "../core/waits.ts";
import { backendMethod } from "../core/validate.ts";

const logger = getLogger(["openworkflow", "retention"]);

/** How many runs the first batch deletes (one short transaction). */
export const DELETE_BATCH_SIZE = 500;

/**
 * How long one batch should take: batches grow or shrink toward this, so
 * that a sweep holds its locks (Postgres rows, SQLite's one writer) only
 * this long at a time, however fast the database is.
 */
const BATCH_TARGET_MS = 10;
const MIN_BATCH = 50;
const MAX_BATCH = 5_000;

/** The finished statuses, which are the only ones ever deleted. */
export type FinishedStatus = "succeeded" | "failed" | "canceled";

/**
 * Deletes every finished run that matches, batch by batch, each batch its
 * own short transaction sized to take about `BATCH_TARGET_MS`; reports the
 * running total after each batch.
 *
 * @returns How many runs were deleted.
 */
export async function deleteFinishedRuns(
  backend: Backend,
  params: Omit<DeleteWorkflowRunsParams, "limit">,
  options: {
    onProgress?: (deleted: number) => void;
    /** Checked before each batch: `false` stops. */
    proceed?: () => boolean | Promise<boolean>;
  } = {},
): Promise<number> {
  const deleteRuns = backendMethod(
    backend,
    "deleteWorkflowRuns",
    "delete runs",
  );
  let limit = DELETE_BATCH_SIZE;
  let total = 0;
  while (options.proceed === undefined || await options.proceed()) {
    const started = performance.now();
    const deleted = await deleteRuns({ ...params, limit });
    const tookMs = performance.now() - started;
    total += deleted;
    if (deleted > 0) options.onProgress?.(total);
    if (deleted < limit) break;
    // Toward the target, at most doubling or halving at a time.
    const scaled = limit * BATCH_TARGET_MS / Math.max(tookMs, 0.1);
    limit = Math.round(
      Math.min(
        MAX_BATCH,
        Math.max(MIN_BATCH, limit / 2, Math.min(scaled, limit * 2)),
      ),
    );
  }
  return total;
}

/**
 * A worker's retention: how long finished runs are kept, by status, and how
 * often the sweep runs. A status without a duration is kept forever.
 *
 * @example
 * ```ts ignore
 * const worker = ow.newWorker({
 *   retention: { succeeded: "7d", failed: "30d", canceled: "30d", sweepEvery: "1m" },
 * });
 * ```
 */
export interface RetentionOptions {
  /** How long succeeded runs are kept after they finished. */
  succeeded?: Duration;
  /** How long failed runs are kept after they finished. */
  failed?: Duration;
  /** How long canceled runs are kept after they finished. */
  canceled?: Duration;
  /**
   * How often the sweep runs.
   * @default {"1m"}
   */
  sweepEvery?: Duration;
}

/** Retention, checked: milliseconds by status, and the sweep interval. */
export interface RetentionConfig {
  keepMs: Partial<Record<FinishedStatus, number>>;
  sweepEveryMs: number;
}

/** The default sweep interval: one minute. */
export const DEFAULT_SWEEP_EVERY_MS = 60_000;

/**
 * Checks retention options.
 *
 * @throws {TypeError|RangeError} naming the option.
 */
export function resolveRetention(
  options: RetentionOptions | undefined,
  what: string,
): RetentionConfig | null {
  if (options === undefined) return null;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'retention' must be an object, received ${options}`,
    );
  }
  const keepMs: Partial<Record<FinishedStatus, number>> = {};
  for (const status of TERMINAL_STATUSES as readonly FinishedStatus[]) {
    const value = options[status];
    if (value !== undefined) {
      keepMs[status] = parseDuration(value, `retention.${status}`);
    }
  }
  const sweepEveryMs = options.sweepEvery === undefined
    ? DEFAULT_SWEEP_EVERY_MS
    : parseDuration(options.sweepEvery, "retention.sweepEvery");
  if (sweepEveryMs < 1) {
    throw new RangeError(
      `Cannot ${what}: 'retention.sweepEvery' must be at least 1 ms`,
    );
  }
  return { keepMs, sweepEveryMs };
}

/** The name of the lock the sweepers of a namespace share. */
const LOCK_NAME = "retention";

/**
 * Sweeps finished runs past their retention, every `sweepEveryMs`, while
 * this worker holds the namespace's retention lock (taken for two sweep
 * intervals, at least a minute, and renewed between batches: a sweeper
 * that dies gives it up when it lapses).
 */
export class RetentionSweeper {
  readonly #backend: Backend;
  readonly #config: RetentionConfig;
  readonly #ownerId: string;
  #controller: AbortController | null = null;
  #running: Promise<void> | null = null;

  constructor(backend: Backend, config: RetentionConfig, ownerId: string) {
    this.#backend = backend;
    this.#config = config;
    this.#ownerId = ownerId;
  }

  /** How long the lock is taken for. */
  get #lockMs(): number {
    return Math.max(2 * this.#config.sweepEveryMs, 60_000);
  }

  /** Starts sweeping: at once, then every `sweepEveryMs`. */
  start(): void {
    if (this.#running !== null) return;
    const controller = new AbortController();
    this.#controller = controller;
    this.#running = (async () => {
      while (!controller.signal.aborted) {
        try {
          await this.sweep(controller.signal);
        } catch (error) {
          logger.warn("Retention sweep failed: {error}", { error });
        }
        await delay(this.#config.sweepEveryMs, controller.signal);
      }
    })();
  }

  /** Stops sweeping, waits for a batch in flight, and releases the lock. */
  async stop(): Promise<void> {
    this.#controller?.abort();
    await this.#running;
    this.#running = null;
    this.#controller = null;
    await this.#backend.releaseMaintenanceLock?.({
      name: LOCK_NAME,
      ownerId: this.#ownerId,
    }).catch((error) =>
      logger.warn("Could not release the retention lock: {error}", { error })
    );
  }

  /**
   * One sweep, if this worker holds (or takes) the lock.
   *
   * @returns How many runs were deleted; `null` when another worker holds
   * the lock.
   */
  async sweep(signal?: AbortSignal): Promise<number | null> {
    const backend = this.#backend;
    const hold = () =>
      backend.acquireMaintenanceLock!({
        name: LOCK_NAME,
        ownerId: this.#ownerId,
        durationMs: this.#lockMs,
      });
    if (backend.acquireMaintenanceLock === undefined || !await hold()) {
      return null;
    }
    let heldAt = performance.now();
    const now = (await backend.now?.())?.getTime() ?? Date.now();
    let total = 0;
    for (const [status, keepMs] of Object.entries(this.#config.keepMs)) {
      total += await deleteFinishedRuns(backend, {
        finishedBefore: new Date(now - keepMs),
        statuses: [status as FinishedStatus],
      }, {
        // Between batches: still wanted, and still this worker's to do
        // (the lock renewed once a quarter of its time has gone by).
        proceed: async () => {
          if (signal?.aborted === true) return false;
          if (performance.now() - heldAt < this.#lockMs / 4) return true;
          heldAt = performance.now();
          return await hold();
        },
      });
    }
    if (total > 0) {
      logger.info("Retention sweep deleted {count} finished runs", {
        count: total,
      });
    }
    return total;
  }
}
