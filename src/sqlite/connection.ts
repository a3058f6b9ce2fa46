/**
 * One `node:sqlite` connection that never blocks the event loop on a lock.
 *
 * The connection's busy timeout is 0: a statement that finds the database
 * locked by another connection fails at once with `SQLITE_BUSY` (or
 * `SQLITE_LOCKED`), and is retried after a short, randomized, growing wait
 * on a timer.
 *
 * Writes queue up, in call order, and run in `BEGIN IMMEDIATE`
 * transactions, which take the write lock up front, so a transaction never
 * fails halfway for lack of it. The writes issued during one turn of the
 * event loop, and those that waited while another process held the lock,
 * commit in one transaction (group commit: one sync to disk for all of
 * them), each in a savepoint of its own, so that one write failing rolls
 * back that write only. A transaction runs synchronously from `BEGIN` to
 * `COMMIT`: writes never interleave.
 *
 * @module
 */

import type {
  DatabaseSync,
  SQLInputValue,
  SQLOutputValue,
  StatementSync,
} from "node:sqlite";
import { BackendError } from "../core/errors.ts";
import { type Backoff, backoffMs } from "../core/backoff.ts";
import { delay, nextTurn } from "../core/waits.ts";
import { describeAction, sqliteError } from "./errors.ts";

/** `node:sqlite`, loaded on first use, so that importing never fails. */
let driver: typeof import("node:sqlite") | undefined;

/**
 * Loads `node:sqlite`.
 *
 * @throws {BackendError} on a runtime without it (Node before 22.13).
 */
export async function loadDriver(): Promise<void> {
  if (driver !== undefined) return;
  try {
    driver = await import("node:sqlite");
  } catch (error) {
    throw new BackendError(
      "load node:sqlite, which the SQLite backend needs (Deno, Bun, or Node 22.13 or later)",
      { cause: error },
    );
  }
}

/** A result row. */
export type Row = Record<string, SQLOutputValue>;

/** Named statement parameters (`:name` in the SQL, `name` here). */
export type Params = Record<string, SQLInputValue>;

/**
 * SQLite's primary result codes that mean "try again later": another
 * connection holds a lock (`SQLITE_BUSY`, `SQLITE_LOCKED`), or lost a race
 * for WAL bookkeeping (`SQLITE_PROTOCOL`).
 */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([5, 6, 15]);

/** The waits between busy retries: 2 ms, doubling up to 20 ms, spread. */
const BUSY_BACKOFF: Backoff = { initialMs: 2, maxMs: 20, jitter: 0.5 };
/** The most writes committed in one transaction. */
const MAX_BATCH = 256;

/** A write waiting for its transaction. */
interface QueuedWrite {
  action: string;
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** When it was queued (`performance.now()`). */
  queuedAt: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A `node:sqlite` connection with asynchronous busy retries. */
export class SqliteConnection {
  #lastCommitAt = -Infinity;
  /** The path or URI the connection was opened with. */
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, StatementSync>();
  readonly #closing = new AbortController();
  readonly #queue: QueuedWrite[] = [];
  #draining = false;

  private constructor(
    db: DatabaseSync,
    location: string,
    busyTimeoutMs: number,
  ) {
    this.#db = db;
    this.location = location;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Opens the database file (creating it when missing) with a busy timeout
   * of 0.
   *
   * @throws {BackendError} naming the path and the problem.
   */
  static open(location: string, busyTimeoutMs: number): SqliteConnection {
    let db: DatabaseSync;
    if (driver === undefined) {
      throw new BackendError("open SQLite: node:sqlite is not loaded");
    }
    try {
      db = new driver.DatabaseSync(location, { timeout: 0 });
    } catch (error) {
      throw sqliteError("open", location, error);
    }
    const connection = new SqliteConnection(db, location, busyTimeoutMs);
    try {
      connection.run("PRAGMA busy_timeout = 0", {}, false);
    } catch (error) {
      connection.close();
      throw sqliteError("open", location, error);
    }
    return connection;
  }

  /** Whether `close()` has been called. */
  get isClosed(): boolean {
    return this.#closing.signal.aborted;
  }

  #statement(sql: string, cache: boolean): StatementSync {
    if (!cache) return this.#db.prepare(sql);
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** When (`performance.now()`) this connection last committed a write. */
  get lastCommitAt(): number {
    return this.#lastCommitAt;
  }

  /**
   * `PRAGMA data_version`: changes when another connection commits. `null`
   * once closed, or when it cannot be read.
   */
  dataVersion(): number | null {
    if (this.isClosed) return null;
    try {
      return Number(
        this.#statement("PRAGMA data_version", true).get()?.data_version,
      );
    } catch {
      return null;
    }
  }

  /** Runs a query and returns every row. Call inside `read`/`write`. */
  all(sql: string, params: Params = {}): Row[] {
    return this.#statement(sql, true).all(params) as Row[];
  }

  /** Runs a query and returns its first row. Call inside `read`/`write`. */
  get(sql: string, params: Params = {}, cache = true): Row | undefined {
    return this.#statement(sql, cache).get(params) as Row | undefined;
  }

  /** Runs a statement and returns the number of rows it changed. */
  run(sql: string, params: Params = {}, cache = true): number {
    return Number(this.#statement(sql, cache).run(params).changes);
  }

  /**
   * Runs `fn` (plain reads, without a transaction of its own) at once,
   * retrying it while the database is locked.
   */
  read<T>(action: string, fn: () => T): Promise<T> {
    return this.#retry(action, fn);
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction (possibly shared with
   * other writes queued meanwhile): its changes are committed when it
   * returns, and rolled back when it throws. Writes run in call order; a
   * write retried after a busy error runs afresh, so `fn` must compute
   * everything (the time included) on each call.
   */
  write<T>(action: string, fn: () => T): Promise<T> {
    if (this.isClosed) return Promise.reject(this.#stoppedError(action));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        action,
        fn,
        resolve: resolve as (value: unknown) => void,
        reject,
        queuedAt: performance.now(),
      });
      if (!this.#draining) {
        // Drained on the next turn of the event loop: the writes issued
        // meanwhile commit together.
        this.#draining = true;
        setImmediate(() => this.#drain());
      }
    });
  }

  /** Commits the queued writes, batch by batch, waiting out busy errors. */
  async #drain(): Promise<void> {
    try {
      for (let retries = 0; this.#queue.length > 0 && !this.isClosed;) {
        const batch = this.#queue.slice(0, MAX_BATCH);
        let outcomes: Outcome[];
        try {
          outcomes = this.#commit(batch);
        } catch (error) {
          if (isBusy(error)) {
            this.#expire(error);
            if (this.#queue.length === 0) break;
            await delay(
              backoffMs(retries++, BUSY_BACKOFF),
              this.#closing.signal,
            );
            continue;
          }
          outcomes = batch.map(() => ({ ok: false, error }));
        }
        retries = 0;
        this.#queue.splice(0, batch.length);
        this.#settle(batch, outcomes);
        // Let the callers go on, so that the writes they issue next share
        // the next transaction.
        await nextTurn();
      }
    } finally {
      this.#draining = false;
      for (const write of this.#queue.splice(0)) {
        write.reject(this.#stoppedError(write.action));
      }
    }
  }

  #settle(batch: readonly QueuedWrite[], outcomes: Outcome[]): void {
    batch.forEach((write, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) {
        write.resolve(outcome.value);
      } else {
        const { action } = write;
        write.reject(sqliteError(action, this.location, outcome.error));
      }
    });
  }

