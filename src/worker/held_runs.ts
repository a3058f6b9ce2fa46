/**
 * The runs a worker holds, watched for an end that comes from elsewhere (a
 * cancel from another process, or a deadline failure once the lease has
 * lapsed), so that their executions stop at once and the signals of their
 * steps abort with the reason.
 *
 * While the backend's notifications are live, a `finished` notification
 * tells. Without them (SQLite, Postgres with `listen: false`, or while the
 * listening connection is down), the statuses of all the runs held are read
 * about once a second, in one query where the backend has
 * `getWorkflowRunStatuses`. No step waits for any of this.
 *
 * @module
 */

import type { Backend, WorkflowRunStatus } from "../core/backend.ts";
import { LeaseLostError, WorkflowCanceledError } from "../core/errors.ts";
import { isListening, onFinished } from "../core/wakeups.ts";

/**
 * How often, at the least, the statuses of held runs are read while
 * notifications are not live.
 */
export const STATUS_CHECK_INTERVAL_MS = 1000;

/** The runs one worker holds, each with the controller of its execution. */
export class HeldRuns {
  readonly #backend: Backend;
  readonly #workerId: string;
  readonly #checkIntervalMs: number;
  readonly #held = new Map<string, AbortController>();
  /** The held runs whose execution is writing their success. */
  readonly #ending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the periodic check is in flight. */
  #checking = false;
  readonly #checks = new Set<Promise<void>>();

  /**
   * @param backend The worker's backend.
   * @param workerId The worker's id.
   * @param checkIntervalMs How often statuses are read without
   * notifications.
   */
  constructor(backend: Backend, workerId: string, checkIntervalMs: number) {
    this.#backend = backend;
    this.#workerId = workerId;
    this.#checkIntervalMs = checkIntervalMs;
  }

  /**
   * Watches run `workflowRunId` until the returned function is called:
   * when the run ends elsewhere, `controller` is aborted with
   * `WorkflowCanceledError` (canceled) or `LeaseLostError` (any other end).
   */
  watch(workflowRunId: string, controller: AbortController): () => void {
    this.#held.set(workflowRunId, controller);
    this.#ending.delete(workflowRunId);
    // A wake-up that does not say how the run ended (notifications resumed
    // after an outage, a result too large to carry) is checked first.
    const stopListening = onFinished(
      this.#backend,
      workflowRunId,
      (outcome) => {
        if (outcome === null) this.#check([workflowRunId]);
        else this.#stop(workflowRunId, outcome.status);
      },
    );
    this.#schedule();
    return () => {
      stopListening();
      if (this.#held.get(workflowRunId) === controller) {
        this.#held.delete(workflowRunId);
        this.#ending.delete(workflowRunId);
      }
      if (this.#held.size === 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /**
   * Run `workflowRunId`'s execution is writing its success: the news that
   * the run succeeded is its own write heard back (often before the write
   * answers), not a reason to abort it. A cancel still is; any other end
   * from elsewhere refuses the write itself.
   */
  ending(workflowRunId: string): void {
    if (this.#held.has(workflowRunId)) this.#ending.add(workflowRunId);
  }

  /**
   * Why the worker's lease on a run it held is gone, once a fenced write was
   * refused with `lost`: `WorkflowCanceledError` when the run was canceled,
   * `lost` otherwise (or when the run cannot be read now).
   */
  async lostReason(
    workflowRunId: string,
    lost: LeaseLostError,
  ): Promise<Error> {
    try {
      const run = await this.#backend.getWorkflowRun({ workflowRunId });
      if (run?.status === "canceled") {
        return new WorkflowCanceledError(workflowRunId);
      }
    } catch {
      // Unreadable now: the lease is lost all the same.
    }
    return lost;
  }

  /** Resolves once no status check is in flight. */
  async settled(): Promise<void> {
    while (this.#checks.size > 0) await Promise.all(this.#checks);
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#checking || this.#held.size === 0) {
      return;
    }
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      if (!isListening(this.#backend)) {
        this.#checking = true;
        await this.#check([...this.#held.keys()]);
        this.#checking = false;
      }
      this.#schedule();
    }, this.#checkIntervalMs);
  }

  /** Reads the statuses of runs `ids`, and stops those that ended. */
  #check(ids: string[]): Promise<void> {
    const check = readStatuses(this.#backend, ids).then(
      (statuses) => {
        for (const id of ids) this.#stop(id, statuses.get(id) ?? null);
      },
      () => {}, // unreadable now: heartbeats and fenced writes will tell
    ).finally(() => this.#checks.delete(check));
    this.#checks.add(check);
    return check;
  }

  /**
   * Aborts the execution of run `id` when `status` says it ended, or that
   * no worker holds it any more (`pending` or `sleeping`: a cancel handed
   * it back for its compensations).
   */
  #stop(id: string, status: WorkflowRunStatus | null): void {
    if (status === "running") return;
    if (status === "succeeded" && this.#ending.has(id)) return;
    this.#held.get(id)?.abort(
      status === "canceled"
        ? new WorkflowCanceledError(id)
        : new LeaseLostError(id, this.#workerId),
    );
  }
}

/** The statuses of runs `ids` (unknown ones left out), in one read if can be. */
async function readStatuses(
  backend: Backend,
  ids: string[],
): Promise<Map<string, WorkflowRunStatus>> {
  const runs = backend.getWorkflowRunStatuses === undefined
    ? (await Promise.all(
      ids.map((workflowRunId) => backend.getWorkflowRun({ workflowRunId })),
    )).filter((run) => run !== null)
    : await backend.getWorkflowRunStatuses({ workflowRunIds: ids });
  return new Map(runs.map((run) => [run.id, run.status]));
}
