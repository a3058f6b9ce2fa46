/**
 * Default values, with the seed's names and values.
 *
 * @module
 */

/**
 * How often `WorkflowRunHandle.result()` checks the database for the outcome
 * when no notification wakes it sooner: 1 second.
 *
 * @example Poll twice as often as the default
 * ```ts
 * import {
 *   DEFAULT_RESULT_POLL_INTERVAL_MS,
 *   type ResultOptions,
 * } from "@openworkflow/core";
 *
 * const options: ResultOptions = {
 *   pollIntervalMs: DEFAULT_RESULT_POLL_INTERVAL_MS / 2,
 * };
 * console.log(options.pollIntervalMs); // 500
 * ```
 */
export const DEFAULT_RESULT_POLL_INTERVAL_MS = 1000;

/**
 * How long `WorkflowRunHandle.result()` waits by default: 5 minutes.
 *
 * @example Wait longer than the default
 * ```ts
 * import { DEFAULT_RESULT_TIMEOUT_MS, type ResultOptions } from "@openworkflow/core";
 *
 * const options: ResultOptions = { timeoutMs: DEFAULT_RESULT_TIMEOUT_MS * 2 };
 * console.log(options.timeoutMs); // 600000
 * ```
 */
export const DEFAULT_RESULT_TIMEOUT_MS = 300_000;

/**
 * How long a worker's claim on a run lasts between heartbeats: 30 seconds.
 * Workers renew it every third of that.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEASE_DURATION_MS } from "@openworkflow/core";
 *
 * const heartbeatEveryMs = DEFAULT_LEASE_DURATION_MS / 3;
 * console.log(heartbeatEveryMs); // 10000
 * ```
 */
export const DEFAULT_LEASE_DURATION_MS = 30_000;

/**
 * How often an idle worker looks for runs when no notification wakes it
 * sooner: 100 ms.
 *
 * @example A worker that polls less often than the default
 * ```ts
 * import { DEFAULT_POLL_INTERVAL_MS, OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const worker = ow.newWorker({ pollIntervalMs: DEFAULT_POLL_INTERVAL_MS * 5 });
 * console.log(worker.activeCount); // 0
 * ```
 */
export const DEFAULT_POLL_INTERVAL_MS = 100;

/**
 * How often idle workers and `result()` poll while the backend's
 * notifications are live (Postgres LISTEN/NOTIFY): 5 seconds. Notifications
 * wake them at once; this poll is the safety net.
 *
 * @example
 * ```ts
 * import {
 *   DEFAULT_FALLBACK_POLL_INTERVAL_MS,
 *   DEFAULT_POLL_INTERVAL_MS,
 * } from "@openworkflow/core";
 *
 * // How many times fewer polls an idle worker makes while notifications are live.
 * console.log(DEFAULT_FALLBACK_POLL_INTERVAL_MS / DEFAULT_POLL_INTERVAL_MS); // 50
 * ```
 */
export const DEFAULT_FALLBACK_POLL_INTERVAL_MS = 5000;

/**
 * How many runs a worker executes at once by default: 1.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONCURRENCY, OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const worker = ow.newWorker({ concurrency: DEFAULT_CONCURRENCY * 10 });
 * console.log(worker.activeCount); // 0
 * ```
 */
export const DEFAULT_CONCURRENCY = 1;

/**
 * The namespace a backend uses unless told otherwise: `"default"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_NAMESPACE_ID } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * assert.equal(backend.namespaceId, DEFAULT_NAMESPACE_ID);
 * ```
 */
export const DEFAULT_NAMESPACE_ID = "default";