  /**
   * Runs `batch` in one transaction, each write in a savepoint. Throws
   * (having changed nothing) when the transaction cannot begin or commit.
   */
  #commit(batch: readonly QueuedWrite[]): Outcome[] {
    this.run("BEGIN IMMEDIATE");
    try {
      const outcomes = batch.map((write): Outcome => {
        this.run("SAVEPOINT ow_write");
        try {
          const value = write.fn();
          this.run("RELEASE ow_write");
          return { ok: true, value };
        } catch (error) {
          if (isBusy(error)) throw error;
          this.run("ROLLBACK TO ow_write");
          this.run("RELEASE ow_write");
          return { ok: false, error };
        }
      });
      this.run("COMMIT");
      this.#lastCommitAt = performance.now();
      return outcomes;
    } catch (error) {
      this.#rollback();
      throw error;
    }
  }

  /** Fails the queued writes that have waited `busyTimeoutMs` already. */
  #expire(cause: unknown): void {
    const now = performance.now();
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const write = this.#queue[i];
      const waitedMs = now - write.queuedAt;
      if (waitedMs < this.#busyTimeoutMs) continue;
      this.#queue.splice(i, 1);
      write.reject(this.#lockedError(write.action, waitedMs, cause));
    }
  }

  #stoppedError(action: string): BackendError {
    return new BackendError(
      `${action}: the SQLite backend for ${
        JSON.stringify(this.location)
      } is stopped`,
      { location: this.location },
    );
  }

  #lockedError(action: string, waitedMs: number, cause: unknown): BackendError {
    return new BackendError(
      `${describeAction(action, this.location)}: the database stayed ` +
        `locked by another connection for ${Math.round(waitedMs)} ms`,
      { cause, location: this.location, problem: "locked" },
    );
  }

  #rollback(): void {
    try {
      this.run("ROLLBACK");
    } catch {
      // No transaction is open: the failing statement already ended it.
    }
  }

  async #retry<T>(action: string, attempt: () => T): Promise<T> {
    const startedAt = performance.now();
    for (let retries = 0;; retries++) {
      if (this.isClosed) throw this.#stoppedError(action);
      try {
        return attempt();
      } catch (error) {
        if (!isBusy(error)) throw sqliteError(action, this.location, error);
        const waitedMs = performance.now() - startedAt;
        if (waitedMs >= this.#busyTimeoutMs) {
          throw this.#lockedError(action, waitedMs, error);
        }
        await delay(
          Math.min(
            backoffMs(retries, BUSY_BACKOFF),
            this.#busyTimeoutMs - waitedMs,
          ),
          this.#closing.signal,
        );
      }
    }
  }

  /**
   * Closes the connection: the writes queued for the next transaction
   * commit first, unless the database is locked; operations waiting for a
   * lock then fail.
   */
  close(): void {
    if (this.isClosed) return;
    if (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      let outcomes: Outcome[];
      try {
        outcomes = this.#commit(batch);
      } catch (error) {
        outcomes = batch.map(() => ({ ok: false, error }));
      }
      this.#settle(batch, outcomes);
    }
    this.#closing.abort();
    this.#statements.clear();
    this.#db.close();
  }
}

/** Whether a `node:sqlite` error means the database is locked. */
export function isBusy(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode === "number") {
    return RETRYABLE_CODES.has(errcode & 0xff);
  }
  // Some runtimes leave out the result code on a few paths; SQLite's own
  // message then tells.
  return /^database (table |schema )?is locked/.test(error.message);
}
