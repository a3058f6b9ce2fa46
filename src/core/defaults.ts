/**
 * Default values, with the names and values OpenWorkflow uses.
 *
 * @module
 */

/**
 * How often `WorkflowRunHandle.result()` checks the database for the outcome
 * when no notification wakes it sooner: 1 second. The default of
 * `ResultOptions.pollIntervalMs`.
 */
export const DEFAULT_RESULT_POLL_INTERVAL_MS = 1000;

/**
 * How long `WorkflowRunHandle.result()` waits by default: 5 minutes. The
 * default of `ResultOptions.timeoutMs`.
 */
export const DEFAULT_RESULT_TIMEOUT_MS = 300_000;

/**
 * How long a worker's claim on a run lasts between heartbeats: 30 seconds.
 * Workers renew it every third of that. The default of
 * `WorkerOptions.leaseDurationMs`.
 */
export const DEFAULT_LEASE_DURATION_MS = 30_000;

/**
 * How often an idle worker looks for runs when no notification wakes it
 * sooner: 100 ms. The default of `WorkerOptions.pollIntervalMs`.
 */
export const DEFAULT_POLL_INTERVAL_MS = 100;

/**
 * How often idle workers and `result()` poll while the backend's
 * notifications are live (Postgres LISTEN/NOTIFY): 5 seconds. Notifications
 * wake them at once; this poll is the safety net.
 */
export const DEFAULT_FALLBACK_POLL_INTERVAL_MS = 5000;

/**
 * How many runs a worker executes at once by default: 1. The default of
 * `WorkerOptions.concurrency`.
 */
export const DEFAULT_CONCURRENCY = 1;

/** The namespace a backend uses unless told otherwise: `"default"`. */
export const DEFAULT_NAMESPACE_ID = "default";
