/**
 * Opening `BackendPostgres`'s connections: the checks of `connect()`'s
 * arguments, the pool and its migrations under one deadline, the listening
 * connection, and what a failure says of the database.
 *
 * @module
 */

import postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import { checkNamespaceId } from "../sql/checks.ts";
import {
  BackendError,
  type BackendProblem,
  SchemaVersionError,
} from "../core/errors.ts";
import {
  checkOptions,
  checkPositiveInteger,
  received,
} from "../core/validate.ts";
import { SESSION_SETTINGS } from "./claim.ts";
import { withTimeout } from "../core/waits.ts";
import { Dialer } from "./dial.ts";
import { ListenerRef } from "./notifications.ts";
import { reconnectBackoffS } from "./reconnect.ts";
import { migrate, SCHEMA_NAME_PATTERN } from "./schema.ts";

/**
 * Options of {@linkcode BackendPostgres.connect}.
 *
 * @example
 * ```ts
 * import type { BackendPostgresOptions } from "@openworkflow/core/postgres";
 *
 * const options: BackendPostgresOptions = { namespaceId: "production", maxConnections: 20 };
 * console.log(options.namespaceId);
 * ```
 */
export interface BackendPostgresOptions {
  /**
   * Namespace for isolating workflows: runs of one namespace are invisible
   * to every other.
   * @default {DEFAULT_NAMESPACE_ID}
   */
  namespaceId?: string;
  /**
   * The Postgres schema holding the tables (a lower-case identifier).
   * @default {"openworkflow"}
   */
  schema?: string;
  /**
   * The most connections in the pool (the listening connection, shared by
   * every backend of the process on the same database, is extra).
   * @default {10}
   */
  maxConnections?: number;
  /**
   * Whether to LISTEN for notifications, so that workers and `result()`
   * wake as soon as runs are available or finished, and poll less.
   * @default {true}
   */
  listen?: boolean;
}

/** How long `connect()` may take, in seconds. */
const CONNECT_TIMEOUT_S = 10;

/** Why `connect()` gave up waiting, naming hang-ups when there were some. */
function noConnection(dialer: Dialer): string {
  const reason = `no working connection within ${CONNECT_TIMEOUT_S} seconds`;
  return dialer.hangUps === 0
    ? reason
    : `${reason}: the server at ${dialer.lastHangUp} closed the last ${dialer.hangUps} connections before answering`;
}

/** What `connect()` opened. */
export interface Connection {
  /** The pool. */
  sql: Sql;
  /** Opens the pool's sockets. */
  dialer: Dialer;
  namespaceId: string;
  schema: string;
  /** The listening connection, or `null` with `listen: false`. */
  listener: ListenerRef | null;
  /** The most connections in the pool. */
  maxConnections: number;
}

/**
 * Checks `connect()`'s arguments, opens the pool, creates or upgrades the
 * schema, and waits for the listening connection, all within
 * `CONNECT_TIMEOUT_S`.
 *
 * @throws {TypeError} for a malformed URL, namespace or schema name.
 * @throws {SchemaVersionError} when the schema is newer than this library.
 * @throws {BackendError} when the database cannot be reached.
 */
export async function openConnection(
  connectionString: string,
  options: BackendPostgresOptions | undefined,
): Promise<Connection> {
  const what = "connect to Postgres";
  options = checkOptions(options, what);
  checkConnectionString(connectionString);
  const namespaceId = checkNamespaceId(options.namespaceId, what);
  const schema = options.schema ?? "openworkflow";
  if (typeof schema !== "string" || !SCHEMA_NAME_PATTERN.test(schema)) {
    throw new TypeError(
      `Cannot ${what}: 'schema' must be a lower-case identifier matching ${SCHEMA_NAME_PATTERN}, received ${
        received(schema)
      }`,
    );
  }
  const maxConnections = options.maxConnections === undefined
    ? 10
    : checkPositiveInteger(options.maxConnections, what, "maxConnections");
  // The sockets come from a Dialer, which backs off while the server
  // hangs up before answering; the driver itself would retry at once.
  const dialer = new Dialer();
  // `socket` is a documented option of postgres.js missing from its types.
  const dialing = { socket: dialer.socket };
  const sql = postgres(connectionString, {
    ...dialing,
    max: maxConnections,
    onnotice: () => {},
    connect_timeout: CONNECT_TIMEOUT_S,
    // Reconnect within a second once the server is back.
    backoff: reconnectBackoffS,
    // No type lookups: every parameter is a scalar or JSON, and a lookup
    // cut short by a dropped connection would crash the process.
    fetch_types: false,
    connection: { ...SESSION_SETTINGS },
  });
  // postgres.js retries a connection that is closed at once without
  // end (the dialer spaces the attempts), and its timeout covers one
  // attempt: bound the whole connect.
  const startedAt = performance.now();
  try {
    await withTimeout(
      migrate(sql, schema),
      CONNECT_TIMEOUT_S * 1000,
      () => new Error(noConnection(dialer)),
    );
  } catch (error) {
    // Nothing in progress can still help: fail a connection attempt
    // waiting to be made, and drop the connections at once.
    dialer.close();
    await sql.end({ timeout: 0 });
    if (error instanceof SchemaVersionError) throw error;
    throw new BackendError(what, {
      cause: error,
      location: maskPassword(connectionString),
      problem: connectProblem(error),
    });
  }
  const listener = options.listen === false
    ? null
    : new ListenerRef(connectionString, schema);
  if (listener !== null) {
    // Polling stands in for notifications until the listening connection
    // is up: wait for it only within the same deadline.
    const leftMs = CONNECT_TIMEOUT_S * 1000 - (performance.now() - startedAt);
    await withTimeout(listener.ready, leftMs, () => null).catch(() => {});
  }
  return { sql, dialer, namespaceId, schema, listener, maxConnections };
}

/** The connection string with its password, if any, replaced by `***`. */
function maskPassword(connectionString: string): string {
  return connectionString.replace(/:[^:@/]*@/, ":***@");
}

/** What a failed `connect()` says of the database, when its code tells. */
function connectProblem(error: unknown): BackendProblem {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case "3D000": // invalid_catalog_name: no such database
      return "not-found";
    case "28000": // invalid_authorization_specification
    case "28P01": // invalid_password
    case "42501": // insufficient_privilege (e.g. CREATE SCHEMA)
      return "permission-denied";
    case "25006": // read_only_sql_transaction (a standby)
      return "read-only";
    case "53100": // disk_full
      return "disk-full";
    default:
      return "cannot-open";
  }
}

function checkConnectionString(value: unknown): void {
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^postgres(ql)?:$/.test(url.protocol)) {
    throw new TypeError(
      `Cannot connect to Postgres: 'connectionString' must be a postgres:// or postgresql:// URL, received ${
        typeof value === "string"
          ? JSON.stringify(maskPassword(value))
          : received(value)
      }`,
    );
  }
  // A setting in the URL would override the backend's DateStyle (see
  // SESSION_SETTINGS), and the driver reads timestamps as ISO text.
  for (const [name, setting] of url.searchParams) {
    if (name.toLowerCase() === "datestyle" && !/^\s*iso\b/i.test(setting)) {
      throw new TypeError(
        `Cannot connect to Postgres: 'connectionString' must not set a DateStyle other than ISO (the backend sets it), received datestyle=${
          JSON.stringify(setting)
        }`,
      );
    }
  }
}
