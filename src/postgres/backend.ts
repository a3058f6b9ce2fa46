/**
 * `BackendPostgres`: the production backend, on postgres.js.
 *
 * @module
 */

import type { Sql } from "./driver/index.js";
import type {
  Backend,
  BackendNotification,
  CancelWorkflowRunParams,
  ClaimWorkflowRunParams,
  ClaimWorkflowRunsParams,
  CountWorkflowRunsParams,
  CreateScheduleParams,
  CreateScheduleResult,
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  DeleteWorkflowRunsParams,
  DueSchedules,
  FailExpiredWorkflowRunsParams,
  FireScheduleParams,
  FireScheduleResult,
  ForkWorkflowRunOutcome,
  ForkWorkflowRunParams,
  GetNextAvailableAtParams,
  GetStepAttemptParams,
  GetWorkflowRunParams,
  GetWorkflowRunStatusesParams,
  HeartbeatWorkflowRunParams,
  ListDueSchedulesParams,
  ListSignalsParams,
  ListStepAttemptsParams,
  ListWorkflowRunsParams,
  MaintenanceLockParams,
  MarkStepAttemptFailedParams,
  MarkStepAttemptSucceededParams,
  MarkWorkflowRunFailedParams,
  MarkWorkflowRunSucceededParams,
  MarkWorkflowRunSucceededWithStepsParams,
  QueueStatistics,
  ReceivedSignal,
  ReceiveSignalParams,
  ReleaseWorkflowRunParams,
  RetryWorkflowRunOutcome,
  RetryWorkflowRunParams,
  Schedule,
  SendSignalOutcome,
  SendSignalParams,
  StepAttempt,
  UpdateScheduleParams,
  WorkflowRun,
  WorkflowRunCount,
  WorkflowRunPage,
  WorkflowRunSignal,
} from "../core/backend.ts";
import {
  checkCreateRunParams,
  checkDeleteRunsParams,
  checkForkRunParams,
  checkLockParams,
  checkReleaseTime,
  checkStepResults,
  isUuid,
} from "../sql/checks.ts";
import { LeaseLostError } from "../core/errors.ts";
import { decodeCursor } from "../sql/cursor.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import { Batcher } from "./batcher.ts";
import { type ClaimState, claimWorkflowRuns } from "./claim.ts";
import {
  checkStatistics,
  newStatisticsState,
  type StatisticsState,
} from "./statistics.ts";
import { type BackendPostgresOptions, openConnection } from "./connect.ts";

