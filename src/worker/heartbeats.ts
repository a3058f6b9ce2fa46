/**
 * Keeping a claimed run's lease: the heartbeats that renew it while the
 * run executes, and what the worker does when renewing fails.
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { withTimeout } from "../core/waits.ts";
import { LeaseLostError } from "../core/errors.ts";
import type { HeldRuns } from "./held_runs.ts";

/** What {@linkcode startHeartbeat} needs. */
export interface HeartbeatOptions {
  /** The worker's backend. */
  backend: Backend;
  /** The id of the worker holding the run. */
  workerId: string;
  /** The run whose lease is kept. */
  workflowRunId: string;
  /** How long a claim or renewal lasts. */
  leaseDurationMs: number;
  /** The controller of the run's execution, aborted when the lease is lost. */
  controller: AbortController;
  /** The worker's held runs, which tell why a lease was refused. */
  held: HeldRuns;
  /** Called with a renewal's error when that did not lose the lease. */
  onError: (error: unknown) => void;
}

/**
 * Renews the run's lease every third of the lease duration. Aborts
 * `controller` when the lease is lost, or when no renewal succeeded for a
 * whole lease duration (the run may be someone else's by then).
 *
 * @returns A function that stops the heartbeats, resolving once the one
 * in flight, if any, has ended.
 */
export function startHeartbeat(
  options: HeartbeatOptions,
): () => Promise<void> {
  const { backend, workerId, workflowRunId, leaseDurationMs, controller } =
    options;
  const intervalMs = leaseDurationMs / 3;
  let renewedAt = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;
  const beat = async () => {
    const startedAt = performance.now();
    // A heartbeat that has not answered by the end of the lease counts
    // as lost: it is not waited for any longer.
    let unanswered = false;
    try {
      await withTimeout(
        backend.heartbeatWorkflowRun({
          workflowRunId,
          workerId,
          leaseDurationMs,
        }),
        renewedAt + leaseDurationMs - startedAt,
        () => {
          unanswered = true;
          return new LeaseLostError(workflowRunId, workerId);
        },
      );
      renewedAt = startedAt;
    } catch (error) {
      if (error instanceof LeaseLostError) {
        // Refused (not unanswered): the steps' signals say why when the
        // run was canceled.
        controller.abort(
          unanswered
            ? error
            : await options.held.lostReason(workflowRunId, error),
        );
        return;
      }
      options.onError(error);
      if (performance.now() - renewedAt >= leaseDurationMs) {
        controller.abort(new LeaseLostError(workflowRunId, workerId));
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
