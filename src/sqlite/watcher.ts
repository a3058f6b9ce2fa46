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
 * The timer does not keep a process alive, and stops with the last
 * subscription. In-memory databases have no other process to hear.
 *
 * @module
 */

import { clearInterval, setInterval } from "node:timers";
import type { BackendNotification } from "../core/backend.ts";

/** How often each file's subscribed connections are looked at. */
export const WATCH_INTERVAL_MS = 10;

/** A connection whose commits by others are watched. */
export interface WatchedConnection {
  /** `PRAGMA data_version`, or `null` when it cannot be read (closed). */
  dataVersion(): number | null;
}

interface Subscription {
  connection: WatchedConnection;
  version: number | null;
  listener: (notification: BackendNotification) => void;
}

interface FileWatch {
  subscriptions: Set<Subscription>;
  timer: ReturnType<typeof setInterval>;
}

const watches = new Map<string, FileWatch>();

function tick(watch: FileWatch): void {
  for (const subscription of [...watch.subscriptions]) {
    const version = subscription.connection.dataVersion();
    if (version === null || version === subscription.version) continue;
    subscription.version = version;
    try {
      subscription.listener({ kind: "changed" });
    } catch {
      // A listener's failure is its own; the others still hear.
    }
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
      timer: setInterval(() => tick(created), WATCH_INTERVAL_MS),
    };
    created.timer.unref();
    watch = created;
    watches.set(file, created);
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
      clearInterval(owner.timer);
      watches.delete(file);
    }
  };
}
