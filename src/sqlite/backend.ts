/**
 * `BackendSqlite`: the embedded backend, on `node:sqlite`.
 *
 * @module
 */

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
  normalizeId,
} from "../sql/checks.ts";
import {
  acquireMaintenanceLock,
  deleteWorkflowRuns,
  forkWorkflowRun,
  releaseMaintenanceLock,
  retryWorkflowRun,
} from "./operations.ts";
import { decodeCursor } from "../sql/cursor.ts";
import type { Params, Row, SqliteConnection } from "./connection.ts";
import { sqliteError } from "./errors.ts";
import { received } from "../core/validate.ts";
import { selectWorkflowRunPage } from "./list.ts";
import {
  type BackendSqliteOptions,
  type Clock,
  openDatabase,
} from "./connect.ts";

export type { BackendSqliteOptions, Clock } from "./connect.ts";
import {
  cancelWorkflowRun,
  failedUpdate,
  failExpiredWorkflowRuns,
  heartbeatUpdate,
  insertWorkflowRun,
  type OwnedRunUpdate,
  releaseUpdate,
  selectWorkflowRun,
  selectWorkflowRunStatuses,
  succeededUpdate,
  updateOwnedRun,
} from "./runs.ts";
import { claimWorkflowRuns } from "./claim.ts";
import { registerActivitySource } from "./activity.ts";
import { notifyAvailable } from "../core/wakeups.ts";
import { watchCommits } from "./watcher.ts";
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
  finishStepAttempt,
  insertStepAttempt,
  selectStepAttempt,
  selectStepAttempts,
  type StepAttemptOutcome,
} from "./steps.ts";

