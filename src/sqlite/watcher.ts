/**
 * Cross-process wake-ups for SQLite database files: one timer per process
 * per file, shared by every `BackendSqlite` on it, reads each subscribed
 * connection's `PRAGMA data_version`, which changes when another
 * connection (another process, or another backend here) commits. A change
 * is told to that backend's subscribers as `changed`: workers claim and
 * `result()` callers read their runs. Reading `data_version` touches no
 * table page (SQLite compares a counter in the WAL index in shared
 * memory), so a short interval costs microseconds.
 *
 * The timer looks every {@linkcode WATCH_INTERVAL_MS} while the file is
 * quiet, and every {@linkcode ACTIVE_WATCH_INTERVAL_MS} for a second after
 * a commit (another connection's, or one of this process's own, whose
 * answer is likely to come from another process soon).
 *
 * A watch of the file's write-ahead log (`node:fs` `watch`, where the file
 * system has one) hears another process's commit sooner: the log is
 * written as the commit starts, and from then on the connections are
 * looked at every turn of the event loop ({@linkcode BURST_MS} at most)
 * until one sees the commit, which becomes visible a sync to disk later.
 * A change this process's own connections just made (in the last
 * {@linkcode OWN_WRITE_MS}) is theirs, and starts no such burst. The watch
 * only hastens what the timer finds anyway: where it cannot be set up, or
 * fails, the timer alone hears every commit, within its interval. A file
 * watch alone would not do: its event comes before the commit is visible,
 * it also fires on this process's own writes, and it behaves differently
 * across runtimes and file systems; the pragma works wherever SQLite's WAL
 * does.
 *
 * Neither the timer nor the watch keeps a process alive; both stop with
 * the last subscription. In-memory databases have no other process to hear.
 *
 * @module
 */

import { type FSWatcher, watch as watchFile } from "node:fs";
import { clearInterval, setImmediate, setInterval } from "node:timers";
import type { BackendNotification } from "../core/backend.ts";

/** How often each file's subscribed connections are looked at when quiet. */
export const WATCH_INTERVAL_MS = 10;

/** How often they are looked at within a second of a commit. */
export const ACTIVE_WATCH_INTERVAL_MS = 1;

/** How long the file counts as active after a commit. */
const ACTIVE_FOR_MS = 1_000;

/**
 * How long after a write to the file's write-ahead log its commit is
 * looked for at every turn of the event loop.
 */
export const BURST_MS = 1;

/**
 * A write to the log this soon after one of this process's connections
 * committed is taken for that commit's.
 */
export const OWN_WRITE_MS = 0.5;

/** A connection whose commits by others are watched. */
export interface WatchedConnection {
  /** `PRAGMA data_version`, or `null` when it cannot be read (closed). */
  dataVersion(): number | null;
  /** When (`performance.now()`) it last committed a write transaction. */
  readonly lastCommitAt: number;
}

interface Subscription {
  connection: WatchedConnection;
  version: number | null;
  listener: (notification: BackendNotification) => void;
}

interface FileWatch {
  subscriptions: Set<Subscription>;
  timer: ReturnType<typeof setInterval> | null;
  /** Whether the timer runs at the active interval. */
  active: boolean;
  /** Until when (`performance.now()`) the file counts as active. */
  activeUntil: number;
  /** The watch of the write-ahead log, `null` where there is none. */
  log: FSWatcher | null;
  /** Until when (`performance.now()`) a burst looks at every turn. */
  burstUntil: number;
  /** The timer's intervals. */
  intervals: WatchIntervals;
}

/** The timer's intervals, in milliseconds. */
export interface WatchIntervals {
  /** While the file is quiet. */
  quietMs: number;
  /** Within a second of a commit. */
  activeMs: number;
}

const INTERVALS: WatchIntervals = {
  quietMs: WATCH_INTERVAL_MS,
  activeMs: ACTIVE_WATCH_INTERVAL_MS,
};

const watches = new Map<string, FileWatch>();

