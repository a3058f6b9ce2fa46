/**
 * Opening `BackendSqlite`'s database: the checks of `connect()`'s
 * arguments, the connection, the schema, and what a failure says of the
 * file.
 *
 * @module
 */

import { checkNamespaceId } from "../sql/checks.ts";
import { checkOptions, checkPositiveMs, received } from "../core/validate.ts";
import { loadDriver, SqliteConnection } from "./connection.ts";
import { explainOpenError } from "./errors.ts";
import { prepareDatabase } from "./schema.ts";

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/**
 * Options of {@linkcode BackendSqlite.connect}.
 *
 * @example
 * ```ts
 * import type { BackendSqliteOptions } from "@openworkflow/core/sqlite";
 *
 * const options: BackendSqliteOptions = { namespaceId: "tests", busyTimeoutMs: 2_000 };
 * console.log(options.namespaceId);
 * ```
 */
export interface BackendSqliteOptions {
  /**
   * Namespace for isolating workflows: runs of one namespace are invisible
   * to every other.
   * @default {DEFAULT_NAMESPACE_ID}
   */
  namespaceId?: string;
  /**
   * How long an operation keeps retrying while another connection holds
   * the database's write lock, before it fails with `BackendError`. The
   * retries wait on timers: the event loop is never blocked.
   * @default {10000}
   */
  busyTimeoutMs?: number;
  /**
   * The clock every time the backend stores and compares is read from
   * (leases, `availableAt`, deadlines, sleeps, retries, signal and child
   * timeouts, schedules): the machine's by default. A test clock makes
   * durable time skippable with the engine's own code paths, as
   * `createTestEnvironment()` (in `@openworkflow/core/testing`) does; it
   * should never go backwards.
   * @default {Date}
   */
  clock?: Clock;
}

/**
 * Where `BackendSqlite` reads the time: anything with a `now()` returning
 * epoch milliseconds, as `Date` has.
 *
 * @example A clock an hour ahead of the machine's
 * ```ts
 * import { BackendSqlite, type Clock } from "@openworkflow/core/sqlite";
 *
 * const clock: Clock = { now: () => Date.now() + 3_600_000 };
 * await using backend = await BackendSqlite.connect(":memory:", { clock });
 * console.log((await backend.now()).getTime() > Date.now() + 3_500_000); // true
 * ```
 */
export interface Clock {
  /** The time, in milliseconds since the epoch. */
  now(): number;
}

/** What `connect()` opened. */
export interface OpenedDatabase {
  /** The connection, the schema current. */
  connection: SqliteConnection;
  /** The namespace the backend reads and writes. */
  namespaceId: string;
  /** The clock the backend reads. */
  clock: Clock;
}

/**
 * Checks `connect()`'s arguments, opens the database and creates or
 * upgrades its schema.
 *
 * @throws {TypeError} for a path that is not a non-empty string, a
 * malformed namespace, or a clock without `now()`.
 * @throws {RangeError} for a `busyTimeoutMs` that is not a positive number.
 * @throws {SchemaVersionError} when the database is newer than this library.
 * @throws {BackendError} when the file cannot be opened or prepared.
 */
export async function openDatabase(
  path: string,
  options: BackendSqliteOptions | undefined,
): Promise<OpenedDatabase> {
  const what = "open SQLite database";
  options = checkOptions(options, what);
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TypeError(
      `Cannot ${what}: 'path' must be a file path or ":memory:", received ${
        received(path)
      }`,
    );
  }
  const namespaceId = checkNamespaceId(options.namespaceId, what);
  const busyTimeoutMs = options?.busyTimeoutMs === undefined
    ? DEFAULT_BUSY_TIMEOUT_MS
    : checkPositiveMs(options.busyTimeoutMs, what, "busyTimeoutMs");
  const clock = options.clock ?? Date;
  if (
    clock === null ||
    typeof clock !== "object" && typeof clock !== "function" ||
    typeof clock.now !== "function"
  ) {
    throw new TypeError(
      `Cannot ${what}: 'clock' must be an object with a now() method returning epoch milliseconds, received ${
        received(options.clock)
      }`,
    );
  }
  await loadDriver();
  let connection: SqliteConnection | undefined;
  try {
    connection = SqliteConnection.open(path, busyTimeoutMs);
    await prepareDatabase(connection);
  } catch (error) {
    connection?.close();
    throw await explainOpenError(path, error);
  }
  return { connection, namespaceId, clock };
}
