/**
 * `BackendPostgres`: the production backend, on postgres.js.
 *
 * @module
 */

import postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import type {
  Backend,
  BackendNotification,
  CancelWorkflowRunParams,
  ClaimWorkflowRunParams,
  ClaimWorkflowRunsParams,
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  FailExpiredWorkflowRunsParams,
  GetStepAttemptParams,
  GetWorkflowRunParams,
  GetWorkflowRunStatusesParams,
  HeartbeatWorkflowRunParams,
  ListStepAttemptsParams,
  ListWorkflowRunsParams,
  MarkStepAttemptFailedParams,
  MarkStepAttemptSucceededParams,
  MarkWorkflowRunFailedParams,
  MarkWorkflowRunSucceededParams,
  ReleaseWorkflowRunParams,
  StepAttempt,
  WorkflowRun,
  WorkflowRunPage,
} from "../backend.ts";
import {
  checkCreateRunTimes,
  checkNamespaceId,
  checkReleaseTime,
  decodeCursor,
  encodeCursor,
} from "../backend_util.ts";
import {
  BackendError,
  type BackendProblem,
  OpenWorkflowError,
  SchemaVersionError,
} from "../errors.ts";
import { checkOptions, checkPositiveInteger, received } from "../validate.ts";
import { Batcher } from "./batch.ts";
import { claimWorkflowRuns, SESSION_SETTINGS } from "./claim.ts";
import { Dialer } from "./dial.ts";
import { channelOf, ListenerRef } from "./notify.ts";
import {
  isUuid,
  jsonText,
  type Row,
  toStepAttempt,
  toWorkflowRun,
} from "./rows.ts";
import { reconnectBackoffS } from "./reconnect.ts";
import { migrate, SCHEMA_NAME_PATTERN } from "./schema.ts";
import {
  createStepAttempts,
  createWorkflowRuns,
  finishStepAttempts,
  getWorkflowRuns,
  heartbeatWorkflowRuns,
  type RunTransition,
  type Scope,
  type StepTransition,
  transitionWorkflowRuns,
} from "./statements.ts";

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

/** A write, sent with others in one transaction. */
type Write =
  | { kind: "createRun"; item: CreateWorkflowRunParams & { id: string } }
  | { kind: "transition"; item: RunTransition }
  | { kind: "createStep"; item: CreateStepAttemptParams & { id: string } }
  | { kind: "finishStep"; item: StepTransition }
  | { kind: "heartbeat"; item: HeartbeatWorkflowRunParams };

/**
 * How long a batch of calls may wait for the database before they reject
 * with `BackendError`: a connection lost without the driver noticing must
 * not hold a worker for good.
 */
const CALL_TIMEOUT_MS = 20_000;

function unanswered(action: string): BackendError {
  return new BackendError(
    `${action}: the database did not answer within ${CALL_TIMEOUT_MS} ms`,
  );
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

/**
 * Turns a driver error into a `BackendError` naming what failed; errors of
 * this library (a lost lease) pass through.
 */
async function guard<T>(action: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof OpenWorkflowError || error instanceof TypeError) {
      throw error;
    }
    throw new BackendError(action, { cause: error });
  }
}

/**
 * Whether the database rejected a statement for a value in it (SQLSTATE
 * class 22, "data exception"), rather than for the connection or the load.
 */
function isDataException(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" && code.startsWith("22");
}

/**
 * PostgreSQL implementation of the `Backend` interface.
 *
 * Concurrent calls of the same kind (from many runs in flight) are sent
 * together as one statement, so that one commit serves many runs; a lone
 * call goes out at once. Statements that make runs claimable or finish them
 * NOTIFY, and one LISTEN connection per process wakes every worker and
 * `result()` in it.
 *
 * @example
 * ```ts ignore
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect(
 *   "postgresql://user:pass@localhost:5432/db",
 *   { namespaceId: "production" },
 * );
 * // … use it with new OpenWorkflow({ backend }) …
 * await backend.stop();
 * ```
 */
export class BackendPostgres implements Backend {
  readonly #sql: Sql;
  readonly #dialer: Dialer;
  readonly #scope: Scope;
  readonly #listener: ListenerRef | null;
  readonly #unsubscribers = new Set<() => void>();

  readonly #getRuns: Batcher<string, WorkflowRun | null>;
  readonly #writes: Batcher<Write, unknown>;
  #stopped: Promise<void> | null = null;
  #warmUp: Promise<void> = Promise.resolve();

