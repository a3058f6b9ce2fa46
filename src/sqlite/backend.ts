/**
 * `BackendSqlite`: the embedded backend, on `node:sqlite`.
 *
 * @module
 */

import type {
  Backend,
  CancelWorkflowRunParams,
  ClaimWorkflowRunParams,
  ClaimWorkflowRunsParams,
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  FailExpiredWorkflowRunsParams,
  GetStepAttemptParams,
  GetWorkflowRunParams,
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
  checkNamespaceId,
  decodeCursor,
  encodeCursor,
} from "../backend_util.ts";
import { LeaseLostError } from "../errors.ts";
import type { JsonValue } from "../json.ts";
import { checkPositiveMs, received } from "../validate.ts";
import { type Params, SqliteConnection } from "./connection.ts";
import { listWorkflowRunsQuery } from "./list.ts";
import {
  epochMs,
  jsonText,
  jsonTextNotNull,
  normalizeId,
  toStepAttempt,
  toWorkflowRun,
} from "./rows.ts";
import { prepareDatabase } from "./schema.ts";

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

const RUNS = "openworkflow_workflow_runs";
const STEPS = "openworkflow_step_attempts";
const UNFINISHED = "('pending', 'running', 'sleeping')";
/** Matches the run named `:id` that worker `:workerId` holds. */
const OWNED = `namespace_id = :ns AND id = :id
  AND status = 'running' AND worker_id = :workerId`;

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/**
 * SQLite implementation of the `Backend` interface, on `node:sqlite`
 * (Deno, Bun, and Node 22.13 or later): workflows in a single file, or in
 * memory, with no database server.
 *
 * Several worker processes may share one database file on one machine: the
 * file is in WAL mode, every read-modify-write runs in a `BEGIN IMMEDIATE`
 * transaction, and leases and fencing follow the same rules as with
 * Postgres. A locked database is retried asynchronously with a short
 * randomized backoff, so a waiting writer never freezes the event loop.
 * Each backend holds one connection. (Do not put the file on a network
 * file system: SQLite's locking needs a local one.)
 *
 * Clock: with no database server, leases and availability are measured
 * with the clock of the process making each call (`Date.now()`). Processes
 * sharing a file share the machine's clock.
 *
 * @example Run a workflow in memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const greet = ow.defineWorkflow<{ name: string }, string>(
 *   { name: "greet" },
 *   async ({ input, step }) =>
 *     await step.run({ name: "greet" }, () => `Hello, ${input.name}!`),
 * );
 * const worker = ow.newWorker();
 * await worker.start();
 * const handle = await greet.run({ name: "Ada" });
 * assert.equal(await handle.result(), "Hello, Ada!");
 * await worker.stop();
 * ```
 *
 * @example A database file shared by several worker processes
 * ```ts ignore
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * const backend = await BackendSqlite.connect("./workflows.db");
 * // … use it with new OpenWorkflow({ backend }) …
 * await backend.stop();
 * ```
 */
export class BackendSqlite implements Backend {
  readonly #connection: SqliteConnection;
  readonly #namespaceId: string;

  private constructor(connection: SqliteConnection, namespaceId: string) {
    this.#connection = connection;
    this.#namespaceId = namespaceId;
  }

