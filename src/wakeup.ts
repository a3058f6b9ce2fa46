/**
 * In-process wake-ups between the clients, handles and workers that share a
 * backend object: a run created here wakes the workers here, a run finished
 * here wakes the `result()` callers here, without a database round trip.
 * Polling stays as the fallback, so correctness never depends on a wake-up.
 *
 * @module
 */

import type { Backend } from "./backend.ts";

/** What happened to a run. */
export type WakeupKind = "available" | "finished";

type Listener = (workflowRunId: string | null) => void;

interface Channel {
  available: Set<Listener>;
  finished: Map<string, Set<Listener>>;
}

const channels = new WeakMap<Backend, Channel>();

function channelOf(backend: Backend): Channel {
  let channel = channels.get(backend);
  if (channel === undefined) {
    channel = { available: new Set(), finished: new Map() };
    channels.set(backend, channel);
  }
  return channel;
}

/** Tells this process's workers on `backend` that a run may be claimable. */
export function notifyAvailable(backend: Backend): void {
  for (const listener of channelOf(backend).available) listener(null);
}

/** Tells this process's waiters on `backend` that a run finished. */
export function notifyFinished(backend: Backend, workflowRunId: string): void {
  const listeners = channelOf(backend).finished.get(workflowRunId);
  if (listeners !== undefined) {
    for (const listener of listeners) listener(workflowRunId);
  }
}

/** Calls `listener` whenever a run may have become claimable. */
export function onAvailable(
  backend: Backend,
  listener: () => void,
): () => void {
  const set = channelOf(backend).available;
  set.add(listener);
  return () => set.delete(listener);
}

/** Calls `listener` once run `workflowRunId` finishes in this process. */
export function onFinished(
  backend: Backend,
  workflowRunId: string,
  listener: () => void,
): () => void {
  const finished = channelOf(backend).finished;
  let set = finished.get(workflowRunId);
  if (set === undefined) {
    set = new Set();
    finished.set(workflowRunId, set);
  }
  const listeners = set;
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && finished.get(workflowRunId) === listeners) {
      finished.delete(workflowRunId);
    }
  };
}

/**
 * Resolves after `ms`, when run `workflowRunId` finishes in this process,
 * or when `signal` aborts, whichever comes first. Never rejects.
 */
export function waitForFinish(
  backend: Backend,
  workflowRunId: string,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      stopListening();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stopListening = onFinished(backend, workflowRunId, done);
    signal?.addEventListener("abort", done, { once: true });
    if (signal?.aborted) done();
  });
}
