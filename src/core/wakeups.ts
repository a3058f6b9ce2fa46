/**
 * Wake-ups for the workers and `result()` callers of one backend object:
 * from this process (a run created or finished here) without a database
 * round trip, and from other processes through the backend's notifications
 * when it has them (`Backend.subscribe`). Polling stays as the fallback, so
 * correctness never depends on a wake-up.
 *
 * @module
 */

import type { Backend, BackendNotification, RunOutcome } from "./backend.ts";

/** Called when runs may be claimable: now (`null`) or at `atMs`. */
type AvailableListener = (atMs: number | null) => void;

interface Channel {
  available: Set<AvailableListener>;
  finished: Map<string, Set<(outcome: RunOutcome | null) => void>>;
  /** Called when the backend's clock moved by more than time passing. */
  clockMoved: Set<() => void>;
  /** Called when notifications become live (again). */
  relistened: Set<() => void>;
  /** Called when another process changed the database in ways not told. */
  changed: Set<() => void>;
  /** Whether the backend's notifications are live. */
  listening: boolean;
  /** Whether they tell every finish while live (`finishes` of `listening`). */
  finishesTold: boolean;
  /**
   * Bumped whenever a finish may have gone untold: notifications went
   * live or down, or another process changed the database without saying
   * which runs.
   */
  epoch: number;
  /** The runs heard finished lately, each with its place in `heard`. */
  recent: Map<string, number>;
  /** How many finishes were heard. */
  heard: number;
  /** The place of the latest finish `recent` no longer holds. */
  forgotten: number;
}

/** How many finished runs a backend's channel remembers. */
const RECENT_FINISHES = 4096;

const channels = new WeakMap<Backend, Channel>();

function channelOf(backend: Backend): Channel {
  let channel = channels.get(backend);
  if (channel === undefined) {
    const created: Channel = {
      available: new Set(),
      finished: new Map(),
      clockMoved: new Set(),
      relistened: new Set(),
      changed: new Set(),
      listening: false,
      finishesTold: false,
      epoch: 0,
      recent: new Map(),
      heard: 0,
      forgotten: 0,
    };
    channel = created;
    channels.set(backend, created);
    backend.subscribe?.((notification) =>
      route(backend, created, notification)
    );
  }
  return channel;
}

function route(
  backend: Backend,
  channel: Channel,
  notification: BackendNotification,
): void {
  switch (notification.kind) {
    case "available":
      return notifyAvailable(backend, notification.availableAt);
    case "finished":
      return notifyFinished(
        backend,
        notification.workflowRunId,
        notification.outcome ?? null,
      );
    case "changed":
      channel.epoch++;
      for (const listener of [...channel.changed]) listener();
      notifyAvailable(backend);
      for (const id of [...channel.finished.keys()]) wake(channel, id, null);
      return;
    case "listening": {
      const wasListening = channel.listening;
      channel.listening = notification.listening;
      channel.finishesTold = notification.finishes === true;
      channel.epoch++;
      if (notification.listening) {
        for (const listener of [...channel.relistened]) listener();
      }
      // Listening again, notifications may have been missed; no longer
      // listening, waiters sleep for the slower fallback interval and would
      // miss wake-ups meanwhile: either way, everyone re-checks (and then
      // waits for the interval that now applies).
      if (notification.listening || wasListening) {
        notifyAvailable(backend);
        for (const id of [...channel.finished.keys()]) {
          wake(channel, id, null);
        }
      }
    }
  }
}

/**
 * Whether `backend`'s notifications are live, so that waiters may poll at
 * the slower fallback interval.
 */
export function isListening(backend: Backend): boolean {
  return channelOf(backend).listening;
}

/**
 * Tells this process's workers on `backend` that runs may be claimable, now
 * or at `at`.
 */
export function notifyAvailable(
  backend: Backend,
  at: Date | null = null,
): void {
  const atMs = at === null || at.getTime() <= Date.now() ? null : at.getTime();
  for (const listener of channelOf(backend).available) listener(atMs);
}

