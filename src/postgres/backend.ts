/**
 * `BackendPostgres`: the production backend, on postgres.js.
 *
 * @module
 */

import postgres from "postgres";
import type { Sql } from "postgres";
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
import { BackendError, LeaseLostError } from "../errors.ts";
import type { JsonValue } from "../json.ts";
import { checkPositiveInteger, received } from "../validate.ts";
import {
  checkNamespaceId,
  decodeCursor,
  encodeCursor,
} from "../backend_util.ts";
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
   * The most connections in the pool.
   * @default {10}
   */
  maxConnections?: number;
}

type Row = Record<string, unknown>;

/**
 * PostgreSQL implementation of the `Backend` interface.
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
  readonly #namespaceId: string;
  readonly #schema: string;
  #stopped: Promise<void> | null = null;

  private constructor(sql: Sql, namespaceId: string, schema: string) {
    this.#sql = sql;
    this.#namespaceId = namespaceId;
    this.#schema = schema;
  }

  /**
   * Connects to a PostgreSQL database and creates or upgrades the schema
   * (migrations run under an advisory lock: safe when many processes
   * connect at once).
   *
   * @param connectionString A `postgres://` or `postgresql://` URL.
   * @param options Namespace, schema and pool size.
   * @returns A connected backend.
   * @throws {TypeError} for a malformed URL, namespace or schema name.
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
    options: BackendPostgresOptions = {},
  ): Promise<BackendPostgres> {
    const what = "connect to Postgres";
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
    const sql = postgres(connectionString, {
      max: maxConnections,
      onnotice: () => {},
      connect_timeout: 10,
    });
    try {
      await migrate(sql, schema);
    } catch (error) {
      await sql.end({ timeout: 1 });
      if (error instanceof Error && error.name === "SchemaVersionError") {
        throw error;
      }
      throw new BackendError(what, { cause: error });
    }
    return new BackendPostgres(sql, namespaceId, schema);
  }

  /** The namespace this backend reads and writes. */
  get namespaceId(): string {
    return this.#namespaceId;
  }

  #t(table: "workflow_runs" | "step_attempts") {
    return this.#sql(`${this.#schema}.${table}`);
  }

  async createWorkflowRun(
    params: CreateWorkflowRunParams,
  ): Promise<WorkflowRun> {
    const sql = this.#sql;
    const ns = this.#namespaceId;
    const rows = await sql<Row[]>`
      INSERT INTO ${this.#t("workflow_runs")} (
        namespace_id, id, workflow_name, version, status, idempotency_key,
        config, context, input, available_at, deadline_at
      ) VALUES (
        ${ns}, ${crypto.randomUUID()}, ${params.workflowName}, ${params.version},
        'pending', ${params.idempotencyKey}, ${json(params.config)}::text::json,
        ${json(params.context)}::text::json, ${json(params.input)}::text::json,
        coalesce(${params.availableAt}::timestamptz, now()), ${params.deadlineAt}
      )
      ON CONFLICT (namespace_id, workflow_name, idempotency_key)
        WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING *`;
    if (rows.length > 0) return toWorkflowRun(rows[0]);
    const [existing] = await sql<Row[]>`
      SELECT * FROM ${this.#t("workflow_runs")}
      WHERE namespace_id = ${ns} AND workflow_name = ${params.workflowName}
        AND idempotency_key = ${params.idempotencyKey}`;
    if (existing === undefined) {
      throw new BackendError("create workflow run: idempotency conflict");
    }
    return toWorkflowRun(existing);
  }

  async getWorkflowRun(
    params: GetWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    if (!isUuid(params.workflowRunId)) return null;
    const [row] = await this.#sql<Row[]>`
      SELECT * FROM ${this.#t("workflow_runs")}
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}`;
    return row === undefined ? null : toWorkflowRun(row);
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
    const sql = this.#sql;
    const runs = this.#t("workflow_runs");
    const workflows = params.workflows;
    const filter = workflows === undefined ? sql`` : sql`
      AND EXISTS (
        SELECT 1 FROM unnest(
          ${workflows.map((w) => w.name)}::text[],
          ${workflows.map((w) => w.version)}::text[]
        ) AS w(name, version)
        WHERE w.name = r.workflow_name
          AND w.version IS NOT DISTINCT FROM r.version
      )`;
    const rows = await sql<Row[]>`
      WITH candidates AS (
        SELECT r.id FROM ${runs} r
        WHERE r.namespace_id = ${this.#namespaceId}
          AND r.status IN ('pending', 'running', 'sleeping')
          AND r.available_at <= now()
          AND (r.deadline_at IS NULL OR r.deadline_at > now())
          ${filter}
        ORDER BY r.available_at, r.created_at
        LIMIT ${params.limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE ${runs} r SET
        status = 'running',
        worker_id = ${params.workerId},
        attempts = r.attempts + 1,
        available_at = now() + ${params.leaseDurationMs} * interval '1 millisecond',
        started_at = coalesce(r.started_at, now()),
        updated_at = now()
      FROM candidates c
      WHERE r.namespace_id = ${this.#namespaceId} AND r.id = c.id
      RETURNING r.*`;
    return rows.map(toWorkflowRun).sort((a, b) =>
      a.createdAt.getTime() - b.createdAt.getTime()
    );
  }

  async heartbeatWorkflowRun(
    params: HeartbeatWorkflowRunParams,
  ): Promise<void> {
    const rows = await this.#sql`
      UPDATE ${this.#t("workflow_runs")} SET
        available_at = now() + ${params.leaseDurationMs} * interval '1 millisecond',
        updated_at = now()
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}
        AND status = 'running' AND worker_id = ${params.workerId}
      RETURNING 1`;
    fenced(rows.length, params);
  }

  async markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void> {
    const rows = await this.#sql`
      UPDATE ${this.#t("workflow_runs")} SET
        status = 'succeeded', output = ${json(params.output)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}
        AND status = 'running' AND worker_id = ${params.workerId}
      RETURNING 1`;
    fenced(rows.length, params);
  }

  async markWorkflowRunFailed(
    params: MarkWorkflowRunFailedParams,
  ): Promise<void> {
    const rows = await this.#sql`
      UPDATE ${this.#t("workflow_runs")} SET
        status = 'failed', error = ${json(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}
        AND status = 'running' AND worker_id = ${params.workerId}
      RETURNING 1`;
    fenced(rows.length, params);
  }

  async releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void> {
    const rows = await this.#sql`
      UPDATE ${this.#t("workflow_runs")} SET
        status = ${params.status},
        available_at = coalesce(${params.availableAt}::timestamptz, now()),
        context = ${
      params.context === undefined
        ? this.#sql`context`
        : this.#sql`${json(params.context)}::text::json`
    },
        updated_at = now()
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}
        AND status = 'running' AND worker_id = ${params.workerId}
      RETURNING 1`;
    fenced(rows.length, params);
  }

  async failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number> {
    const rows = await this.#sql`
      UPDATE ${this.#t("workflow_runs")} SET
        status = 'failed', error = ${json(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${this.#namespaceId}
        AND deadline_at IS NOT NULL AND deadline_at <= now()
        AND status IN ('pending', 'running', 'sleeping')
        AND (status <> 'running' OR available_at <= now())
      RETURNING 1`;
    return rows.length;
  }

  async cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    if (!isUuid(params.workflowRunId)) return null;
    const [row] = await this.#sql<Row[]>`
      UPDATE ${this.#t("workflow_runs")} SET
        status = 'canceled', error = ${json(params.error)}::text::json,
        completed_at = now(), updated_at = now()
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.workflowRunId}
        AND status IN ('pending', 'running', 'sleeping')
      RETURNING *`;
    if (row !== undefined) return toWorkflowRun(row);
    return await this.getWorkflowRun(params);
  }

  async listWorkflowRuns(
    params: ListWorkflowRunsParams,
  ): Promise<WorkflowRunPage> {
    const sql = this.#sql;
    const runs = this.#t("workflow_runs");
    const cursor = params.cursor == null ? null : decodeCursor(params.cursor);
    const rows = await sql<Row[]>`
      SELECT *, created_at::text AS created_at_text FROM ${runs}
      WHERE namespace_id = ${this.#namespaceId}
        ${
      params.workflowName === undefined
        ? sql``
        : sql`AND workflow_name = ${params.workflowName}`
    }
        ${
      params.statuses === undefined
        ? sql``
        : sql`AND status = ANY(${[...params.statuses]}::text[])`
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
      LIMIT ${params.limit + 1}`;
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
    const rows = await this.#sql<Row[]>`
      SELECT * FROM ${this.#t("step_attempts")}
      WHERE namespace_id = ${this.#namespaceId}
        AND workflow_run_id = ${params.workflowRunId}
      ORDER BY seq`;
    return rows.map(toStepAttempt);
  }

  async createStepAttempt(
    params: CreateStepAttemptParams,
  ): Promise<StepAttempt> {
    const ns = this.#namespaceId;
    const [row] = await this.#sql<Row[]>`
      INSERT INTO ${this.#t("step_attempts")} (
        namespace_id, id, workflow_run_id, step_name, kind, status, config, context
      )
      SELECT ${ns}, ${crypto.randomUUID()}, ${params.workflowRunId},
        ${params.stepName}, ${params.kind}, 'running',
        ${json(params.config)}::text::json, ${json(params.context)}::text::json
      WHERE EXISTS (
        SELECT 1 FROM ${this.#t("workflow_runs")}
        WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
          AND status = 'running' AND worker_id = ${params.workerId}
      )
      RETURNING *`;
    fenced(row === undefined ? 0 : 1, params);
    return toStepAttempt(row);
  }

  async getStepAttempt(
    params: GetStepAttemptParams,
  ): Promise<StepAttempt | null> {
    if (!isUuid(params.stepAttemptId)) return null;
    const [row] = await this.#sql<Row[]>`
      SELECT * FROM ${this.#t("step_attempts")}
      WHERE namespace_id = ${this.#namespaceId} AND id = ${params.stepAttemptId}`;
    return row === undefined ? null : toStepAttempt(row);
  }

  async markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void> {
    await this.#finishStepAttempt(params, "succeeded", params.output, null);
  }

  async markStepAttemptFailed(
    params: MarkStepAttemptFailedParams,
  ): Promise<void> {
    await this.#finishStepAttempt(params, "failed", null, params.error);
  }

  async #finishStepAttempt(
    params: { workflowRunId: string; stepAttemptId: string; workerId: string },
    status: "succeeded" | "failed",
    output: JsonValue | null,
    error: JsonValue | null,
  ): Promise<void> {
    const ns = this.#namespaceId;
    const rows = await this.#sql`
      UPDATE ${this.#t("step_attempts")} SET
        status = ${status}, output = ${json(output)}::text::json,
        error = ${json(error)}::text::json, completed_at = clock_timestamp()
      WHERE namespace_id = ${ns} AND id = ${params.stepAttemptId}
        AND workflow_run_id = ${params.workflowRunId} AND status = 'running'
        AND EXISTS (
          SELECT 1 FROM ${this.#t("workflow_runs")}
          WHERE namespace_id = ${ns} AND id = ${params.workflowRunId}
            AND status = 'running' AND worker_id = ${params.workerId}
        )
      RETURNING 1`;
    fenced(rows.length, params);
  }

  /**
   * Closes the database connection pool. Calling it again is harmless.
   *
   * @example
   * ```ts ignore
   * await backend.stop();
   * ```
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#sql.end({ timeout: 5 });
    return this.#stopped;
  }

  /** Same as {@linkcode BackendPostgres.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** JSON text for a `::json` parameter (`null` stays SQL `NULL`). */
function json(value: JsonValue | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

function fenced(
  count: number,
  params: { workflowRunId: string; workerId: string },
): void {
  if (count === 0) {
    throw new LeaseLostError(params.workflowRunId, params.workerId);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isUuid(value: string): boolean {
  return UUID.test(value);
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
          ? JSON.stringify(value.replace(/:[^:@/]*@/, ":***@"))
          : received(value)
      }`,
    );
  }
}

function toWorkflowRun(row: Row): WorkflowRun {
  return {
    id: row.id as string,
    workflowName: row.workflow_name as string,
    version: row.version as string | null,
    status: row.status as WorkflowRun["status"],
    workerId: row.worker_id as string | null,
    config: row.config as JsonValue,
    context: row.context as JsonValue | null,
    input: row.input as JsonValue | null,
    output: row.output as JsonValue | null,
    error: row.error as JsonValue | null,
    availableAt: row.available_at as Date,
    deadlineAt: row.deadline_at as Date | null,
    createdAt: row.created_at as Date,
    completedAt: row.completed_at as Date | null,
    idempotencyKey: row.idempotency_key as string | null,
    attempts: row.attempts as number,
    startedAt: row.started_at as Date | null,
    updatedAt: row.updated_at as Date,
  };
}

function toStepAttempt(row: Row): StepAttempt {
  return {
    id: row.id as string,
    workflowRunId: row.workflow_run_id as string,
    stepName: row.step_name as string,
    kind: row.kind as StepAttempt["kind"],
    status: row.status as StepAttempt["status"],
    config: row.config as JsonValue,
    context: row.context as JsonValue | null,
    output: row.output as JsonValue | null,
    error: row.error as JsonValue | null,
    createdAt: row.created_at as Date,
    completedAt: row.completed_at as Date | null,
  };
}