/** (Re)starts the file's timer at the active or the quiet interval. */
function schedule(watch: FileWatch, active: boolean): void {
  if (watch.timer !== null) clearInterval(watch.timer);
  watch.active = active;
  watch.timer = setInterval(
    () => tick(watch),
    active ? watch.intervals.activeMs : watch.intervals.quietMs,
  );
  watch.timer.unref();
}

/** Looks at every subscription; returns whether any heard a change. */
function tick(watch: FileWatch): boolean {
  const now = performance.now();
  let changed = false;
  for (const subscription of [...watch.subscriptions]) {
    watch.activeUntil = Math.max(
      watch.activeUntil,
      subscription.connection.lastCommitAt + ACTIVE_FOR_MS,
    );
    const version = subscription.connection.dataVersion();
    if (version === null || version === subscription.version) continue;
    subscription.version = version;
    watch.activeUntil = now + ACTIVE_FOR_MS;
    changed = true;
    try {
      subscription.listener({ kind: "changed" });
    } catch {
      // A listener's failure is its own; the others still hear.
    }
  }
  const active = now < watch.activeUntil;
  if (active !== watch.active && watch.subscriptions.size > 0) {
    schedule(watch, active);
  }
  return changed;
}

/**
 * The write-ahead log was written: a commit is on its way. Unless it is
 * this process's own, or already visible, the connections are looked at
 * every turn until it is. The events of one commit (a few writes), and
 * those of the commits in a burst, make one burst.
 */
function logWritten(watch: FileWatch): void {
  if (watch.burstUntil !== -Infinity || watch.subscriptions.size === 0) return;
  const now = performance.now();
  if (ownWrite(watch, now) || tick(watch)) return;
  watch.burstUntil = now + BURST_MS;
  look(watch);
}

/** Looks at each turn until a change is heard or the burst is over. */
function look(watch: FileWatch): void {
  setImmediate(() => {
    if (
      watch.subscriptions.size === 0 || tick(watch) ||
      performance.now() >= watch.burstUntil
    ) {
      watch.burstUntil = -Infinity;
    } else {
      look(watch);
    }
  });
}

/** Whether one of this process's connections on the file just committed. */
function ownWrite(watch: FileWatch, now: number): boolean {
  for (const { connection } of watch.subscriptions) {
    if (now - connection.lastCommitAt < OWN_WRITE_MS) return true;
  }
  return false;
}

/**
 * Watches `file`'s write-ahead log, where it exists and the file system
 * tells; `null` otherwise. A failure later closes the watch: the timer
 * carries on alone.
 */
function watchLog(file: string, watch: FileWatch): FSWatcher | null {
  let log: FSWatcher;
  try {
    log = watchFile(`${file}-wal`, () => logWritten(watch));
  } catch {
    return null;
  }
  log.on("error", () => {
    log.close();
    if (watch.log === log) watch.log = null;
  });
  log.unref();
  return log;
}

/**
 * Tells `listener` when another connection commits to `file` (an absolute
 * path, as SQLite names it), through `connection`'s `data_version`; first
 * that notifications are live. Returns the function that unsubscribes.
 * `intervals` (the defaults unless told) are the timer's, set by the
 * file's first subscriber.
 */
export function watchCommits(
  file: string,
  connection: WatchedConnection,
  listener: (notification: BackendNotification) => void,
  intervals: WatchIntervals = INTERVALS,
): () => void {
  let watch = watches.get(file);
  if (watch === undefined) {
    const created: FileWatch = {
      subscriptions: new Set(),
      timer: null,
      active: false,
      activeUntil: -Infinity,
      log: null,
      burstUntil: -Infinity,
      intervals,
    };
    watch = created;
    watches.set(file, created);
    schedule(created, false);
    created.log = watchLog(file, created);
  }
  const subscription: Subscription = {
    connection,
    version: connection.dataVersion(),
    listener,
  };
  watch.subscriptions.add(subscription);
  listener({ kind: "listening", listening: true });
  const owner = watch;
  return () => {
    owner.subscriptions.delete(subscription);
    if (owner.subscriptions.size === 0 && watches.get(file) === owner) {
      if (owner.timer !== null) clearInterval(owner.timer);
      owner.log?.close();
      owner.log = null;
      watches.delete(file);
    }
  };
}
