/**
 * The polls of waiting `result()` calls, read together: the statuses that
 * the handles waiting on one backend in this process ask for go out as one
 * `getWorkflowRunStatuses` call (ids and statuses only, up to
 * {@linkcode MAX_STATUS_READ_IDS} at a time), one read in flight at a
 * time: a lone read goes out at the next turn of the event loop, and those
 * asked for while it is in flight go together once it is done. A handle
 * reads its whole run only once its status says the run has finished. Ten
 * thousand waiting handles, each polling every few seconds, so cost a few
 * small reads a second rather than thousands of whole runs to fetch and
 * parse; and a wake-up that does not say how a run ended (SQLite's, when
 * another process commits) costs one read of every waiting run, not one
 * each, and no wait for others to join it.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Backend, WorkflowRunStatus } from "../core/backend.ts";

/** How finely the polls of waiting handles are grouped in time. */
export const STATUS_READ_WINDOW_MS = 10;

/** The most runs one status read asks for. */
export const MAX_STATUS_READ_IDS = 1_000;

interface Waiter {
  resolve: (status: WorkflowRunStatus | null) => void;
  reject: (error: unknown) => void;
}

interface Queue {
  /** The waiters of each run id (lowercase) not yet asked for. */
  waiters: Map<string, Waiter[]>;
  /** The read due at the next turn, if any. */
  timer: ReturnType<typeof setImmediate> | null;
  /** Whether a read is in flight (the next waits for it). */
  reading: boolean;
}

const queues = new WeakMap<Backend, Queue>();

/**
 * The status of run `workflowRunId` (`null` when it does not exist), read
 * with the others asked for about now. `backend` must have
 * `getWorkflowRunStatuses`.
 */
export function readStatus(
  backend: Backend,
  workflowRunId: string,
): Promise<WorkflowRunStatus | null> {
  let queue = queues.get(backend);
  if (queue === undefined) {
    queues.set(
      backend,
      queue = { waiters: new Map(), timer: null, reading: false },
    );
  }
  const id = workflowRunId.toLowerCase();
  return new Promise((resolve, reject) => {
    const list = queue.waiters.get(id) ?? [];
    list.push({ resolve, reject });
    queue.waiters.set(id, list);
    if (!queue.reading) next(backend, queue);
  });
}

/** Sends the queued ids at the next turn, unless that is arranged. */
function next(backend: Backend, queue: Queue): void {
  queue.timer ??= setImmediate(() => flush(backend, queue));
}

/** Sends up to the first 1,000 queued ids as one read; settles their waiters. */
function flush(backend: Backend, queue: Queue): void {
  queue.timer = null;
  const waiters = new Map<string, Waiter[]>();
  for (const [id, list] of queue.waiters) {
    if (waiters.size === MAX_STATUS_READ_IDS) break;
    waiters.set(id, list);
  }
  if (waiters.size === 0) return;
  for (const id of waiters.keys()) queue.waiters.delete(id);
  queue.reading = true;
  // A call that throws rejects its waiters as one that rejects does.
  Promise.resolve().then(() =>
    backend.getWorkflowRunStatuses!({ workflowRunIds: [...waiters.keys()] })
  ).then(
    (runs) => {
      const statuses = new Map(
        runs.map((run) => [run.id.toLowerCase(), run.status]),
      );
      for (const [id, list] of waiters) {
        for (const waiter of list) waiter.resolve(statuses.get(id) ?? null);
      }
    },
    (error) => {
      for (const list of waiters.values()) {
        for (const waiter of list) waiter.reject(error);
      }
    },
  ).finally(() => {
    queue.reading = false;
    if (queue.waiters.size > 0) next(backend, queue);
  });
}

/** What one poll of a run's status found: its status, or why it failed. */
export type StatusPoll =
  | { status: WorkflowRunStatus | null }
  | { error: unknown };

interface Poll {
  id: string;
  /** Takes what a read found; returns when to read again (ms), or `null`. */
  check: (found: StatusPoll) => number | null;
  live: boolean;
  /** The slot the poll waits in, while it waits. */
  slot: Slot | null;
}

interface Slot {
  /** When it is due (`performance.now()`). */
  at: number;
  polls: Poll[];
  /** How many of `polls` still wait: the slot's timer goes with the last. */
  waiting: number;
  timer: ReturnType<typeof setTimeout>;
}

/** The polls of each backend, by the 10 ms slot they are due in. */
const slotsOf = new WeakMap<Backend, Map<number, Slot>>();

/**
 * Reads run `workflowRunId`'s status `firstMs` from now, gives what it
 * found to `check`, and reads it again as many ms later as `check`
 * returns, until it returns `null` or the returned function is called.
 * The polls of all the handles waiting on one backend share one timer per
 * {@linkcode STATUS_READ_WINDOW_MS} slot and their reads (see
 * {@linkcode readStatus}): a hundred thousand waiting handles keep a few
 * hundred timers, not a timer, a wait and a round of promises each per
 * poll. A slot's timer is cleared once none of its polls waits. `backend`
 * must have `getWorkflowRunStatuses`.
 */
export function pollStatus(
  backend: Backend,
  workflowRunId: string,
  firstMs: number,
  check: (found: StatusPoll) => number | null,
): () => void {
  const poll: Poll = { id: workflowRunId, check, live: true, slot: null };
  schedule(backend, poll, firstMs);
  return () => {
    poll.live = false;
    leave(backend, poll);
  };
}

function schedule(backend: Backend, poll: Poll, ms: number): void {
  let slots = slotsOf.get(backend);
  if (slots === undefined) slotsOf.set(backend, slots = new Map());
  const now = performance.now();
  const at = Math.ceil((now + ms) / STATUS_READ_WINDOW_MS) *
    STATUS_READ_WINDOW_MS;
  let slot = slots.get(at);
  if (slot === undefined) {
    const created: Slot = {
      at,
      polls: [],
      waiting: 0,
      timer: setTimeout(() => {
        slots.delete(at);
        for (const each of created.polls) {
          if (each.slot !== created) continue; // left it
          each.slot = null;
          read(backend, each);
        }
      }, at - now),
    };
    slot = created;
    slots.set(at, slot);
  }
  slot.polls.push(poll);
  slot.waiting++;
  poll.slot = slot;
}

/** Takes `poll` out of its slot; clears the slot's timer if it was the last. */
function leave(backend: Backend, poll: Poll): void {
  const slot = poll.slot;
  if (slot === null) return;
  poll.slot = null;
  if (--slot.waiting > 0) return;
  clearTimeout(slot.timer);
  const slots = slotsOf.get(backend);
  if (slots?.get(slot.at) === slot) slots.delete(slot.at);
}

function read(backend: Backend, poll: Poll): void {
  const found = (result: StatusPoll) => {
    if (!poll.live) return;
    const nextMs = poll.check(result);
    if (nextMs === null) poll.live = false;
    else schedule(backend, poll, nextMs);
  };
  readStatus(backend, poll.id).then(
    (status) => found({ status }),
    (error: unknown) => found({ error }),
  );
}
