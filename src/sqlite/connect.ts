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
}

/** What `connect()` opened. */
export interface OpenedDatabase {
  /** The connection, the schema current. */
  connection: SqliteConnection;
  /** The namespace the backend reads and writes. */
  namespaceId: string;
}

/**
 * Checks `connect()`'s arguments, opens the database and creates or
 * upgrades its schema.
 *
 * @throws {TypeError} for a path that is not a non-empty string, or a
 * malformed namespace.
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
  await loadDriver();
  let connection: SqliteConnection | undefined;
  try {
    connection = SqliteConnection.open(path, busyTimeoutMs);
    await prepareDatabase(connection);
  } catch (error) {
    connection?.close();
    throw await explainOpenError(path, error);
  }
  return { connection, namespaceId };
}