/**
 * Tells this process's waiters on `backend` that a run finished (and how,
 * when `outcome` is known).
 */
export function notifyFinished(
  backend: Backend,
  workflowRunId: string,
  outcome: RunOutcome | null = null,
): void {
  const channel = channelOf(backend);
  const recent = channel.recent;
  recent.delete(workflowRunId);
  recent.set(workflowRunId, ++channel.heard);
  if (recent.size > RECENT_FINISHES) {
    const [oldest, heard] = recent.entries().next().value!;
    recent.delete(oldest);
    channel.forgotten = heard;
  }
  wake(channel, workflowRunId, outcome);
}

/** Calls the listeners of run `workflowRunId`'s finish. */
function wake(
  channel: Channel,
  workflowRunId: string,
  outcome: RunOutcome | null,
): void {
  const listeners = channel.finished.get(workflowRunId);
  if (listeners !== undefined) {
    for (const listener of [...listeners]) listener(outcome);
  }
}

/**
 * Where a backend's finishes stood at a moment ({@linkcode markFinishes}),
 * to ask later with {@linkcode finishedSince} whether a run finished since.
 */
export interface FinishMark {
  readonly epoch: number;
  readonly heard: number;
}

/**
 * Marks where `backend`'s finishes stand now; `null` unless its
 * notifications are live and tell every finish (`finishes` of the
 * `listening` notification).
 */
export function markFinishes(backend: Backend): FinishMark | null {
  const channel = channelOf(backend);
  return channel.listening && channel.finishesTold
    ? { epoch: channel.epoch, heard: channel.heard }
    : null;
}

/**
 * Whether run `workflowRunId` was heard finished since `mark`: `true` when
 * it was (or may have been), `false` when it was not and every finish since
 * `mark` was told and is remembered, `undefined` when that cannot be said
 * (notifications went down or came back, another process changed the
 * database untold, or more finishes were heard since than are remembered).
 * A run that finishes in another process is told only once its
 * notification arrives: `false` says that none has yet.
 */
export function finishedSince(
  backend: Backend,
  mark: FinishMark,
  workflowRunId: string,
): boolean | undefined {
  const channel = channelOf(backend);
  // A mark is made only while notifications are live and tell every
  // finish, and any `listening` notification since moved the epoch.
  if (channel.epoch !== mark.epoch || channel.forgotten > mark.heard) {
    return undefined;
  }
  return channel.recent.has(workflowRunId);
}

/** Calls `listener` whenever runs may become claimable. */
export function onAvailable(
  backend: Backend,
  listener: AvailableListener,
): () => void {
  const set = channelOf(backend).available;
  set.add(listener);
  return () => set.delete(listener);
}

/** Calls `listener` when run `workflowRunId` finishes. */
export function onFinished(
  backend: Backend,
  workflowRunId: string,
  listener: (outcome: RunOutcome | null) => void,
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
 * Tells this process's workers on `backend` that its clock jumped (a test
 * clock moved forward): what fell due meanwhile (claimable runs, passed
 * deadlines, schedule slots) is looked at once, whatever the intervals of
 * the periodic checks.
 */
export function notifyClockMoved(backend: Backend): void {
  for (const listener of [...channelOf(backend).clockMoved]) listener();
}

/** Calls `listener` whenever `backend`'s clock jumps. */
export function onClockMoved(
  backend: Backend,
  listener: () => void,
): () => void {
  const set = channelOf(backend).clockMoved;
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * Calls `listener` whenever `backend`'s notifications become live, at
 * first or after a gap in which some may have been missed.
 */
export function onListening(
  backend: Backend,
  listener: () => void,
): () => void {
  const set = channelOf(backend).relistened;
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * Calls `listener` whenever another process changed `backend`'s database
 * in ways its notifications do not tell (a `changed` notification): what
 * only a read finds (schedules created there) may be new.
 */
export function onChanged(backend: Backend, listener: () => void): () => void {
  const set = channelOf(backend).changed;
  set.add(listener);
  return () => set.delete(listener);
}
