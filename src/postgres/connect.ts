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
  /**
   * Declares that the URL goes through a connection pooler in transaction
   * mode (PgBouncer, PgCat, Supavisor, RDS Proxy, ...), where a session's
   * state does not last past a transaction: the backend then sends only
   * the settings such poolers pass on (`application_name`, `DateStyle`),
   * uses no named prepared statements, and LISTENs over `listenUrl` only.
   * Without it, `connect()` finds a pooler by itself when the pooler
   * refuses the session settings ("unsupported startup parameter") or
   * drops them, and acts the same.
   * @default {undefined}
   */
  pooler?: "transaction";
  /**
   * A direct connection (no pooler in transaction mode) for the LISTEN
   * that wakes workers and `result()` at once: with a pooler, name the
   * database server itself here. Without it behind a pooler, the backend
   * polls (every `pollIntervalMs` of the workers).
   * @default {the connection string, unless behind a pooler}
   */
  listenUrl?: string;
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
  /** Whether a pooler in transaction mode is between (declared or found). */
  pooled: boolean;
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
  const listenUrl = options.listenUrl;
  if (listenUrl !== undefined) checkConnectionString(listenUrl, "listenUrl");
  if (options.pooler !== undefined && options.pooler !== "transaction") {
    throw new TypeError(
      `Cannot ${what}: 'pooler' must be "transaction" (a pooler in transaction mode), received ${
        received(options.pooler)
      }`,
    );
  }
  let pooled = options.pooler === "transaction";
  // postgres.js retries a connection that is closed at once without
  // end (the dialer spaces the attempts), and its timeout covers one
  // attempt: bound the whole connect.
  const startedAt = performance.now();
  const leftMs = () =>
    CONNECT_TIMEOUT_S * 1000 - (performance.now() - startedAt);
  let pool = openPool(connectionString, maxConnections, pooled);
  // Creates or upgrades the schema through the current pool.
  const migrated = () =>
    withTimeout(
      migrate(pool.sql, schema),
      leftMs(),
      () => new Error(noConnection(pool.dialer)),
    );
  try {
    try {
      await migrated();
    } catch (error) {
      // A pooler that refuses the session settings: connect as to one.
      if (pooled || !refusedStartupParameter(error)) throw error;
      await closePool(pool);
      pooled = true;
      pool = openPool(connectionString, maxConnections, pooled);
      await migrated();
    }
    // A pooler that dropped them: the same.
    if (!pooled && await settingsDropped(pool.sql, leftMs())) {
      await closePool(pool);
      pooled = true;
      pool = openPool(connectionString, maxConnections, pooled);
    }
  } catch (error) {
    // Nothing in progress can still help: fail a connection attempt
    // waiting to be made, and drop the connections at once.
    await closePool(pool);
    if (error instanceof SchemaVersionError) throw error;
    throw new BackendError(what, {
      cause: error,
      location: maskPassword(connectionString),
      problem: connectProblem(error),
    });
  }
  const { sql, dialer } = pool;
  // LISTEN needs a session: never through a pooler in transaction mode.
  const listenTo = listenUrl ?? (pooled ? null : connectionString);
  const listener = options.listen === false || listenTo === null
    ? null
    : new ListenerRef(listenTo, schema);
  if (listener !== null) {
    // Polling stands in for notifications until the listening connection
    // is up: wait for it only within the same deadline.
    await withTimeout(listener.ready, leftMs(), () => null).catch(() => {});
  }
  return {
    sql,
    dialer,
    namespaceId,
    schema,
    listener,
    maxConnections,
    pooled,
  };
}

/** A pool and the dialer of its sockets. */
interface Pool {
  sql: Sql;
  dialer: Dialer;
}

/**
 * Opens the pool: behind a pooler in transaction mode (`pooled`), with only
 * the settings poolers pass on, and no named prepared statements.
 */
function openPool(
  connectionString: string,
  maxConnections: number,
  pooled: boolean,
): Pool {
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
    prepare: !pooled,
    // Behind a pooler in transaction mode, a statement sent before the one
    // in flight has ended could reach a server connection that has gone
    // to another client in between: one statement at a time.
    ...(pooled ? { max_pipeline: 0 } : {}),
    connection: pooled ? POOLED_SESSION_SETTINGS : { ...SESSION_SETTINGS },
  });
  return { sql, dialer };
}

/** The session settings that poolers in transaction mode pass on. */
const POOLED_SESSION_SETTINGS: Record<string, string> = {
  application_name: SESSION_SETTINGS.application_name,
  DateStyle: SESSION_SETTINGS.DateStyle,
};

async function closePool(pool: Pool): Promise<void> {
  pool.dialer.close();
  await pool.sql.end({ timeout: 0 });
}

/** Whether a pooler refused a session setting of the startup packet. */
function refusedStartupParameter(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" &&
    /unsupported startup parameter/i.test(message);
}

/**
 * Whether the session settings sent at startup are not in force: a pooler
 * in transaction mode dropped them (its server connections were opened
 * with its own).
 */
async function settingsDropped(sql: Sql, leftMs: number): Promise<boolean> {
  const [row] = await withTimeout(
    sql<{ jit: string | null; plan: string | null }[]>`
      SELECT current_setting('jit', true) AS jit,
        current_setting('plan_cache_mode', true) AS plan`,
    leftMs,
    () => new Error(`no answer within ${CONNECT_TIMEOUT_S} seconds`),
  );
  return (row.jit !== null && row.jit !== SESSION_SETTINGS.jit) ||
    (row.plan !== null && row.plan !== SESSION_SETTINGS.plan_cache_mode);
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

function checkConnectionString(
  value: unknown,
  name = "connectionString",
): void {
  let url: URL | undefined;
  try {
    // Several hosts (`h1:5432,h2:5433`, for a failover) parse as the first.
    url = typeof value === "string"
      ? new URL(value.replace(/@([^/?#@]*?),[^/?#@]*/, "@$1"))
      : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^postgres(ql)?:$/.test(url.protocol)) {
    throw new TypeError(
      `Cannot connect to Postgres: '${name}' must be a postgres:// or postgresql:// URL, received ${
        typeof value === "string"
          ? JSON.stringify(maskPassword(value))
          : received(value)
      }`,
    );
  }
  // A setting in the URL would override the backend's DateStyle (see
  // SESSION_SETTINGS), and the driver reads timestamps as ISO text.
  for (const [key, setting] of url.searchParams) {
    if (key.toLowerCase() === "datestyle" && !/^\s*iso\b/i.test(setting)) {
      throw new TypeError(
        `Cannot connect to Postgres: '${name}' must not set a DateStyle other than ISO (the backend sets it), received datestyle=${
          JSON.stringify(setting)
        }`,
      );
    }
  }
}
