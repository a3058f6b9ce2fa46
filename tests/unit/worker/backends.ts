/**
 * Backends for the worker's unit tests: the real SQLite backend in memory,
 * with runs in the statuses a test needs, and a view of it that adds what
 * SQLite lacks (notifications) or takes away an optional method, and counts
 * the calls made.
 */

import type {
  Backend,
  BackendNotification,
  WorkflowRun,
} from "../../../src/core/backend.ts";
import { BackendSqlite } from "../../../backend_sqlite.ts";

/** The worker that holds the runs of these tests. */
export const WORKER_ID = "worker-a";

/** A SQLite backend in memory. */
export function connectSqlite(): Promise<BackendSqlite> {
  return BackendSqlite.connect(":memory:");
}

/** Creates a run and claims it for `WORKER_ID`: a `running` run. */
export async function runningRun(backend: Backend): Promise<WorkflowRun> {
  const created = await backend.createWorkflowRun({
    workflowName: "w",
    version: null,
    config: {},
    context: null,
    input: null,
    availableAt: null,
    deadlineAt: null,
    idempotencyKey: null,
  });
  const [claimed] = await backend.claimWorkflowRuns({
    workerId: WORKER_ID,
    leaseDurationMs: 3_600_000,
    limit: 1,
  });
  if (claimed?.id !== created.id) throw new Error("the run was not claimed");
  return claimed;
}

/** Cancels run `id` as another process would. */
export async function cancelRun(backend: Backend, id: string): Promise<void> {
  const canceled = await backend.cancelWorkflowRun({
    workflowRunId: id,
    error: { name: "Error", message: "canceled elsewhere" },
  });
  if (canceled?.status !== "canceled") throw new Error("not canceled");
}

/** A view of a backend, and what was done through it. */
export interface BackendView {
  backend: Backend;
  /** The calls of each method, by name. */
  calls: Map<string, unknown[][]>;
  /** Sends a notification to the subscriber (the view has `subscribe`). */
  notify(notification: BackendNotification): void;
}

/**
 * A view of `inner` that counts calls; with `subscribe` (which SQLite
 * lacks) when `notifications`, and without the methods named in `without`.
 * `override` replaces methods.
 */
export function viewOf(
  inner: Backend,
  options: {
    notifications?: boolean;
    without?: (keyof Backend)[];
    override?: Partial<Backend>;
  } = {},
): BackendView {
  const calls = new Map<string, unknown[][]>();
  const listeners: ((notification: BackendNotification) => void)[] = [];
  const subscribe = (listener: (n: BackendNotification) => void) => {
    listeners.push(listener);
    return () => listeners.splice(listeners.indexOf(listener), 1);
  };
  const backend = new Proxy(inner, {
    get(target, key) {
      if (options.without?.includes(key as keyof Backend)) return undefined;
      let value: unknown;
      if (key === "subscribe" && options.notifications) value = subscribe;
      else if (options.override !== undefined && key in options.override) {
        value = options.override[key as keyof Backend];
      } else value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const list = calls.get(String(key)) ?? [];
        list.push(args);
        calls.set(String(key), list);
        return method.apply(target, args);
      };
    },
  });
  return {
    backend,
    calls,
    notify(notification) {
      for (const listener of [...listeners]) listener(notification);
    },
  };
}