  private constructor(
    sql: Sql,
    dialer: Dialer,
    namespaceId: string,
    schema: string,
    listener: ListenerRef | null,
  ) {
    this.#sql = sql;
    this.#dialer = dialer;
    this.#listener = listener;
    const s: Scope = {
      sql,
      namespaceId,
      channel: channelOf(schema),
      runs: sql(`${schema}.workflow_runs`),
      steps: sql(`${schema}.step_attempts`),
    };
    this.#scope = s;
    this.#getRuns = new Batcher(
      (b) => guard("get workflow runs", getWorkflowRuns(s, b)),
      2,
      500,
      CALL_TIMEOUT_MS,
      () => unanswered("get workflow runs"),
    );
    // One write transaction at a time per backend: writes that arrive
    // meanwhile go together in the next one (one commit for all of them),
    // and no two of this backend's transactions lock rows against each
    // other.
    this.#writes = new Batcher(
      (batch) => this.#flushIsolated(batch),
      1,
      1000,
      CALL_TIMEOUT_MS,
      () => unanswered("write"),
    );
  }

  /**
   * Sends a batch of writes. Should the database reject a value of one of
   * them (a data exception: a time or interval out of range, text it
   * cannot store), the statement changed nothing, and each write is sent
   * again alone: a bad value fails its own call, never the other runs'
   * writes that shared its batch.
   */
  async #flushIsolated(batch: Write[]): Promise<unknown[]> {
    try {
      return await guard("write", this.#flushWrites(batch));
    } catch (error) {
      if (batch.length === 1 || !isDataException(error)) throw error;
      return await Promise.all(
        batch.map((write) =>
          guard("write", this.#flushWrites([write])).then(
            ([outcome]) => outcome,
            (error: unknown) => error,
          )
        ),
      );
    }
  }

  /** Sends a batch of writes in one transaction, pipelined. */
  async #flushWrites(batch: Write[]): Promise<unknown[]> {
    const results = new Array<unknown>(batch.length);
    const groups = new Map<Write["kind"], number[]>();
    batch.forEach((write, i) => {
      const group = groups.get(write.kind);
      if (group === undefined) groups.set(write.kind, [i]);
      else group.push(i);
    });
    const send = async (s: Scope) => {
      const pick = <T>(kind: Write["kind"]) =>
        (groups.get(kind) ?? []).map((i) => batch[i].item as T);
      const run = async <T>(
        kind: Write["kind"],
        statement: (s: Scope, items: T[]) => Promise<unknown[]>,
      ) => {
        const indexes = groups.get(kind);
        if (indexes === undefined) return;
        const outcomes = await statement(s, pick<T>(kind));
        indexes.forEach((index, j) => results[index] = outcomes[j]);
      };
      await Promise.all([
        run("createRun", createWorkflowRuns),
        run("finishStep", finishStepAttempts),
        run("createStep", createStepAttempts),
        run("transition", transitionWorkflowRuns),
        run("heartbeat", heartbeatWorkflowRuns),
      ]);
    };
    // One kind of write is one statement, committed on its own; several
    // kinds go in one transaction, pipelined, with one commit.
    if (groups.size === 1) await send(this.#scope);
    else {
      await this.#sql.begin((tx) =>
        send({ ...this.#scope, sql: tx as unknown as Sql })
      );
    }
    return results;
  }

  /**
   * Connects to a PostgreSQL database and creates or upgrades the schema
   * (migrations run under an advisory lock: safe when many processes
   * connect at once).
   *
   * It gives up after 10 seconds. A server that refuses connections, or
   * answers with an error, fails it at once; while the server accepts
   * connections and closes them before answering (a proxy, pooler or
   * port-forward whose database is down), it tries again, waiting longer
   * each time: from 25–50 ms, doubling up to 1–2 s (at random within each
   * range). The backend's connections, and the listening connection, wait
   * the same way when the server starts hanging up on them later. It waits
   * for the listening connection within the same 10 seconds; if that is not
   * up by then, the backend polls until it is.
   *
   * @param connectionString A `postgres://` or `postgresql://` URL.
   * @param options Namespace, schema, pool size, notifications.
   * @returns A connected backend.
   * @throws {TypeError} for a malformed URL, namespace or schema name, or
   * a URL that sets a DateStyle other than ISO (`?datestyle=…`; the backend
   * sets ISO on its connections, whatever the server's default).
   * @throws {SchemaVersionError} when the schema is newer than this library.
   * @throws {BackendError} when the database cannot be reached.
   *
   * @example
   * ```ts ignore
   * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
   * ```
   */
  static async connect(
    connectionString: string,
    options?: BackendPostgresOptions,
  ): Promise<BackendPostgres> {
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    const migrated = migrate(sql, schema);
    try {
      await Promise.race([
        migrated,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(noConnection(dialer))),
            CONNECT_TIMEOUT_S * 1000,
          );
        }),
      ]);
    } catch (error) {
      migrated.catch(() => {});
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
    } finally {
      clearTimeout(timer);
    }
    const listener = options.listen === false
      ? null
      : new ListenerRef(connectionString, schema);
    if (listener !== null) {
      // Polling stands in for notifications until the listening connection
      // is up: wait for it only within the same deadline.
      const leftMs = CONNECT_TIMEOUT_S * 1000 - (performance.now() - startedAt);
      await Promise.race([
        listener.ready,
        new Promise((resolve) => timer = setTimeout(resolve, leftMs)),
      ]);
      clearTimeout(timer);
    }
    const backend = new BackendPostgres(
      sql,
      dialer,
      namespaceId,
      schema,
      listener,
    );
    // Open a few pool connections in the background: opening one takes far
    // longer than a statement, and the first burst of work needs several.
    backend.#warmUp = Promise.all(
      Array.from({ length: Math.min(4, maxConnections) }, () => sql`SELECT 1`),
    ).then(() => {}, () => {});
    return backend;
  }

  #write<T>(write: Write): Promise<T> {
    return this.#writes.add(write) as Promise<T>;
  }

  /**
   * The namespace this backend reads and writes.
   *
   * @example
   * ```ts ignore
   * const backend = await BackendPostgres.connect(url, { namespaceId: "staging" });
   * console.log(backend.namespaceId); // staging
   * ```
   */
  get namespaceId(): string {
    return this.#scope.namespaceId;
  }

  async createWorkflowRun(
    params: CreateWorkflowRunParams,
  ): Promise<WorkflowRun> {
    checkCreateRunTimes(params);
    return await this.#write({
      kind: "createRun",
      item: { ...params, id: crypto.randomUUID() },
    });
  }

  async getWorkflowRun(
    params: GetWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    if (!isUuid(params.workflowRunId)) return null;
    return await this.#getRuns.add(params.workflowRunId.toLowerCase());
  }

  async getWorkflowRunStatuses(
    params: GetWorkflowRunStatusesParams,
  ): Promise<Pick<WorkflowRun, "id" | "status">[]> {
    const ids = params.workflowRunIds.filter(isUuid);
    if (ids.length === 0) return [];
    const { sql, runs, namespaceId: ns } = this.#scope;
    const rows = await guard(
      "get workflow run statuses",
      sql<Row[]>`
      SELECT id, status FROM ${runs}
      WHERE namespace_id = ${ns} AND id IN (
        SELECT value::uuid FROM json_array_elements_text(${
        JSON.stringify(ids)
      }::text::json))`,
    );
    return rows.map((row) => ({
      id: row.id as string,
      status: row.status as WorkflowRun["status"],
    }));
  }

  async claimWorkflowRun(
    params: ClaimWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    const [run] = await this.claimWorkflowRuns({ ...params, limit: 1 });
    return run ?? null;
  }

  async claimWorkflowRuns(
    params: ClaimWorkflowRunsParams,
  ): Promise<WorkflowRun[]> {
    return await guard(
      "claim workflow runs",
      claimWorkflowRuns(this.#scope, params),
    );
  }

  heartbeatWorkflowRun(params: HeartbeatWorkflowRunParams): Promise<void> {
    return this.#write({ kind: "heartbeat", item: params });
  }

  markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void> {
    return this.#write({
      kind: "transition",
      item: { kind: "succeeded", ...params },
    });
  }

  markWorkflowRunFailed(params: MarkWorkflowRunFailedParams): Promise<void> {
    return this.#write({
      kind: "transition",
      item: { kind: "failed", ...params },
    });
  }

  async releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void> {
    checkReleaseTime(params);
    return await this.#write({
      kind: "transition",
      item: { ...params, kind: "release" },
    });
  }

  async failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number> {
    const { sql, runs, namespaceId: ns, channel } = this.#scope;
    const rows = await guard(
      "fail expired workflow runs",
      sql`
      UPDATE ${runs} SET
        status = 'failed', error = ${jsonText(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${ns}
        AND deadline_at IS NOT NULL AND deadline_at <= now()
        AND status IN ('pending', 'running', 'sleeping')
        AND (status <> 'running' OR available_at <= now())
      RETURNING pg_notify(${channel},
        json_build_array('f', ${ns}::text, id, 'failed', NULL, error)::text)`,
    );
    return rows.length;
  }

  async cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    if (!isUuid(params.workflowRunId)) return null;
    const { sql, runs, namespaceId: ns, channel } = this.#scope;
    const [row] = await guard(
      "cancel workflow run",
      sql<Row[]>`
      UPDATE ${runs} SET
        status = 'canceled', error = ${jsonText(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
        AND status IN ('pending', 'running', 'sleeping')
      RETURNING *, pg_notify(${channel},
        json_build_array('f', ${ns}::text, id, 'canceled', NULL, error)::text)`,
    );
    if (row !== undefined) return toWorkflowRun(row);
    return await this.getWorkflowRun(params);
  }

  async listWorkflowRuns(
    params: ListWorkflowRunsParams,
  ): Promise<WorkflowRunPage> {
    const { sql, runs, namespaceId: ns } = this.#scope;
    const cursor = params.cursor == null ? null : decodeCursor(params.cursor);
    const rows = await guard(
      "list workflow runs",
      sql<Row[]>`
      SELECT *, to_char(created_at AT TIME ZONE 'UTC',
          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_text
      FROM ${runs}
      WHERE namespace_id = ${ns}
        ${
        params.workflowName === undefined
          ? sql``
          : sql`AND workflow_name = ${params.workflowName}`
      }
        ${
        params.statuses === undefined
          ? sql``
          : sql`AND status IN (SELECT json_array_elements_text(${
            JSON.stringify(params.statuses)
          }::text::json))`
      }
        ${
        params.createdAfter === undefined
          ? sql``
          : sql`AND created_at >= ${params.createdAfter}`
      }
        ${
        params.createdBefore === undefined
          ? sql``
          : sql`AND created_at < ${params.createdBefore}`
      }
        ${
        cursor === null
          ? sql``
          : sql`AND (created_at, id) < (${cursor.createdAt}::text::timestamptz, ${cursor.id}::uuid)`
      }
      ORDER BY created_at DESC, id DESC
      LIMIT ${params.limit + 1}`,
    );
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return {
      runs: page.map(toWorkflowRun),
      nextCursor: rows.length > params.limit && last !== undefined
        ? encodeCursor(String(last.created_at_text), String(last.id))
        : null,
    };
  }

  async listStepAttempts(
    params: ListStepAttemptsParams,
  ): Promise<StepAttempt[]> {
    if (!isUuid(params.workflowRunId)) return [];
    const { sql, steps, namespaceId: ns } = this.#scope;
    const rows = await guard(
      "list step attempts",
      sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND workflow_run_id = ${params.workflowRunId}
      ORDER BY seq`,
    );
    return rows.map(toStepAttempt);
  }

  createStepAttempt(params: CreateStepAttemptParams): Promise<StepAttempt> {
    return this.#write({
      kind: "createStep",
      item: { ...params, id: crypto.randomUUID() },
    });
  }

  async getStepAttempt(
    params: GetStepAttemptParams,
  ): Promise<StepAttempt | null> {
    if (!isUuid(params.stepAttemptId)) return null;
    const { sql, steps, namespaceId: ns } = this.#scope;
    const [row] = await guard(
      "get step attempt",
      sql<Row[]>`
      SELECT * FROM ${steps}
      WHERE namespace_id = ${ns} AND id = ${params.stepAttemptId}`,
    );
    return row === undefined ? null : toStepAttempt(row);
  }

  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void> {
    return this.#write({
      kind: "finishStep",
      item: {
        ...params,
        status: "succeeded",
        output: params.output,
        error: null,
      },
    });
  }

  markStepAttemptFailed(params: MarkStepAttemptFailedParams): Promise<void> {
    return this.#write({
      kind: "finishStep",
      item: {
        ...params,
        status: "failed",
        output: null,
        error: params.error,
      },
    });
  }

  /**
   * Subscribes to this namespace's notifications from every process on the
   * database (LISTEN/NOTIFY). Without the listening connection (`listen:
   * false`), the listener only ever hears that notifications are off.
   *
   * @param listener Called with each notification.
   * @returns A function that unsubscribes.
   *
   * @example
   * ```ts ignore
   * const unsubscribe = backend.subscribe((n) => console.log(n.kind));
   * unsubscribe();
   * ```
   */
  subscribe(listener: (notification: BackendNotification) => void): () => void {
    if (this.#listener === null || this.#stopped !== null) return () => {};
    const unsubscribe = this.#listener.subscribe(
      this.#scope.namespaceId,
      listener,
    );
    this.#unsubscribers.add(unsubscribe);
    return () => {
      unsubscribe();
      this.#unsubscribers.delete(unsubscribe);
    };
  }

  /**
   * Closes the database connection pool (and the shared listening
   * connection, when this was its last user). Calling it again is harmless.
   *
   * @example
   * ```ts ignore
   * await backend.stop();
   * ```
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const unsubscribe of this.#unsubscribers) unsubscribe();
      this.#unsubscribers.clear();
      await this.#listener?.release();
      await this.#warmUp;
      await this.#sql.end({ timeout: 5 });
      // A connection the ending cut short must not be opened after all.
      this.#dialer.close();
    })();
    return this.#stopped;
  }

  /**
   * Same as {@linkcode BackendPostgres.stop}, for `await using`.
   *
   * @returns A promise that resolves once the pool is closed.
   *
   * @example
   * ```ts ignore
   * {
   *   await using backend = await BackendPostgres.connect(url);
   *   console.log(backend.namespaceId); // default
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
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
