/**
 * The commit watcher's watch of the write-ahead log: another connection's
 * commit is heard through it with the timer a minute away; a write of this
 * process's own starts nothing; where the log cannot be watched, the timer
 * alone hears every commit.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { BackendNotification } from "../../src/core/backend.ts";
import {
  watchCommits,
  type WatchedConnection,
} from "../../src/sqlite/watcher.ts";

/** A timer that never fires within a test. */
const RARE = { quietMs: 60_000, activeMs: 60_000 };

/** A database file with one table, in `journalMode`. */
async function database(journalMode: "WAL" | "DELETE") {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-watcher-" });
  const path = `${dir}/watched.db`;
  const writer = new DatabaseSync(path);
  writer.exec(`PRAGMA journal_mode = ${journalMode}`);
  writer.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)");
  const reader = new DatabaseSync(path);
  const version = reader.prepare("PRAGMA data_version");
  const watched = {
    looks: 0,
    /** Whether the watched connection counts as committing all along. */
    committing: false as boolean,
    get lastCommitAt(): number {
      return watched.committing ? performance.now() : -Infinity;
    },
    dataVersion(): number {
      watched.looks++;
      return Number(version.get()?.data_version);
    },
  } satisfies WatchedConnection & { looks: number; committing: boolean };
  return {
    path,
    watched,
    insert: () => writer.exec("INSERT INTO t DEFAULT VALUES"),
    async [Symbol.asyncDispose]() {
      writer.close();
      reader.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The next `changed` notification, or a failure after `ms`. */
function nextChange(
  heard: BackendNotification[],
  ms: number,
): Promise<void> {
  const seen = heard.length;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      if (heard.slice(seen).some((n) => n.kind === "changed")) resolve();
      else if (Date.now() - started > ms) {
        reject(new Error(`no change heard within ${ms} ms`));
      } else setTimeout(look, 5);
    };
    look();
  });
}

/** Commits `count` times with `insert`, each heard before the next. */
async function hearsEachOf(
  count: number,
  insert: () => void,
  heard: BackendNotification[],
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const change = nextChange(heard, 10_000);
    insert();
    await change;
  }
}

Deno.test("another connection's commit is heard through the log's watch, the timer a minute away", async () => {
  await using db = await database("WAL");
  const heard: BackendNotification[] = [];
  const stop = watchCommits(db.path, db.watched, (n) => heard.push(n), RARE);
  try {
    assert.deepEqual(heard.map((n) => n.kind), ["listening"]);
    await hearsEachOf(3, db.insert, heard);
    assert.equal(heard.filter((n) => n.kind === "changed").length, 3);
  } finally {
    stop();
  }
});

Deno.test("a write to the log while this process's own connection commits starts no burst", async () => {
  await using db = await database("WAL");
  const heard: BackendNotification[] = [];
  const stop = watchCommits(db.path, db.watched, (n) => heard.push(n), RARE);
  try {
    const looks = db.watched.looks;
    // While the watched connection commits (its last commit always just
    // now, whenever the log's event comes), a write to the log is taken
    // for its own: a connection never hears its own commits, so nothing is
    // looked at.
    db.watched.committing = true;
    db.insert();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(db.watched.looks, looks);
    assert.deepEqual(heard.map((n) => n.kind), ["listening"]);
    // Once it has stopped, the next commit is another's: it is heard.
    db.watched.committing = false;
    const change = nextChange(heard, 10_000);
    db.insert();
    await change;
    assert.ok(db.watched.looks > looks);
  } finally {
    stop();
  }
});

Deno.test("where there is no log to watch, the timer alone hears every commit", async () => {
  // In a rollback journal there is no -wal file: the watch fails at once
  // and is closed (the sanitizers would catch it open).
  await using db = await database("DELETE");
  const heard: BackendNotification[] = [];
  const stop = watchCommits(
    db.path,
    db.watched,
    (n) => heard.push(n),
    { quietMs: 5, activeMs: 5 },
  );
  try {
    await hearsEachOf(3, db.insert, heard);
  } finally {
    stop();
  }
});
