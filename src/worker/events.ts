/**
 * The events a `Worker` dispatches, and its log output: every event is also
 * logged through LogTape under the category `["openworkflow", "worker"]`,
 * which stays silent until the application configures LogTape.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

/**
 * The types of {@linkcode WorkerEvent}:
 * - `run-claimed`: the worker claimed a run and starts executing it.
 * - `run-succeeded`, `run-failed`: the worker finished a run.
 * - `run-canceled`: the worker ended a run canceled with its compensations
 *   (`cancelRun(id, { compensate: true })`), once they had run.
 * - `run-released`: the run parked (durable sleep, retry wait) and freed
 *   its slot.
 * - `step-failed`: a step attempt failed (it may be retried).
 * - `lease-lost`: the run is no longer this worker's (its lease lapsed and
 *   another worker took it, or it was canceled); the execution stopped.
 * - `error`: the backend failed (claiming, heartbeating or writing); the
 *   worker goes on, and the run is resumed once its lease lapses.
 */
export type WorkerEventType =
  | "run-claimed"
  | "run-succeeded"
  | "run-failed"
  | "run-canceled"
  | "run-released"
  | "step-failed"
  | "lease-lost"
  | "error";

/** What a {@linkcode WorkerEvent} carries. */
export interface WorkerEventInit {
  /** The worker's id. */
  workerId: string;
  /**
   * The run concerned, if any.
   * @default {null}
   */
  workflowRunId?: string | null;
  /**
   * The run's workflow, if any.
   * @default {null}
   */
  workflowName?: string | null;
  /**
   * The step concerned, if any.
   * @default {null}
   */
  stepName?: string | null;
  /**
   * The attempt (of the step, or the run's claim count), if any.
   * @default {null}
   */
  attempt?: number | null;
  /**
   * The error, for `run-failed`, `step-failed`, `lease-lost` and `error`.
   * @default {undefined}
   */
  error?: unknown;
}

/**
 * An event dispatched by a `Worker`.
 *
 * @example
 * ```ts ignore
 * worker.addEventListener("step-failed", (event) => {
 *   console.warn(`${event.workflowName}/${event.stepName} attempt ${event.attempt}:`, event.error);
 * });
 * worker.addEventListener("error", (event) => {
 *   console.error(`worker ${event.workerId}: backend error`, event.error);
 * });
 * ```
 */
export class WorkerEvent extends Event {
  /** The worker's id. */
  readonly workerId: string;
  /** The run concerned, or `null`. */
  readonly workflowRunId: string | null;
  /** The run's workflow, or `null`. */
  readonly workflowName: string | null;
  /** The step concerned, or `null`. */
  readonly stepName: string | null;
  /** The attempt (of the step, or the run's claim count), or `null`. */
  readonly attempt: number | null;
  /** The error, if any. */
  readonly error: unknown;

  /**
   * Creates an event.
   *
   * @param type The event type.
   * @param init What the event carries.
   */
  constructor(type: WorkerEventType, init: WorkerEventInit) {
    super(type);
    this.workerId = init.workerId;
    this.workflowRunId = init.workflowRunId ?? null;
    this.workflowName = init.workflowName ?? null;
    this.stepName = init.stepName ?? null;
    this.attempt = init.attempt ?? null;
    this.error = init.error;
  }
}

const logger = getLogger(["openworkflow", "worker"]);

const MESSAGES: Record<WorkerEventType, string> = {
  "run-claimed":
    "Claimed run {workflowRunId} of {workflowName} (attempt {attempt})",
  "run-succeeded": "Run {workflowRunId} of {workflowName} succeeded",
  "run-failed": "Run {workflowRunId} of {workflowName} failed: {error}",
  "run-canceled":
    "Run {workflowRunId} of {workflowName} was canceled and compensated",
  "run-released": "Run {workflowRunId} of {workflowName} parked",
  "step-failed":
    "Step {stepName} of run {workflowRunId} failed (attempt {attempt}): {error}",
  "lease-lost":
    "Run {workflowRunId} of {workflowName} is no longer ours: {error}",
  "error": "Worker {workerId} backend error: {error}",
};

/** The level each type of event is logged at. */
const LEVELS: Record<WorkerEventType, "debug" | "warning" | "error"> = {
  "run-claimed": "debug",
  "run-succeeded": "debug",
  "run-canceled": "debug",
  "run-released": "debug",
  "run-failed": "warning",
  "step-failed": "warning",
  "lease-lost": "warning",
  "error": "error",
};

/**
 * Whether LogTape, as configured now, would log events of type `type`:
 * without it (or a listener), an event is not built at all.
 */
export function isWorkerEventLogged(type: WorkerEventType): boolean {
  return logger.isEnabledFor(LEVELS[type]);
}

/** Logs an event at the level its type deserves. */
export function logWorkerEvent(event: WorkerEvent): void {
  const properties = {
    workerId: event.workerId,
    workflowRunId: event.workflowRunId,
    workflowName: event.workflowName,
    stepName: event.stepName,
    attempt: event.attempt,
    error: event.error,
  };
  const message = MESSAGES[event.type as WorkerEventType];
  switch (event.type as WorkerEventType) {
    case "run-claimed":
    case "run-succeeded":
    case "run-canceled":
    case "run-released":
      return logger.debug(message, properties);
    case "run-failed":
    case "step-failed":
    case "lease-lost":
      return logger.warn(message, properties);
    case "error":
      return logger.error(message, properties);
  }
}

type Listener =
  | ((event: WorkerEvent) => void)
  | { handleEvent(event: WorkerEvent): void };

const guarded = new WeakMap<Listener, (event: Event) => void>();

/**
 * The listener the worker really registers for `listener`: it calls
 * `listener` and logs what it throws (or its returned promise rejects with)
 * instead of letting the error escape as an uncaught exception, which
 * `EventTarget` would report and which ends a Node or Deno process. The same
 * listener always maps to the same wrapper, so `removeEventListener` and
 * `EventTarget`'s de-duplication work as usual.
 */
export function guardListener(
  listener: Listener | null,
): ((event: Event) => void) | null {
  if (listener === null || listener === undefined) return null;
  let wrapper = guarded.get(listener);
  if (wrapper === undefined) {
    wrapper = function (this: unknown, event: Event): void {
      const failed = (error: unknown) => logListenerError(event, error);
      try {
        const result: unknown = typeof listener === "function"
          ? listener.call(this, event as WorkerEvent)
          : listener.handleEvent(event as WorkerEvent);
        if (
          result !== null && typeof result === "object" &&
          typeof (result as PromiseLike<unknown>).then === "function"
        ) {
          Promise.resolve(result).catch(failed);
        }
      } catch (error) {
        failed(error);
      }
    };
    guarded.set(listener, wrapper);
  }
  return wrapper;
}

function logListenerError(event: Event, error: unknown): void {
  const { workerId, workflowRunId, workflowName } = event as WorkerEvent;
  logger.error("A listener of {eventType} threw: {error}", {
    eventType: event.type,
    workerId,
    workflowRunId,
    workflowName,
    error,
  });
}