export type { BackendPostgresOptions } from "./connect.ts";
import type { Dialer } from "./dial.ts";
import { CALL_TIMEOUT_MS, guard, unanswered } from "./errors.ts";
import { selectWorkflowRunPage } from "./list.ts";
import {
  availablePayload,
  channelOf,
  type ListenerRef,
} from "./notifications.ts";
import {
  cancelUnfinishedWorkflowRun,
  failExpiredWorkflowRuns,
  getWorkflowRuns,
  selectWorkflowRunStatuses,
} from "./runs.ts";
import type { Scope } from "./scope.ts";
import { receiveSignal, sendSignal } from "./signals.ts";
import {
  countWorkflowRuns,
  selectNextAvailableAt,
  selectQueueStatistics,
  selectSignals,
} from "./inspection.ts";
import {
  deleteSchedule,
  fireSchedule,
  insertSchedule,
  selectDueSchedules,
  selectSchedule,
  selectSchedules,
  updateSchedule,
} from "./schedules.ts";
import {
  selectStepAttempt,
  selectStepAttempts,
  type StepTransition,
} from "./steps.ts";
import {
  createWorkflowRunIn,
  foreignQuery,
  IDENTITY_QUERY,
  type ServerIdentity,
  toIdentity,
} from "./enqueue.ts";
import {
  acquireMaintenanceLock,
  deleteWorkflowRuns,
  forkWorkflowRun,
  releaseMaintenanceLock,
  retryWorkflowRun,
} from "./operations.ts";
import { flushIsolated, type Write } from "./writes.ts";

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
  readonly #claims: ClaimState = {
    keyed: true,
    // Runs held back by their keys' limits: this process's workers look
    // again when the claim says (a rate window moving on sends no
    // notification).
    onHeldBack: (at) => notifyAvailable(this, at),
  };
  readonly #statistics: StatisticsState = newStatisticsState();
  readonly #listener: ListenerRef | null;
  readonly #unsubscribers = new Set<() => void>();

  readonly #getRuns: Batcher<string, WorkflowRun | null>;
  readonly #writes: Batcher<Write, unknown>;
  #stopped: Promise<void> | null = null;
  #warmUp: Promise<void> = Promise.resolve();
  readonly #schema: string;
  #identity: Promise<ServerIdentity> | null = null;

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
    this.#schema = schema;
    const s: Scope = {
      sql,
      namespaceId,
      channel: channelOf(schema),
      runs: sql(`${schema}.workflow_runs`),
      steps: sql(`${schema}.step_attempts`),
      signals: sql(`${schema}.signals`),
      deliveries: sql(`${schema}.signal_deliveries`),
      schedules: sql(`${schema}.schedules`),
      gates: sql(`${schema}.flow_gates`),
      locks: sql(`${schema}.maintenance_locks`),
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
      (batch) => flushIsolated(s, batch),
      1,
      1000,
      CALL_TIMEOUT_MS,
      () => unanswered("write"),
    );
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
   * Behind a connection pooler in transaction mode (PgBouncer and the
   * like), declared with `pooler: "transaction"` or found when the pooler
   * refuses or drops the backend's session settings, it sends one
   * statement at a time per connection with no named prepared statements,
   * and LISTENs only over `listenUrl` (a direct connection); without one,
   * it polls.
   *
   * @param connectionString A `postgres://` or `postgresql://` URL.
   * @param options Namespace, schema, pool size, notifications, pooler.
   * @returns A connected backend.
   * @throws {TypeError} for a malformed URL (or `listenUrl`), namespace or
   * schema name, a `pooler` other than `"transaction"`, or a URL that sets
   * a DateStyle other than ISO (`?datestyle=…`; the backend sets ISO on its
   * connections, whatever the server's default).
   * @throws {SchemaVersionError} when the schema is newer than this library.
   * @throws {BackendError} when the database cannot be reached.
   *
   * @example
   * ```ts ignore
   * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
   * ```
   *
   * @example Through PgBouncer, notifications over a direct connection
   * ```ts ignore
   * const backend = await BackendPostgres.connect(
   *   "postgresql://app@pgbouncer:6432/app",
   *   { listenUrl: "postgresql://app@db:5432/app" },
   * );
   * ```
   */
  static async connect(
    connectionString: string,
    options?: BackendPostgresOptions,
  ): Promise<BackendPostgres> {
    const { sql, dialer, namespaceId, schema, listener, maxConnections } =
      await openConnection(connectionString, options);
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
    params = checkCreateRunParams(params);
    // This process's claims weigh runs with keys from now on.
    if (params.concurrencyKey != null || params.rateLimitKey != null) {
      this.#claims.keyed = true;
    }
    return await this.#write({
      kind: "createRun",
      item: { ...params, id: crypto.randomUUID() },
    });
  }

  /**
   * Creates a run through the caller's own transaction: a postgres.js
   * transaction (the `tx` of `sql.begin()`, from the application's own
   * copy of the driver) or a node-postgres client inside `BEGIN`. The run
   * exists only if that transaction commits; the notification that wakes
   * workers is delivered at the commit. `OpenWorkflow` calls it for
   * `run(input, { transaction })`.
   *
   * @param params As for `createWorkflowRun`.
   * @param transaction The caller's transaction.
   * @returns The run (or the existing run of its idempotency key), as the
   * transaction sees it.
   * @throws {TypeError} for a transaction that is neither, or whose
   * connection is on another database or server than this backend's.
   *
   * @example
   * ```ts ignore
   * await sql.begin(async (tx) => {
   *   await tx`insert into orders ${tx(order)}`;
   *   await fulfil.run({ orderId: order.id }, { transaction: tx });
   * });
   * ```
   */
  async createWorkflowRunInTransaction(
    params: CreateWorkflowRunParams,
    transaction: unknown,
  ): Promise<WorkflowRun> {
    params = checkCreateRunParams(params);
    const query = foreignQuery(transaction);
    if (params.concurrencyKey != null || params.rateLimitKey != null) {
      this.#claims.keyed = true;
    }
    return await createWorkflowRunIn(
      this.#scope,
      this.#schema,
      () =>
        this.#identity ??= guard(
          "read the server's identity",
          this.#sql.unsafe(IDENTITY_QUERY),
        ).then((rows) => toIdentity(rows[0])).catch((error) => {
          this.#identity = null;
          throw error;
        }),
      query,
      params,
    );
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
    return await guard(
      "get workflow run statuses",
      selectWorkflowRunStatuses(this.#scope, ids),
    );
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
    // A worker keeps the planner's statistics current through bursts: its
    // first claim waits for the check, later ones start one in the
    // background while they find runs.
    if (this.#statistics.checkedAt === -Infinity && this.#stopped === null) {
      await checkStatistics(this.#sql, this.#schema, this.#statistics);
    }
    const runs = await guard(
      "claim workflow runs",
      claimWorkflowRuns(this.#scope, params, this.#claims),
    );
    if (runs.length > 0 && this.#stopped === null) {
      checkStatistics(this.#sql, this.#schema, this.#statistics);
    }
    return runs;
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

  async markWorkflowRunSucceededWithSteps(
    params: MarkWorkflowRunSucceededWithStepsParams,
  ): Promise<void> {
    const steps = checkStepResults(params);
    const { workflowRunId, workerId, output } = params;
    // An id that is no UUID names no attempt (nor run) of the worker's.
    if (![workflowRunId, ...steps.map((s) => s.stepAttemptId)].every(isUuid)) {
      throw new LeaseLostError(workflowRunId, workerId);
    }
    return await this.#write({
      kind: "succeedWithSteps",
      item: {
        steps: steps.map((step) =>
          succeededStep({ workflowRunId, workerId, ...step })
        ),
        run: { kind: "succeeded", workflowRunId, workerId, output },
      },
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
    return await guard(
      "fail expired workflow runs",
      failExpiredWorkflowRuns(this.#scope, params),
    );
  }

  async cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    if (!isUuid(params.workflowRunId)) return null;
    const run = await guard(
      "cancel workflow run",
      cancelUnfinishedWorkflowRun(this.#scope, params),
    );
    if (run !== null) return run;
    return await this.getWorkflowRun(params);
  }

  async retryWorkflowRun(
    params: RetryWorkflowRunParams,
  ): Promise<RetryWorkflowRunOutcome> {
    if (!isUuid(params.workflowRunId)) return { kind: "not-found" };
    return await guard(
      "retry workflow run",
      retryWorkflowRun(this.#scope, params.workflowRunId.toLowerCase()),
    );
  }

  async forkWorkflowRun(
    params: ForkWorkflowRunParams,
  ): Promise<ForkWorkflowRunOutcome> {
    params = checkForkRunParams(params);
    if (!isUuid(params.workflowRunId)) return { kind: "not-found" };
    const outcome = await guard(
      "fork workflow run",
      forkWorkflowRun(this.#scope, {
        ...params,
        workflowRunId: params.workflowRunId.toLowerCase(),
      }),
    );
    if (
      outcome.kind === "forked" &&
      (outcome.workflowRun.concurrencyKey !== null ||
        outcome.workflowRun.rateLimitKey !== null)
    ) this.#claims.keyed = true;
    return outcome;
  }

  async deleteWorkflowRuns(params: DeleteWorkflowRunsParams): Promise<number> {
    params = checkDeleteRunsParams(params);
    return await guard(
      "delete workflow runs",
      deleteWorkflowRuns(this.#scope, params),
    );
  }

  async acquireMaintenanceLock(
    params: MaintenanceLockParams,
  ): Promise<boolean> {
    checkLockParams(params);
    return await guard(
      "acquire maintenance lock",
      acquireMaintenanceLock(this.#scope, params),
    );
  }

  async releaseMaintenanceLock(
    params: Pick<MaintenanceLockParams, "name" | "ownerId">,
  ): Promise<void> {
    await guard(
      "release maintenance lock",
      releaseMaintenanceLock(this.#scope, params),
    );
  }

  async listWorkflowRuns(
    params: ListWorkflowRunsParams,
  ): Promise<WorkflowRunPage> {
    const cursor = params.cursor == null ? null : decodeCursor(params.cursor);
    return await guard(
      "list workflow runs",
      selectWorkflowRunPage(this.#scope, params, cursor),
    );
  }

  async listStepAttempts(
    params: ListStepAttemptsParams,
  ): Promise<StepAttempt[]> {
    if (!isUuid(params.workflowRunId)) return [];
    return await guard(
      "list step attempts",
      selectStepAttempts(this.#scope, params.workflowRunId),
    );
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
    return await guard(
      "get step attempt",
      selectStepAttempt(this.#scope, params.stepAttemptId),
    );
  }

  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void> {
    return this.#write({ kind: "finishStep", item: succeededStep(params) });
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
   * Checks that notifications work end to end: sends one through the
   * database and waits for this process's listening connection to hear it.
   * Workers that hear it are not disturbed (it announces runs available at
   * a time centuries away). The CLI's `doctor` runs it.
   *
   * @param timeoutMs How long to wait.
   * @returns Whether the notification came back in time; `false` without
   * the listening connection (`listen: false`).
   *
   * @example
   * ```ts ignore
   * console.log(await backend.probeNotifications()); // true
   * ```
   */
  async probeNotifications(timeoutMs = 5_000): Promise<boolean> {
    if (this.#listener === null || this.#stopped !== null) return false;
    // A distinctive time in the year 9000.
    const at = Date.UTC(9000, 0, 1) + Math.floor(Math.random() * 1e9);
    let unsubscribe = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const heard = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      unsubscribe = this.subscribe((n) => {
        if (n.kind === "available" && n.availableAt?.getTime() === at) {
          resolve(true);
        }
      });
    });
    try {
      await guard(
        "probe notifications",
        this.#sql`SELECT pg_notify(${this.#scope.channel}, ${
          availablePayload(this.#scope.namespaceId, at)
        })`,
      );
      return await heard;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  sendSignal(params: SendSignalParams): Promise<SendSignalOutcome> {
    return guard("send signal", sendSignal(this.#scope, params));
  }

  receiveSignal(params: ReceiveSignalParams): Promise<ReceivedSignal | null> {
    return guard("receive signal", receiveSignal(this.#scope, params));
  }

  countWorkflowRuns(
    params: CountWorkflowRunsParams,
  ): Promise<WorkflowRunCount[]> {
    return guard(
      "count workflow runs",
      countWorkflowRuns(this.#scope, params),
    );
  }

  getQueueStatistics(): Promise<QueueStatistics> {
    return guard(
      "get queue statistics",
      selectQueueStatistics(this.#scope),
    );
  }

  getNextAvailableAt(params: GetNextAvailableAtParams): Promise<Date | null> {
    return guard(
      "get the next available time",
      selectNextAvailableAt(this.#scope, params),
    );
  }

  listSignals(params: ListSignalsParams): Promise<WorkflowRunSignal[]> {
    return guard(
      "list signals",
      selectSignals(this.#scope, params.workflowRunId),
    );
  }

  async now(): Promise<Date> {
    const [row] = await guard("read the clock", this.#sql`SELECT now() AS now`);
    return row.now as Date;
  }

  createSchedule(params: CreateScheduleParams): Promise<CreateScheduleResult> {
    return guard("create schedule", insertSchedule(this.#scope, params));
  }

  getSchedule(params: { id: string }): Promise<Schedule | null> {
    return guard("get schedule", selectSchedule(this.#scope, params.id));
  }

  listSchedules(): Promise<Schedule[]> {
    return guard("list schedules", selectSchedules(this.#scope));
  }

  updateSchedule(params: UpdateScheduleParams): Promise<Schedule | null> {
    return guard("update schedule", updateSchedule(this.#scope, params));
  }

  deleteSchedule(params: { id: string }): Promise<boolean> {
    return guard("delete schedule", deleteSchedule(this.#scope, params.id));
  }

  listDueSchedules(params: ListDueSchedulesParams): Promise<DueSchedules> {
    return guard(
      "list due schedules",
      selectDueSchedules(this.#scope, params.limit),
    );
  }

  fireSchedule(params: FireScheduleParams): Promise<FireScheduleResult> {
    return guard("fire schedule", fireSchedule(this.#scope, params));
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
      await this.#statistics.running;
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

/** The write that marks a step attempt succeeded with `params.output`. */
function succeededStep(params: MarkStepAttemptSucceededParams): StepTransition {
  return { ...params, status: "succeeded", error: null };
}
