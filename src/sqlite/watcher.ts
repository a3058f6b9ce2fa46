/**
 * Cross-process wake-ups for SQLite database files: one timer per process
 * per file, shared by every `BackendSqlite` on it, reads each subscribed
 * connection's `PRAGMA data_version`, which changes when another
 * connection (another process, or another backend here) commits. A change
 * is told to that backend's subscribers as `changed`: workers claim and
 * `result()` callers read their runs. Reading `data_version` touches no
 * table page (SQLite compares a counter in the WAL index in shared
 * memory), so a short interval costs microseconds. A file watch was the
 * other way: it also fires on this connection's own writes, needs a
 * resource per file and behaves differently across runtimes and file
 * systems; the pragma works wherever SQLite's WAL does.
 *
 * The timer looks every {@linkcode WATCH_INTERVAL_MS} while the file is
 * quiet, and every {@linkcode ACTIVE_WATCH_INTERVAL_MS} for a second after
 * a commit (another connection's, or one of this process's own, whose
 * answer is likely to come from another process soon): a run started here
 * and finished by a worker elsewhere is heard within a millisecond or so.
 *
 * The timer does not keep a process alive, and stops with the last
 * subscription. In-memory databases have no other process to hear.
 *
 * @module
 */

import { clearInterval, setInterval } from "node:timers";
import type { BackendNotification } from "../core/backend.ts";

/** How often each file's subscribed connections are looked at when quiet. */
export const WATCH_INTERVAL_MS = 10;

/** How often they are looked at within a second of a commit. */
export const ACTIVE_WATCH_INTERVAL_MS = 1;

/** How long the file counts as active after a commit. */
const ACTIVE_FOR_MS = 1_000;

/** A connection whose commits by others are watched. */
export interface WatchedConnection {
  /** `PRAGMA data_version`, or `null` when it cannot be read (closed). */
  dataVersion(): number | null;
  /** How many write transactions this connection committed. */
  readonly commits: number;
}

interface Subscription {
  connection: WatchedConnection;
  version: number | null;
  commits: number;
  listener: (notification: BackendNotification) => void;
}

interface FileWatch {
  subscriptions: Set<Subscription>;
  timer: ReturnType<typeof setInterval> | null;
  /** Whether the timer runs at the active interval. */
  active: boolean;
  /** Until when (`performance.now()`) the file counts as active. */
  activeUntil: number;
}

const watches = new Map<string, FileWatch>();

/** (Re)starts the file's timer at the active or the quiet interval. */
function schedule(watch: FileWatch, active: boolean): void {
  if (watch.timer !== null) clearInterval(watch.timer);
  watch.active = active;
  watch.timer = setInterval(
    () => tick(watch),
    active ? ACTIVE_WATCH_INTERVAL_MS : WATCH_INTERVAL_MS,
  );
  watch.timer.unref();
}

function tick(watch: FileWatch): void {
  const now = performance.now();
  for (const subscription of [...watch.subscriptions]) {
    const commits = subscription.connection.commits;
    if (commits !== subscription.commits) {
      subscription.commits = commits;
      watch.activeUntil = now + ACTIVE_FOR_MS;
    }
    const version = subscription.connection.dataVersion();
    if (version === null || version === subscription.version) continue;
    subscription.version = version;
    watch.activeUntil = now + ACTIVE_FOR_MS;
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
}

/**
 * Tells `listener` when another connection commits to `file` (an absolute
 * path, as SQLite names it), through `connection`'s `data_version`; first
 * that notifications are live. Returns the function that unsubscribes.
 */
export function watchCommits(
  file: string,
  connection: WatchedConnection,
  listener: (notification: BackendNotification) => void,
): () => void {
  let watch = watches.get(file);
  if (watch === undefined) {
    const created: FileWatch = {
      subscriptions: new Set(),
      timer: null,
      active: false,
      activeUntil: -Infinity,
    };
    watch = created;
    watches.set(file, created);
    schedule(created, false);
  }
  const subscription: Subscription = {
    connection,
    version: connection.dataVersion(),
    commits: connection.commits,
    listener,
  };
  watch.subscriptions.add(subscription);
  listener({ kind: "listening", listening: true });
  const owner = watch;
  return () => {
    owner.subscriptions.delete(subscription);
    if (owner.subscriptions.size === 0 && watches.get(file) === owner) {
      if (owner.timer !== null) clearInterval(owner.timer);
      watches.delete(file);
    }
  };
}