/**
 * SQLite implementation of the `Backend` interface, on `node:sqlite`
 * (Deno, Bun, and Node 22.13 or later): workflows in a single file, or in
 * memory, with no database server.
 *
 * Several worker processes may share one database file on one machine: the
 * file is in WAL mode, every read-modify-write runs in a `BEGIN IMMEDIATE`
 * transaction, and leases and fencing follow the same rules as with
 * Postgres. A locked database is retried asynchronously with a short
 * randomized backoff, so a waiting writer never freezes the event loop;
 * the writes of one backend commit in call order, and those that waited
 * for the lock together commit in one transaction. Each backend holds one
 * connection. (Do not put the file on a network
 * file system: SQLite's locking needs a local one.)
 *
 * Clock: with no database server, leases and availability are measured
 * with the clock of the process making each call (`Date.now()`, or the
 * `clock` option's). Processes sharing a file share the machine's clock.
 *
 * Errors: the fenced methods reject with `LeaseLostError` as the contract
 * says; every method rejects with `BackendError` (the driver's error as
 * `cause`) when the database fails, stays locked longer than
 * `busyTimeoutMs`, or the backend is stopped. The error's `location` is the
 * path given to `connect()`, and its `problem` says what is wrong when
 * SQLite tells (`"corrupt"`, `"locked"`, `"disk-full"`, …).
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
  /** The database file, as SQLite names it (read once, when needed). */
  #file: string | undefined;
  readonly #namespaceId: string;
  readonly #clock: Clock;
  readonly #unsubscribers = new Set<() => void>();

  private constructor(
    connection: SqliteConnection,
    namespaceId: string,
    clock: Clock,
  ) {
    this.#connection = connection;
    this.#namespaceId = namespaceId;
    this.#clock = clock;
    registerActivitySource(this, {
      connection,
      namespaceId,
      now: () => clock.now(),
    });
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
   * @throws {BackendError} when the file cannot be opened or written, is
   * not a SQLite database, or is corrupt; nothing is changed. The message
   * names the path and the problem, which the error also carries as
   * `location` and `problem`: `"is-directory"`, `"not-found"` (its
   * directory does not exist), `"permission-denied"`, `"read-only"`,
   * `"not-a-database"`, `"corrupt"`, … (see `BackendProblem`).
   *
   * Corruption: `connect()` reads the file's header and schema, not every
   * page (a full check would block for about 0.2 s per 100 MB when cached,
   * seconds when not). Damage deeper in the file, in the pages of runs and
   * steps, is reported by the first call that reads those pages: it
   * rejects with `BackendError` (problem `"corrupt"`, naming the path) and
   * changes nothing.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * const backend = await BackendSqlite.connect(":memory:", { namespaceId: "demo" });
   * console.log(backend.namespaceId); // demo
   * await backend.stop();
   * ```
   *
   * @example What went wrong, without parsing the message
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendError } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * // "." is the current directory, not a database file.
   * await assert.rejects(
   *   BackendSqlite.connect("."),
   *   (error) =>
   *     error instanceof BackendError && error.location === "." &&
   *     error.problem === "is-directory",
   * );
   * ```
   */
  static async connect(
    path: string,
    options?: BackendSqliteOptions,
  ): Promise<BackendSqlite> {
    const { connection, namespaceId, clock } = await openDatabase(
      path,
      options,
    );
    return new BackendSqlite(connection, namespaceId, clock);
  }

  /**
   * The namespace this backend reads and writes.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:", { namespaceId: "staging" });
   * console.log(backend.namespaceId); // staging
   * ```
   */
  get namespaceId(): string {
    return this.#namespaceId;
  }

  /**
   * The path (or `":memory:"`, or URI) the backend was opened with.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * console.log(backend.path); // :memory:
   * ```
   */
  get path(): string {
    return this.#connection.location;
  }

  #read<T>(action: string, fn: (ns: string) => T): Promise<T> {
    return this.#connection.read(action, () => fn(this.#namespaceId));
  }

  #write<T>(action: string, fn: (ns: string, now: number) => T): Promise<T> {
    return this.#connection.write(
      action,
      () => fn(this.#namespaceId, this.#clock.now()),
    );
  }

  /** Applies a fenced update to a run held by `params.workerId`. */
  #fenced(
    params: { workflowRunId: string; workerId: string },
    update: OwnedRunUpdate,
  ): Promise<void> {
    const id = normalizeId(params.workflowRunId);
    return this.#write(
      update.action,
      (ns, now) =>
        updateOwnedRun(this.#connection, ns, now, id, params, update),
    );
  }

  async createWorkflowRun(
    params: CreateWorkflowRunParams,
  ): Promise<WorkflowRun> {
    params = checkCreateRunParams(params);
    return await this.#write(
      "create workflow run",
      (ns, now) => insertWorkflowRun(this.#connection, ns, now, params),
    );
  }

  /**
   * Creates a run through the caller's own transaction: a `DatabaseSync`
   * (node:sqlite) of this backend's file, inside `BEGIN`. The run exists
   * only if that transaction commits; workers in this process are told at
   * once (and find it once it is committed), workers in other processes at
   * their next poll. `OpenWorkflow` calls it for `run(input, { transaction })`.
   *
   * @param params As for `createWorkflowRun`.
   * @param transaction The caller's `DatabaseSync`, inside a transaction.
   * @returns The run (or the existing run of its idempotency key).
   * @throws {TypeError} for something that is not a `DatabaseSync`, one of
   * another file, or one not inside a transaction.
   *
   * @example
   * ```ts ignore
   * db.exec("BEGIN");
   * db.prepare("INSERT INTO orders (item) VALUES (?)").run("book");
   * await fulfil.run({ item: "book" }, { transaction: db });
   * db.exec("COMMIT");
   * ```
   */
  async createWorkflowRunInTransaction(
    params: CreateWorkflowRunParams,
    transaction: unknown,
  ): Promise<WorkflowRun> {
    params = checkCreateRunParams(params);
    const what = "Cannot start a run in a transaction";
    const db = transaction as {
      prepare?: (sql: string) => {
        get(params?: unknown): unknown;
        all(params?: unknown): unknown[];
        run(params?: unknown): { changes: number | bigint };
      };
      isTransaction?: boolean;
    } | null;
    if (
      db === null || typeof db !== "object" ||
      typeof db.prepare !== "function"
    ) {
      throw new TypeError(
        `${what}: 'transaction' must be a DatabaseSync (node:sqlite) of the backend's file inside a transaction, received ${
          received(transaction)
        }`,
      );
    }
    const fileOf = (rows: unknown[]) =>
      String(
        (rows as { name: string; file: string }[]).find((r) =>
          r.name === "main"
        )?.file ?? "",
      );
    const theirs = fileOf(db.prepare("PRAGMA database_list").all());
    const ours = this.#file ??= await this.#read(
      "read the database file",
      () => fileOf(this.#connection.all("PRAGMA database_list")),
    );
    if (theirs === "" || theirs !== ours) {
      throw new TypeError(
        `${what}: the transaction's database is ${
          theirs === "" ? "in memory" : `the file ${theirs}`
        }, the backend's ${
          ours === "" ? "in memory" : `the file ${ours}`
        }; a run started there would never be seen by this backend's workers`,
      );
    }
    if (db.isTransaction === false) {
      throw new TypeError(
        `${what}: the DatabaseSync is not inside a transaction (run BEGIN first)`,
      );
    }
    const prepare = db.prepare.bind(db);
    const connection = {
      get: (sql: string, values: Params = {}) =>
        prepare(sql).get(values) as Row | undefined,
      all: (sql: string, values: Params = {}) =>
        prepare(sql).all(values) as Row[],
      run: (sql: string, values: Params = {}) =>
        Number(prepare(sql).run(values).changes),
    } as unknown as SqliteConnection;
    try {
      return insertWorkflowRun(
        connection,
        this.#namespaceId,
        this.#clock.now(),
        params,
      );
    } catch (error) {
      throw sqliteError("create workflow run", this.path, error);
    }
  }

  getWorkflowRun(params: GetWorkflowRunParams): Promise<WorkflowRun | null> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve(null);
    return this.#read(
      "get workflow run",
      (ns) => selectWorkflowRun(this.#connection, ns, id),
    );
  }

  getWorkflowRunStatuses(
    params: GetWorkflowRunStatusesParams,
  ): Promise<Pick<WorkflowRun, "id" | "status">[]> {
    const ids = params.workflowRunIds.map(normalizeId).filter((id) =>
      id !== null
    );
    if (ids.length === 0) return Promise.resolve([]);
    return this.#read(
      "get workflow run statuses",
      (ns) => selectWorkflowRunStatuses(this.#connection, ns, ids),
    );
  }

  async claimWorkflowRun(
    params: ClaimWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    const [run] = await this.claimWorkflowRuns({ ...params, limit: 1 });
    return run ?? null;
  }

  claimWorkflowRuns(params: ClaimWorkflowRunsParams): Promise<WorkflowRun[]> {
    return this.#write(
      "claim workflow runs",
      (ns, now) =>
        claimWorkflowRuns(
          this.#connection,
          ns,
          now,
          params,
          // Runs held back by their keys' limits: look again soon.
          () => notifyAvailable(this, new Date(Date.now() + 50)),
        ),
    );
  }

  heartbeatWorkflowRun(params: HeartbeatWorkflowRunParams): Promise<void> {
    return this.#fenced(params, heartbeatUpdate(params));
  }

  markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void> {
    return this.#fenced(params, succeededUpdate(params));
  }

  async markWorkflowRunSucceededWithSteps(
    params: MarkWorkflowRunSucceededWithStepsParams,
  ): Promise<void> {
    const steps = checkStepResults(params);
    const update = succeededUpdate(params);
    const runId = normalizeId(params.workflowRunId);
    // One write: should an attempt or the run not be the worker's, the
    // write's savepoint rolls back whatever of it was done.
    await this.#write(update.action, (ns, now) => {
      for (const step of steps) {
        finishStepAttempt(
          this.#connection,
          ns,
          now,
          { runId, stepId: normalizeId(step.stepAttemptId) },
          params,
          { status: "succeeded", output: step.output, error: null },
        );
      }
      updateOwnedRun(this.#connection, ns, now, runId, params, update);
    });
  }

  markWorkflowRunFailed(params: MarkWorkflowRunFailedParams): Promise<void> {
    return this.#fenced(params, failedUpdate(params));
  }

  async releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void> {
    checkReleaseTime(params);
    return await this.#fenced(params, releaseUpdate(params));
  }

  failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number> {
    return this.#write(
      "fail expired workflow runs",
      (ns, now) =>
        failExpiredWorkflowRuns(this.#connection, ns, now, params.error),
    );
  }

  cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve(null);
    return this.#write(
      "cancel workflow run",
      (ns, now) =>
        cancelWorkflowRun(
          this.#connection,
          ns,
          now,
          id,
          params.error,
          params.compensate === true,
        ),
    );
  }

  retryWorkflowRun(
    params: RetryWorkflowRunParams,
  ): Promise<RetryWorkflowRunOutcome> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve({ kind: "not-found" });
    return this.#write(
      "retry workflow run",
      (ns, now) => retryWorkflowRun(this.#connection, ns, now, id),
    );
  }

  async forkWorkflowRun(
    params: ForkWorkflowRunParams,
  ): Promise<ForkWorkflowRunOutcome> {
    params = checkForkRunParams(params);
    const workflowRunId = normalizeId(params.workflowRunId);
    if (workflowRunId === null) return { kind: "not-found" };
    return await this.#write(
      "fork workflow run",
      (ns, now) =>
        forkWorkflowRun(this.#connection, ns, now, {
          ...params,
          workflowRunId,
        }),
    );
  }

  async deleteWorkflowRuns(params: DeleteWorkflowRunsParams): Promise<number> {
    params = checkDeleteRunsParams(params);
    return await this.#write(
      "delete workflow runs",
      (ns) => deleteWorkflowRuns(this.#connection, ns, params),
    );
  }

  async acquireMaintenanceLock(
    params: MaintenanceLockParams,
  ): Promise<boolean> {
    checkLockParams(params);
    return await this.#write(
      "acquire maintenance lock",
      (ns, now) => acquireMaintenanceLock(this.#connection, ns, now, params),
    );
  }

  releaseMaintenanceLock(
    params: Pick<MaintenanceLockParams, "name" | "ownerId">,
  ): Promise<void> {
    return this.#write(
      "release maintenance lock",
      (ns) => releaseMaintenanceLock(this.#connection, ns, params),
    );
  }

  async listWorkflowRuns(
    params: ListWorkflowRunsParams,
  ): Promise<WorkflowRunPage> {
    // A malformed cursor rejects, as every other failure does.
    const cursor = params.cursor == null ? null : decodeCursor(params.cursor);
    return await this.#read(
      "list workflow runs",
      (ns) => selectWorkflowRunPage(this.#connection, ns, params, cursor),
    );
  }

  listStepAttempts(params: ListStepAttemptsParams): Promise<StepAttempt[]> {
    const id = normalizeId(params.workflowRunId);
    if (id === null) return Promise.resolve([]);
    return this.#read(
      "list step attempts",
      (ns) => selectStepAttempts(this.#connection, ns, id),
    );
  }

  createStepAttempt(params: CreateStepAttemptParams): Promise<StepAttempt> {
    const id = normalizeId(params.workflowRunId);
    return this.#write(
      "create step attempt",
      (ns, now) => insertStepAttempt(this.#connection, ns, now, id, params),
    );
  }

  getStepAttempt(params: GetStepAttemptParams): Promise<StepAttempt | null> {
    const id = normalizeId(params.stepAttemptId);
    if (id === null) return Promise.resolve(null);
    return this.#read(
      "get step attempt",
      (ns) => selectStepAttempt(this.#connection, ns, id),
    );
  }

  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void> {
    return this.#finishStepAttempt(params, {
      status: "succeeded",
      output: params.output,
      error: null,
    });
  }

  markStepAttemptFailed(params: MarkStepAttemptFailedParams): Promise<void> {
    return this.#finishStepAttempt(params, {
      status: "failed",
      output: null,
      error: params.error,
    });
  }

  #finishStepAttempt(
    params: { workflowRunId: string; stepAttemptId: string; workerId: string },
    outcome: StepAttemptOutcome,
  ): Promise<void> {
    const ids = {
      runId: normalizeId(params.workflowRunId),
      stepId: normalizeId(params.stepAttemptId),
    };
    return this.#write(
      `mark step attempt ${outcome.status}`,
      (ns, now) =>
        finishStepAttempt(this.#connection, ns, now, ids, params, outcome),
    );
  }

  sendSignal(params: SendSignalParams): Promise<SendSignalOutcome> {
    return this.#write(
      "send signal",
      (ns, now) => sendSignal(this.#connection, ns, now, params),
    );
  }

  receiveSignal(params: ReceiveSignalParams): Promise<ReceivedSignal | null> {
    return this.#write(
      "receive signal",
      (ns, now) => receiveSignal(this.#connection, ns, now, params),
    );
  }

  countWorkflowRuns(
    params: CountWorkflowRunsParams,
  ): Promise<WorkflowRunCount[]> {
    return this.#read(
      "count workflow runs",
      (ns) => countWorkflowRuns(this.#connection, ns, params),
    );
  }

  getQueueStatistics(): Promise<QueueStatistics> {
    return this.#read(
      "get queue statistics",
      (ns) => selectQueueStatistics(this.#connection, ns, this.#clock.now()),
    );
  }

  getNextAvailableAt(params: GetNextAvailableAtParams): Promise<Date | null> {
    return this.#read(
      "get the next available time",
      (ns) =>
        selectNextAvailableAt(this.#connection, ns, this.#clock.now(), params),
    );
  }

  listSignals(params: ListSignalsParams): Promise<WorkflowRunSignal[]> {
    return this.#read(
      "list signals",
      (ns) => selectSignals(this.#connection, ns, params.workflowRunId),
    );
  }

  now(): Promise<Date> {
    return Promise.resolve(new Date(this.#clock.now()));
  }

  createSchedule(params: CreateScheduleParams): Promise<CreateScheduleResult> {
    return this.#write(
      "create schedule",
      (ns, now) => insertSchedule(this.#connection, ns, now, params),
    );
  }

  getSchedule(params: { id: string }): Promise<Schedule | null> {
    return this.#read(
      "get schedule",
      (ns) => selectSchedule(this.#connection, ns, params.id),
    );
  }

  listSchedules(): Promise<Schedule[]> {
    return this.#read(
      "list schedules",
      (ns) => selectSchedules(this.#connection, ns),
    );
  }

  updateSchedule(params: UpdateScheduleParams): Promise<Schedule | null> {
    return this.#write(
      "update schedule",
      (ns, now) => updateSchedule(this.#connection, ns, now, params),
    );
  }

  deleteSchedule(params: { id: string }): Promise<boolean> {
    return this.#write(
      "delete schedule",
      (ns) => deleteSchedule(this.#connection, ns, params.id),
    );
  }

  listDueSchedules(params: ListDueSchedulesParams): Promise<DueSchedules> {
    return this.#read(
      "list due schedules",
      (ns) =>
        selectDueSchedules(
          this.#connection,
          ns,
          this.#clock.now(),
          params.limit,
        ),
    );
  }

  fireSchedule(params: FireScheduleParams): Promise<FireScheduleResult> {
    return this.#write(
      "fire schedule",
      (ns, now) => fireSchedule(this.#connection, ns, now, params),
    );
  }

  /**
   * Subscribes to commits by other connections to the database file (other
   * processes, other backends in this one), as `changed` notifications,
   * after one that says notifications are live: one timer per process and
   * file reads each connection's `PRAGMA data_version` every 10 ms (every
   * millisecond for a second after a commit), and a watch of the file's
   * write-ahead log has them read at once when another process writes it.
   * In memory, there is no one else: nothing is ever told.
   *
   * @param listener Called with each notification.
   * @returns A function that unsubscribes.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const unsubscribe = backend.subscribe((n) => console.log(n.kind));
   * unsubscribe();
   * ```
   */
  subscribe(listener: (notification: BackendNotification) => void): () => void {
    if (this.#connection.isClosed) return () => {};
    let file: string;
    try {
      file = String(
        this.#connection.all("PRAGMA database_list").find((row) =>
          row.name === "main"
        )?.file ?? "",
      );
    } catch {
      return () => {};
    }
    if (file === "") return () => {};
    const unsubscribe = watchCommits(file, this.#connection, listener);
    this.#unsubscribers.add(unsubscribe);
    return () => {
      unsubscribe();
      this.#unsubscribers.delete(unsubscribe);
    };
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
    for (const unsubscribe of this.#unsubscribers) unsubscribe();
    this.#unsubscribers.clear();
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