  /**
   * Opens (creating it when missing) a SQLite database and creates or
   * upgrades its schema. Many processes may open the same file at once.
   *
   * @param path A file path, `":memory:"` for a private in-memory
   * database, or a SQLite `file:` URI (passed to SQLite as is).
   * @param options Namespace and busy timeout.
   * @returns A connected backend.
   * @throws {TypeError} for a path that is not a non-empty string, or a
   * malformed namespace.
   * @throws {RangeError} for a `busyTimeoutMs` that is not a positive
   * number.
   * @throws {SchemaVersionError} when the database was created by a newer
   * version of this library; nothing is changed.
   * @throws {BackendError} when the file cannot be opened, is not a SQLite
   * database, or is corrupt; nothing is changed, and the message names the
   * path and the problem.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * const backend = await BackendSqlite.connect(":memory:", { namespaceId: "demo" });
   * console.log(backend.namespaceId); // demo
   * await backend.stop();
   * ```
   */
  static async connect(
    path: string,
    options: BackendSqliteOptions = {},
  ): Promise<BackendSqlite> {
    const what = "open SQLite database";
    if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
      throw new TypeError(
        `Cannot ${what}: 'path' must be a file path or ":memory:", received ${
          received(path)
        }`,
      );
    }
    const namespaceId = checkNamespaceId(options?.namespaceId, what);
    const busyTimeoutMs = options?.busyTimeoutMs === undefined
      ? DEFAULT_BUSY_TIMEOUT_MS
      : checkPositiveMs(options.busyTimeoutMs, what, "busyTimeoutMs");
    const connection = SqliteConnection.open(path, busyTimeoutMs);
    try {
      await prepareDatabase(connection);
    } catch (error) {
      connection.close();
      throw error;
    }
    return new BackendSqlite(connection, namespaceId);
  }

  /** The namespace this backend reads and writes. */
  get namespaceId(): string {
    return this.#namespaceId;
  }

  /** The path (or `":memory:"`, or URI) the backend was opened with. */
  get path(): string {
    return this.#connection.location;
  }

  #read<T>(action: string, fn: (ns: string) => T): Promise<T> {
    return this.#connection.read(action, () => fn(this.#namespaceId));
  }

  #write<T>(action: string, fn: (ns: string, now: number) => T): Promise<T> {
    return this.#connection.write(
      action,
      () => fn(this.#namespaceId, Date.now()),
    );
  }

  /** Runs a fenced update: throws `LeaseLostError` when it changes nothing. */
  #fenced(
    action: string,
    params: { workflowRunId: string; workerId: string },
    sql: string,
    values: (now: number) => Params,
  ): Promise<void> {
    const id = normalizeId(params.workflowRunId);
    return this.#write(action, (ns, now) => {
      const changed = id === null ? 0 : this.#connection.run(sql, {
        ns,
        id,
        workerId: params.workerId,
        now,
        ...values(now),
      });
      if (changed === 0) {
        throw new LeaseLostError(params.workflowRunId, params.workerId);
      }
    });
  }

  createWorkflowRun(params: CreateWorkflowRunParams): Promise<WorkflowRun> {
    const db = this.#connection;
    return this.#write("create workflow run", (ns, now) => {
      if (params.idempotencyKey !== null) {
        const existing = db.get(
          `SELECT * FROM ${RUNS} WHERE namespace_id = :ns
            AND workflow_name = :name AND idempotency_key = :key`,
          { ns, name: params.workflowName, key: params.idempotencyKey },
        );
        if (existing !== undefined) return toWorkflowRun(existing);
      }
      const row = db.get(
        `INSERT INTO ${RUNS} (
          namespace_id, id, workflow_name, version, status, idempotency_key,
          config, context, input, available_at, deadline_at, created_at,
          updated_at
        ) VALUES (
          :ns, :id, :name, :version, 'pending', :key, :config, :context,
          :input, :availableAt, :deadlineAt, :now, :now
        ) RETURNING *`,
        {
          ns,
          id: crypto.randomUUID(),
          name: params.workflowName,
          version: params.version,
          key: params.idempotencyKey,
          config: jsonTextNotNull(params.config),
          context: jsonText(params.context),
          input: jsonText(params.input),
          availableAt: epochMs(params.availableAt) ?? now,
          deadlineAt: epochMs(params.deadlineAt),
          now,
        },
      );
      return toWorkflowRun(row!);
    });
  }

  getWorkflowRun(params: GetWorkflowRunParams): Promise<WorkflowRun | null> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve(null);
    return this.#read("get workflow run", (ns) => {
      const row = this.#connection.get(
        `SELECT * FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
        { ns, id },
      );
      return row === undefined ? null : toWorkflowRun(row);
    });
  }

  async claimWorkflowRun(
    params: ClaimWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    const [run] = await this.claimWorkflowRuns({ ...params, limit: 1 });
    return run ?? null;
  }

  claimWorkflowRuns(params: ClaimWorkflowRunsParams): Promise<WorkflowRun[]> {
    const workflows = params.workflows;
    if (workflows !== undefined && workflows.length === 0) {
      return Promise.resolve([]);
    }
    const filter = workflows === undefined ? "" : `AND EXISTS (
      SELECT 1 FROM json_each(:workflows) AS w
      WHERE json_extract(w.value, '$.name') = r.workflow_name
        AND json_extract(w.value, '$.version') IS r.version
    )`;
    const selectors: Params = workflows === undefined ? {} : {
      workflows: JSON.stringify(
        workflows.map(({ name, version }) => ({ name, version })),
      ),
    };
    return this.#write("claim workflow runs", (ns, now) => {
      const rows = this.#connection.all(
        `UPDATE ${RUNS} SET
          status = 'running',
          worker_id = :workerId,
          attempts = attempts + 1,
          available_at = :leaseEnd,
          started_at = coalesce(started_at, :now),
          updated_at = :now
        WHERE seq IN (
          SELECT r.seq FROM ${RUNS} AS r
          WHERE r.namespace_id = :ns
            AND r.status IN ${UNFINISHED}
            AND r.available_at <= :now
            AND (r.deadline_at IS NULL OR r.deadline_at > :now)
            ${filter}
          ORDER BY r.available_at, r.created_at, r.seq
          LIMIT :limit
        )
        RETURNING *`,
        {
          ns,
          now,
          workerId: params.workerId,
          leaseEnd: now + params.leaseDurationMs,
          limit: params.limit,
          ...selectors,
        },
      );
      rows.sort((a, b) =>
        Number(a.created_at) - Number(b.created_at) ||
        Number(a.seq) - Number(b.seq)
      );
      return rows.map(toWorkflowRun);
    });
  }

  heartbeatWorkflowRun(params: HeartbeatWorkflowRunParams): Promise<void> {
    return this.#fenced(
      "heartbeat workflow run",
      params,
      `UPDATE ${RUNS} SET available_at = :leaseEnd, updated_at = :now
        WHERE ${OWNED}`,
      (now) => ({ leaseEnd: now + params.leaseDurationMs }),
    );
  }

  markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void> {
    return this.#fenced(
      "mark workflow run succeeded",
      params,
      `UPDATE ${RUNS} SET status = 'succeeded', output = :output,
          completed_at = :now, updated_at = :now
        WHERE ${OWNED}`,
      () => ({ output: jsonText(params.output) }),
    );
  }

  markWorkflowRunFailed(params: MarkWorkflowRunFailedParams): Promise<void> {
    return this.#fenced(
      "mark workflow run failed",
      params,
      `UPDATE ${RUNS} SET status = 'failed', error = :error,
          completed_at = :now, updated_at = :now
        WHERE ${OWNED}`,
      () => ({ error: jsonText(params.error) }),
    );
  }

  releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void> {
    return this.#fenced(
      "release workflow run",
      params,
      `UPDATE ${RUNS} SET status = :status, available_at = :availableAt,
          updated_at = :now
        WHERE ${OWNED}`,
      (now) => ({
        status: params.status,
        availableAt: epochMs(params.availableAt) ?? now,
      }),
    );
  }

  failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number> {
    return this.#write(
      "fail expired workflow runs",
      (ns, now) =>
        this.#connection.run(
          `UPDATE ${RUNS} SET status = 'failed', error = :error,
            completed_at = :now, updated_at = :now
          WHERE namespace_id = :ns
            AND deadline_at IS NOT NULL AND deadline_at <= :now
            AND status IN ${UNFINISHED}
            AND (status <> 'running' OR available_at <= :now)`,
          { ns, now, error: jsonText(params.error) },
        ),
    );
  }

  cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve(null);
    const db = this.#connection;
    return this.#write("cancel workflow run", (ns, now) => {
      const row = db.get(
        `UPDATE ${RUNS} SET status = 'canceled', error = :error,
            completed_at = :now, updated_at = :now
          WHERE namespace_id = :ns AND id = :id AND status IN ${UNFINISHED}
          RETURNING *`,
        { ns, id, now, error: jsonText(params.error) },
      ) ?? db.get(
        `SELECT * FROM ${RUNS} WHERE namespace_id = :ns AND id = :id`,
        { ns, id },
      );
      return row === undefined ? null : toWorkflowRun(row);
    });
  }

  listWorkflowRuns(params: ListWorkflowRunsParams): Promise<WorkflowRunPage> {
    const cursor = params.cursor == null ? null : decodeCursor(params.cursor);
    return this.#read("list workflow runs", (ns) => {
      const { sql, values } = listWorkflowRunsQuery(ns, params, cursor);
      const rows = this.#connection.all(sql, values);
      const page = rows.slice(0, params.limit);
      const last = page.at(-1);
      return {
        runs: page.map(toWorkflowRun),
        nextCursor: rows.length > params.limit && last !== undefined
          ? encodeCursor(
            new Date(Number(last.created_at)).toISOString(),
            String(last.id),
          )
          : null,
      };
    });
  }

  listStepAttempts(params: ListStepAttemptsParams): Promise<StepAttempt[]> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve([]);
    return this.#read("list step attempts", (ns) =>
      this.#connection.all(
        `SELECT * FROM ${STEPS}
          WHERE namespace_id = :ns AND workflow_run_id = :id
          ORDER BY seq`,
        { ns, id },
      ).map(toStepAttempt));
  }

  createStepAttempt(params: CreateStepAttemptParams): Promise<StepAttempt> {
    const id = normalizeId(params.workflowRunId);
    const db = this.#connection;
    return this.#write("create step attempt", (ns, now) => {
      const owned = id !== null && db.get(
            `SELECT 1 AS owned FROM ${RUNS} WHERE ${OWNED}`,
            { ns, id, workerId: params.workerId },
          ) !== undefined;
      if (!owned) {
        throw new LeaseLostError(params.workflowRunId, params.workerId);
      }
      const row = db.get(
        `INSERT INTO ${STEPS} (
          namespace_id, id, workflow_run_id, step_name, kind, status, config,
          context, created_at
        ) VALUES (
          :ns, :stepId, :id, :stepName, :kind, 'running', :config, :context,
          :now
        ) RETURNING *`,
        {
          ns,
          id,
          stepId: crypto.randomUUID(),
          stepName: params.stepName,
          kind: params.kind,
          config: jsonTextNotNull(params.config),
          context: jsonText(params.context),
          now,
        },
      );
      return toStepAttempt(row!);
    });
  }

  getStepAttempt(params: GetStepAttemptParams): Promise<StepAttempt | null> {
    const id = normalizeId(params.stepAttemptId);
    if (id === null) return Promise.resolve(null);
    return this.#read("get step attempt", (ns) => {
      const row = this.#connection.get(
        `SELECT * FROM ${STEPS} WHERE namespace_id = :ns AND id = :id`,
        { ns, id },
      );
      return row === undefined ? null : toStepAttempt(row);
    });
  }

  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void> {
    return this.#finishStepAttempt(params, "succeeded", params.output, null);
  }

  markStepAttemptFailed(params: MarkStepAttemptFailedParams): Promise<void> {
    return this.#finishStepAttempt(params, "failed", null, params.error);
  }

  #finishStepAttempt(
    params: { workflowRunId: string; stepAttemptId: string; workerId: string },
    status: "succeeded" | "failed",
    output: JsonValue | null,
    error: JsonValue | null,
  ): Promise<void> {
    const stepId = normalizeId(params.stepAttemptId);
    return this.#fenced(
      `mark step attempt ${status}`,
      params,
      `UPDATE ${STEPS} SET status = :status, output = :output,
          error = :error, completed_at = :now
        WHERE namespace_id = :ns AND id = :stepId
          AND workflow_run_id = :id AND status = 'running'
          AND EXISTS (SELECT 1 FROM ${RUNS} WHERE ${OWNED})`,
      () => ({
        stepId,
        status,
        output: jsonText(output),
        error: jsonText(error),
      }),
    );
  }

  /**
   * Closes the database connection. Calling it again is harmless; an
   * operation still waiting for a locked database then fails with
   * `BackendError`.
   *
   * @returns A promise that resolves once the connection is closed.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * const backend = await BackendSqlite.connect(":memory:");
   * await backend.stop();
   * await backend.stop(); // no-op
   * ```
   */
  stop(): Promise<void> {
    this.#connection.close();
    return Promise.resolve();
  }

  /**
   * Same as {@linkcode BackendSqlite.stop}, for `await using`.
   *
   * @returns A promise that resolves once the connection is closed.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * {
   *   await using backend = await BackendSqlite.connect(":memory:");
   *   console.log(backend.namespaceId); // default
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
