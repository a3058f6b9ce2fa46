/**
 * The `Backend` interface, its records and its parameter types. No I/O.
 *
 * A backend stores workflow runs and their step attempts. The engine (client
 * and worker) holds all workflow semantics; a backend provides atomic claims,
 * leases measured by the database clock, and fenced writes.
 *
 * @module
 */

import type {
  BackendNotification,
  StepAttempt,
  WorkflowRun,
  WorkflowRunPage,
} from "./records.ts";
import type {
  CancelWorkflowRunParams,
  ClaimWorkflowRunParams,
  ClaimWorkflowRunsParams,
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  DeleteWorkflowRunsParams,
  FailExpiredWorkflowRunsParams,
  ForkWorkflowRunOutcome,
  ForkWorkflowRunParams,
  GetNextAvailableAtParams,
  GetStepAttemptParams,
  GetWorkflowRunParams,
  GetWorkflowRunStatusesParams,
  HeartbeatWorkflowRunParams,
  ListStepAttemptsParams,
  ListWorkflowRunsParams,
  MaintenanceLockParams,
  MarkStepAttemptFailedParams,
  MarkStepAttemptSucceededParams,
  MarkWorkflowRunFailedParams,
  MarkWorkflowRunSucceededParams,
  MarkWorkflowRunSucceededWithStepsParams,
  ReceivedSignal,
  ReceiveSignalParams,
  ReleaseWorkflowRunParams,
  RetryWorkflowRunOutcome,
  RetryWorkflowRunParams,
  SendSignalOutcome,
  SendSignalParams,
} from "./backend_params.ts";
import type {
  CreateScheduleParams,
  CreateScheduleResult,
  DueSchedules,
  FireScheduleParams,
  FireScheduleResult,
  ListDueSchedulesParams,
  Schedule,
  UpdateScheduleParams,
} from "./schedules.ts";
import type {
  CountWorkflowRunsParams,
  ListSignalsParams,
  QueueStatistics,
  WorkflowRunCount,
  WorkflowRunSignal,
} from "./inspection.ts";

export { RUN_STATUSES, TERMINAL_STATUSES } from "./records.ts";
export type {
  BackendNotification,
  RunOutcome,
  StepAttempt,
  StepAttemptStatus,
  StepKind,
  WorkflowRun,
  WorkflowRunPage,
  WorkflowRunStatus,
  WorkflowSelector,
} from "./records.ts";
export type * from "./backend_params.ts";
export type * from "./schedules.ts";
export type * from "./inspection.ts";

/**
 * Storage for workflow runs and their step attempts, scoped to one
 * namespace. The engine (client and worker) keeps all workflow semantics and
 * reaches storage only through this interface; `BackendPostgres` and
 * `BackendSqlite` implement it. Every method takes one params object.
 *
 * ## Implementing a backend
 *
 * These rules hold for every method; each method's doc adds its own.
 *
 * 1. **Namespace.** A backend object is bound to one namespace when it is
 *    made (`DEFAULT_NAMESPACE_ID`, `"default"`, unless told otherwise), and
 *    reads and writes that namespace only. A run or attempt of another
 *    namespace behaves exactly like an unknown id: reads return `null` or
 *    `[]`, fenced writes throw `LeaseLostError`, `cancelWorkflowRun`
 *    returns `null`; claims, `failExpiredWorkflowRuns`, `listWorkflowRuns`
 *    and idempotency keys never see it.
 * 2. **Ids** are lower-case UUIDs the backend makes (`crypto.randomUUID()`).
 *    Any string may be passed as an id: one that names nothing here (not a
 *    UUID, say) is an unknown id, never an error, and is only ever bound
 *    as a parameter, never spliced into a query.
 * 3. **One clock.** "Now" is the backend's clock: the database server's
 *    (Postgres `now()`), or the machine's (`Date.now()`) for an embedded
 *    database that all its processes share; never the caller's. Every time
 *    the backend sets (`availableAt`, `createdAt`, `startedAt`,
 *    `completedAt`, `updatedAt`, of runs and of step attempts) and every
 *    comparison with now (claims, deadlines) uses it. The engine relies on
 *    it: it estimates the backend's clock from each claim's `availableAt`,
 *    counts a step's retry delay from its failed attempt's `completedAt`,
 *    and tells attempts made before a workflow-level retry by `createdAt`.
 * 4. **Atomic claims.** However many backend objects and processes claim
 *    at once, a run is handed to one claimer only, and not again while its
 *    lease lasts (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite: one
 *    `BEGIN IMMEDIATE` transaction).
 * 5. **Fencing.** Every method that takes a `workerId` (heartbeat, mark a
 *    run succeeded or failed, release, create or finish a step attempt)
 *    changes nothing and throws `new LeaseLostError(workflowRunId,
 *    workerId)` unless the run is in the namespace, is `running`, and its
 *    `workerId` is that worker, checked in the same atomic write. A lease
 *    that expired, but that no one has claimed since, still counts as
 *    held. So once a run is finished, canceled, released or claimed by
 *    another worker, every write of its former holder fails.
 * 6. **Atomic writes.** Each call applies completely or not at all.
 * 7. **JSON.** Stored JSON (`config`, `context`, `input`, `output`,
 *    `error`) comes back deep-equal, strings with NUL characters and lone
 *    surrogates included (Postgres: `json` columns; `jsonb` rejects
 *    `\u0000`). `null` stays `null`; the engine never passes `undefined`,
 *    and it enforces payload size limits itself.
 * 8. **Errors.** `LeaseLostError` only as rule 5 says. When the database
 *    fails (unreachable, no answer in time, locked too long, the backend
 *    stopped), reject with `BackendError`, the driver's error as `cause`.
 *    Let `TypeError` through unchanged. The engine takes any rejection
 *    other than `LeaseLostError` as transient: workers retry claims,
 *    deadline sweeps and heartbeats, and `result()` its reads; after a
 *    failed step or run write, the worker stops executing the run without
 *    another write, and the run resumes on a new claim once its lease
 *    expires. A write that failed so may have been applied.
 * 9. **Notifications** (`subscribe`) are optional: the engine polls, and
 *    polls less while they are live. A backend whose `listening`
 *    notification says `finishes: true` promises that, while live, every
 *    run of its namespace that reaches a terminal status (a transition,
 *    the deadline sweep, a cancel and the children it cancels, through
 *    any backend object in any process) is told with a `finished`
 *    notification: `result()` of a run started then reads nothing until
 *    one comes (or its first poll).
 * 10. **Optional methods** (`getWorkflowRunStatuses`, `subscribe`) may be
 *    left out: the engine then reads runs one by one, and polls. Without
 *    `sendSignal` and `receiveSignal`, signals are refused with a
 *    `TypeError`. Without `countWorkflowRuns`, `getQueueStatistics` and
 *    `listSignals`, the dashboard leaves out the counts, gauges and
 *    signals they feed. Without `getNextAvailableAt`, a worker that starts
 *    (or whose notifications come back) learns of runs due later only by
 *    polling.
 * 11. **Children and wake-ups.** A run created with a
 *    `parentWorkflowRunId` and not `detached` is attached: canceling the
 *    parent cancels it (and its own attached children, recursively), and
 *    when it finishes (succeeds, fails, is canceled or passes its deadline)
 *    the parent is woken in the same write. Waking a run (this, or a signal
 *    sent to it while it waits) makes it claimable at once when it is
 *    `pending` or `sleeping`; when it is `running`, the next
 *    `releaseWorkflowRun` of it makes it claimable at once instead of at
 *    its `availableAt`, so that a wake-up during an execution is never
 *    lost. A claim clears that mark.
 *
 * ## Checking an implementation
 *
 * `runBackendConformance()` from `@openworkflow/core/testing` registers a
 * test per rule with any test runner; both built-in backends pass it. Its
 * `connect` makes backends in the namespaces the cases ask for, all on one
 * store; its `capabilities` say what the backend lacks (its optional
 * methods, or a store shared between connections), and the cases that need
 * it are skipped.
 *
 * @example Check a backend with the conformance suite
 * ```ts ignore
 * // my_backend_test.ts: deno test -A my_backend_test.ts
 * import { runBackendConformance } from "@openworkflow/core/testing";
 * import { BackendMine } from "./backend_mine.ts";
 *
 * runBackendConformance({
 *   name: "mine",
 *   connect: ({ namespaceId }) => BackendMine.connect(url, { namespaceId }),
 *   test: Deno.test,
 *   capabilities: { getWorkflowRunStatuses: false },
 * });
 * ```
 */
export interface Backend {
  /**
   * Creates a `pending` run, or returns the run that already has its
   * idempotency key.
   *
   * The new run has a fresh `id`; `workflowName`, `version`, `config`,
   * `context`, `input`, `deadlineAt` and `idempotencyKey` as given;
   * `availableAt` = `params.availableAt`, or now + `availableAfterMs`;
   * `createdAt` = `updatedAt` = now; `workerId`, `output`, `error`,
   * `startedAt` and `completedAt` `null`; `attempts` 0;
   * `parentWorkflowRunId` as given (`null` by default; see rule 11). When
   * `idempotencyKey` is not `null` and a run of `workflowName` in the
   * namespace has it, that run is returned unchanged and nothing is
   * written, also when concurrent calls race (let the database enforce it).
   * Not fenced. With notifications: sends `available`.
   *
   * @param params The run to create.
   * @returns The run as stored, deep-equal to what `getWorkflowRun` returns.
   * @throws {BackendError} when the database fails; the run may have been
   * created nonetheless.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const params = {
   *   workflowName: "greet", version: null, config: {}, context: null,
   *   input: { name: "Ada" }, availableAt: null, deadlineAt: null,
   *   idempotencyKey: "greet-ada",
   * };
   * const run = await backend.createWorkflowRun(params);
   * assert.equal(run.status, "pending");
   * assert.equal(run.attempts, 0);
   * // The same key returns the same run, unchanged.
   * assert.equal((await backend.createWorkflowRun(params)).id, run.id);
   * ```
   */
  createWorkflowRun(params: CreateWorkflowRunParams): Promise<WorkflowRun>;

  /**
   * Reads a run of this namespace. Read-only.
   *
   * @param params The run's id.
   * @returns The run, or `null` when none of this namespace has the id.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "greet", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * assert.deepEqual(await backend.getWorkflowRun({ workflowRunId: run.id }), run);
   * assert.equal(await backend.getWorkflowRun({ workflowRunId: "nope" }), null);
   * ```
   */
  getWorkflowRun(params: GetWorkflowRunParams): Promise<WorkflowRun | null>;

  /**
   * Optional: the id and status of each of the runs, in one read; ids that
   * name no run of this namespace are left out. Read-only. A worker whose
   * backend has no live notifications calls it about once a second, for the
   * runs it holds, to learn of a cancel from another process; a backend
   * without it gets one `getWorkflowRun` call per run held instead.
   *
   * @param params The runs' ids.
   * @returns The id and status of each run found, in any order.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "greet", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * assert.deepEqual(
   *   await backend.getWorkflowRunStatuses({ workflowRunIds: [run.id, "nope"] }),
   *   [{ id: run.id, status: "pending" }],
   * );
   * ```
   */
  getWorkflowRunStatuses?(
    params: GetWorkflowRunStatusesParams,
  ): Promise<Pick<WorkflowRun, "id" | "status">[]>;

  /**
   * Claims the claimable run that has waited longest: the same as
   * {@linkcode Backend.claimWorkflowRuns} with `limit: 1`.
   *
   * @param params The worker, its lease, and its workflows.
   * @returns The run as claimed, or `null` when none is claimable.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "greet", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const claim = { workerId: "worker-1", leaseDurationMs: 30_000 };
   * const claimed = await backend.claimWorkflowRun(claim);
   * assert.equal(claimed?.id, run.id);
   * assert.equal(claimed?.status, "running");
   * assert.equal(await backend.claimWorkflowRun(claim), null); // held
   * ```
   */
  claimWorkflowRun(params: ClaimWorkflowRunParams): Promise<WorkflowRun | null>;

  /**
   * Claims up to `limit` claimable runs at once.
   *
   * A run is claimable when it is in this namespace; is `pending` or
   * `sleeping` with `availableAt <= now`, or `running` with an expired
   * lease (`availableAt <= now`); has no `deadlineAt`, or one after now;
   * and, when `workflows` is given, matches one of its selectors (`[]`
   * matches none). The runs that have waited longest go first: by
   * `availableAt`, then `createdAt`. Each claimed run becomes `running`
   * with `workerId` = `params.workerId`, `attempts` + 1, `availableAt` =
   * now + `leaseDurationMs` (the lease), `startedAt` = now if it was
   * `null`, and `updatedAt` = now; nothing else changes. Atomic across
   * every backend object and process (rule 4). Not fenced.
   *
   * The engine relies on the details: a worker names only the workflows
   * it has registered (a run of another workflow handed to it would stay
   * held, unexecuted, until its lease expired); it estimates the backend's
   * clock as a claimed run's `availableAt` minus `leaseDurationMs`; and it
   * reads a run's step history only when `attempts` is above 1.
   *
   * @param params The worker, its lease, its workflows, and the limit.
   * @returns The runs as claimed, oldest `createdAt` first; `[]` when none
   * is claimable.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * for (const workflowName of ["email", "email", "report"]) {
   *   await backend.createWorkflowRun({
   *     workflowName, version: null, config: {}, context: null, input: null,
   *     availableAt: null, deadlineAt: null, idempotencyKey: null,
   *   });
   * }
   * const runs = await backend.claimWorkflowRuns({
   *   workerId: "worker-1",
   *   leaseDurationMs: 30_000,
   *   workflows: [{ name: "email", version: null }],
   *   limit: 10,
   * });
   * assert.deepEqual(runs.map((r) => [r.workflowName, r.attempts]), [
   *   ["email", 1],
   *   ["email", 1],
   * ]);
   * ```
   */
  claimWorkflowRuns(params: ClaimWorkflowRunsParams): Promise<WorkflowRun[]>;

  /**
   * Renews a run's lease: sets `availableAt` to now + `leaseDurationMs`
   * (and `updatedAt` to now). Fenced (rule 5). The engine heartbeats every
   * third of the lease; on `LeaseLostError` it stops executing the run at
   * once, on another error it tries again until a whole lease has passed
   * without a renewal, and then stops.
   *
   * @param params The run, its holder, and the new lease's length.
   * @returns Resolves once the lease is renewed.
   * @throws {LeaseLostError} unless the worker holds the run; nothing
   * changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LeaseLostError } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "report", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 1_000 });
   * const beat = { workflowRunId: run.id, leaseDurationMs: 30_000 };
   * await backend.heartbeatWorkflowRun({ ...beat, workerId: "worker-1" });
   * await assert.rejects(
   *   backend.heartbeatWorkflowRun({ ...beat, workerId: "worker-2" }),
   *   LeaseLostError,
   * );
   * ```
   */
  heartbeatWorkflowRun(params: HeartbeatWorkflowRunParams): Promise<void>;

  /**
   * Finishes a run: sets `status` `succeeded`, `output`, and `completedAt`
   * = `updatedAt` = now; nothing else changes. Fenced (rule 5), so no
   * write for the run succeeds afterwards, not even its holder's. With
   * notifications: sends `finished`.
   *
   * @param params The run, its holder, and the output.
   * @returns Resolves once the run is stored as succeeded.
   * @throws {LeaseLostError} unless the worker holds the run; nothing
   * changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "add", version: null, config: {}, context: null,
   *   input: [1, 2], availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * await backend.markWorkflowRunSucceeded({
   *   workflowRunId: run.id, workerId: "worker-1", output: 3,
   * });
   * const done = await backend.getWorkflowRun({ workflowRunId: run.id });
   * assert.equal(done?.status, "succeeded");
   * assert.equal(done?.output, 3);
   * ```
   */
  markWorkflowRunSucceeded(
    params: MarkWorkflowRunSucceededParams,
  ): Promise<void>;

  /**
   * Optional: marks the run's step attempts `stepAttempts` succeeded, each
   * as {@linkcode Backend.markStepAttemptSucceeded} would, then the run, as
   * {@linkcode Backend.markWorkflowRunSucceeded} would, in one transaction:
   * the run is marked succeeded only if every one of the attempts is. The
   * engine calls it when a workflow returns right after steps whose
   * results are not stored yet, so that the run's last step and its
   * completion cost one write, not two in a row; without it, it stores
   * them first, then the run.
   *
   * @param params The run, its holder, its output and the attempts'.
   * @returns Resolves once the attempts and the run are stored as succeeded.
   * @throws {LeaseLostError} unless the worker holds the run and each
   * attempt is one of its running attempts; the run is not marked
   * succeeded.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "add", version: null, config: {}, context: null,
   *   input: [1, 2], availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const owner = { workflowRunId: run.id, workerId: "worker-1" };
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * const attempt = await backend.createStepAttempt({
   *   ...owner, stepName: "sum", kind: "run", config: {}, context: null,
   * });
   * await backend.markWorkflowRunSucceededWithSteps?.({
   *   ...owner, output: 3, stepAttempts: [{ stepAttemptId: attempt.id, output: 3 }],
   * });
   * const step = await backend.getStepAttempt({ stepAttemptId: attempt.id });
   * const done = await backend.getWorkflowRun({ workflowRunId: run.id });
   * assert.deepEqual([step?.status, done?.status], ["succeeded", "succeeded"]);
   * ```
   */
  markWorkflowRunSucceededWithSteps?(
    params: MarkWorkflowRunSucceededWithStepsParams,
  ): Promise<void>;

  /**
   * Finishes a run as failed: sets `status` `failed` (or `params.status`:
   * `canceled` ends a cancel that asked for compensations), `error`, and
   * `completedAt` = `updatedAt` = now; `output` stays `null`. Fenced
   * (rule 5), so no write for the run succeeds afterwards. With
   * notifications: sends `finished`.
   *
   * @param params The run, its holder, and the serialized error.
   * @returns Resolves once the run is stored as failed.
   * @throws {LeaseLostError} unless the worker holds the run; nothing
   * changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "charge", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * const error = { name: "Error", message: "card declined" };
   * await backend.markWorkflowRunFailed({
   *   workflowRunId: run.id, workerId: "worker-1", error,
   * });
   * const failed = await backend.getWorkflowRun({ workflowRunId: run.id });
   * assert.deepEqual(failed?.error, error);
   * ```
   */
  markWorkflowRunFailed(params: MarkWorkflowRunFailedParams): Promise<void>;

  /**
   * Gives up a run's lease without finishing it: sets `status` to
   * `params.status`, `availableAt` to `params.availableAt` (now when
   * `null`), `context` to `params.context` when given, `completedAt` to
   * `null`, and `updatedAt` to now; `workerId` and `attempts` are kept.
   * From `availableAt` any worker may claim the run again. Fenced (rule 5).
   * With notifications: sends `available` (with `availableAt`). The engine
   * parks runs so: for a durable sleep (`sleeping`), for a step retry's
   * wait (`pending`), for a workflow-level retry (`pending`, with its
   * bookkeeping in `context`), and while it waits for signals or children
   * (`sleeping`). A run woken since its claim (rule 11) becomes claimable
   * at once, whatever `availableAt` says.
   *
   * @param params The run, its holder, and where it goes.
   * @returns Resolves once the run is released.
   * @throws {LeaseLostError} unless the worker holds the run; nothing
   * changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "remind", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const claim = { workerId: "worker-1", leaseDurationMs: 30_000 };
   * await backend.claimWorkflowRun(claim);
   * await backend.releaseWorkflowRun({
   *   workflowRunId: run.id, workerId: "worker-1",
   *   status: "sleeping", availableAt: new Date(Date.now() + 60_000),
   * });
   * assert.equal(await backend.claimWorkflowRun(claim), null); // asleep
   * ```
   */
  releaseWorkflowRun(params: ReleaseWorkflowRunParams): Promise<void>;

  /**
   * Fails every run of this namespace whose `deadlineAt` is at or before
   * now and that no worker holds: `pending`, `sleeping`, or `running` with
   * an expired lease. Each gets `status` `failed`, `error` =
   * `params.error`, and `completedAt` = `updatedAt` = now. A run whose
   * lease is still valid is left to its worker, which fails it itself.
   * A run with compensations to run (a `succeeded` step attempt whose
   * `config` has `compensate: true`) is not failed but handed to a worker
   * to unwind, in the same statement: `status` `pending`, claimable now,
   * `deadlineAt` `null`, and `context.unwind` =
   * `{ reason: "deadline", error: params.error, deadlineAt }` (the
   * deadline that passed, in epoch ms) merged into its `context`; it is
   * not counted. Not fenced; a second call finds nothing more to fail. Workers call it
   * periodically while they have free slots. With notifications: sends
   * `finished` for each.
   *
   * @param params The error to store.
   * @returns How many runs were failed.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * await backend.createWorkflowRun({
   *   workflowName: "late", version: null, config: {}, context: null,
   *   input: null, availableAt: null, idempotencyKey: null,
   *   deadlineAt: new Date(Date.now() - 1_000),
   * });
   * const error = { name: "DeadlineExceededError", message: "too late" };
   * assert.equal(await backend.failExpiredWorkflowRuns({ error }), 1);
   * assert.equal(await backend.failExpiredWorkflowRuns({ error }), 0);
   * ```
   */
  failExpiredWorkflowRuns(
    params: FailExpiredWorkflowRunsParams,
  ): Promise<number>;

  /**
   * Cancels a run that has not finished (`pending`, `running` or
   * `sleeping`): sets `status` `canceled`, `error` = `params.error`, and
   * `completedAt` = `updatedAt` = now, and does the same to its attached
   * unfinished children, recursively (rule 11). Not fenced: a worker
   * executing the run loses it, and its next fenced write throws
   * `LeaseLostError`. A finished run is left unchanged. With notifications:
   * sends `finished` for each run canceled.
   *
   * With `params.compensate`, a run that has compensations to run (a
   * `succeeded` step attempt whose `config` has `compensate: true`) is
   * handed to a worker to unwind instead: `status` `pending`, claimable
   * now, `deadlineAt` `null`, `context.unwind` =
   * `{ reason: "cancel", error: params.error, deadlineAt: null }` merged
   * into its `context` (its holder, if any, loses it); its attached
   * descendants are canceled. The worker runs the compensations and ends
   * it with `markWorkflowRunFailed({ status: "canceled" })`.
   *
   * @param params The run and the error to store.
   * @returns The run after the call (canceled, or unchanged when it had
   * finished), or `null` when none of this namespace has the id.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "report", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const error = { name: "WorkflowCanceledError", message: "canceled" };
   * const canceled = await backend.cancelWorkflowRun({ workflowRunId: run.id, error });
   * assert.equal(canceled?.status, "canceled");
   * ```
   */
  cancelWorkflowRun(
    params: CancelWorkflowRunParams,
  ): Promise<WorkflowRun | null>;

  /**
   * Lists the runs of this namespace that match every filter given,
   * newest first: by `createdAt` descending, runs created at the same time
   * in an order that does not change between calls. Following
   * `nextCursor` page by page visits each matching run that existed when
   * the first page was read exactly once, also when many share a
   * `createdAt`. Read-only.
   *
   * @param params The filters, the page size, and the cursor.
   * @returns Up to `limit` runs, and the cursor of the next page (`null`
   * when no further run matches).
   * @throws {TypeError} when `cursor` is not a `nextCursor` of this
   * backend.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * for (let i = 0; i < 3; i++) {
   *   await backend.createWorkflowRun({
   *     workflowName: "job", version: null, config: {}, context: null,
   *     input: i, availableAt: null, deadlineAt: null, idempotencyKey: null,
   *   });
   * }
   * const first = await backend.listWorkflowRuns({ limit: 2 });
   * const second = await backend.listWorkflowRuns({
   *   limit: 2,
   *   cursor: first.nextCursor,
   * });
   * assert.deepEqual([...first.runs, ...second.runs].map((r) => r.input), [2, 1, 0]);
   * assert.equal(second.nextCursor, null);
   * ```
   */
  listWorkflowRuns(params: ListWorkflowRunsParams): Promise<WorkflowRunPage>;

  /**
   * Lists a run's step attempts in the order they were created. Attempts
   * created within the same clock tick keep that order too: keep an
   * insertion sequence, never sort by id. Read-only. The engine groups the
   * attempts by `stepName` and takes the last of each as the step's latest
   * attempt: its status decides whether the step's stored output is
   * returned (`succeeded`), its error thrown or the step retried
   * (`failed`), or the step run again (`running`).
   *
   * @param params The run's id.
   * @returns The attempts, oldest first; `[]` when none of this namespace's
   * runs has the id.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "etl", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * for (const stepName of ["extract", "transform", "load"]) {
   *   await backend.createStepAttempt({
   *     workflowRunId: run.id, workerId: "worker-1",
   *     stepName, kind: "run", config: {}, context: null,
   *   });
   * }
   * const attempts = await backend.listStepAttempts({ workflowRunId: run.id });
   * assert.deepEqual(attempts.map((a) => a.stepName), ["extract", "transform", "load"]);
   * ```
   */
  listStepAttempts(params: ListStepAttemptsParams): Promise<StepAttempt[]>;

  /**
   * Creates a `running` step attempt of a run: a fresh `id`;
   * `workflowRunId`, `stepName`, `kind`, `config` and `context` as given;
   * `createdAt` = now; `output`, `error` and `completedAt` `null`. Fenced
   * (rule 5): the check and the insert are one atomic write. Every call
   * creates an attempt, also for a `stepName` the run already has (that
   * is how a step is retried).
   *
   * @param params The run, its holder, and the step.
   * @returns The attempt as stored.
   * @throws {LeaseLostError} unless the worker holds the run; nothing is
   * created.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "signup", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * const attempt = await backend.createStepAttempt({
   *   workflowRunId: run.id, workerId: "worker-1",
   *   stepName: "send-welcome", kind: "run", config: {}, context: null,
   * });
   * assert.equal(attempt.status, "running");
   * ```
   */
  createStepAttempt(params: CreateStepAttemptParams): Promise<StepAttempt>;

  /**
   * Reads a step attempt of this namespace. Read-only.
   *
   * @param params The attempt's id.
   * @returns The attempt, or `null` when none of this namespace has the id.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const unknown = await backend.getStepAttempt({ stepAttemptId: crypto.randomUUID() });
   * assert.equal(unknown, null);
   * ```
   */
  getStepAttempt(params: GetStepAttemptParams): Promise<StepAttempt | null>;

  /**
   * Finishes a step attempt: sets `status` `succeeded`, `output`, and
   * `completedAt` = now. Fenced (rule 5), and the attempt must also be in
   * this namespace, belong to `workflowRunId`, and be `running`: an
   * attempt is finished at most once.
   *
   * @param params The run, the attempt, the run's holder, and the output.
   * @returns Resolves once the attempt is stored as succeeded.
   * @throws {LeaseLostError} unless all of that holds; nothing changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LeaseLostError } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "signup", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const owner = { workflowRunId: run.id, workerId: "worker-1" };
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * const attempt = await backend.createStepAttempt({
   *   ...owner, stepName: "fetch-user", kind: "run", config: {}, context: null,
   * });
   * const done = { ...owner, stepAttemptId: attempt.id, output: { id: 7 } };
   * await backend.markStepAttemptSucceeded(done);
   * await assert.rejects(backend.markStepAttemptSucceeded(done), LeaseLostError);
   * ```
   */
  markStepAttemptSucceeded(
    params: MarkStepAttemptSucceededParams,
  ): Promise<void>;

  /**
   * Finishes a step attempt as failed: sets `status` `failed`, `error`,
   * and `completedAt` = now (the engine counts the retry delay from it);
   * `output` stays `null`. Fenced like
   * {@linkcode Backend.markStepAttemptSucceeded}.
   *
   * @param params The run, the attempt, the run's holder, and the error.
   * @returns Resolves once the attempt is stored as failed.
   * @throws {LeaseLostError} unless the worker holds the run and the
   * attempt is its, and `running`; nothing changes.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "signup", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const owner = { workflowRunId: run.id, workerId: "worker-1" };
   * await backend.claimWorkflowRun({ workerId: "worker-1", leaseDurationMs: 30_000 });
   * const attempt = await backend.createStepAttempt({
   *   ...owner, stepName: "fetch-user", kind: "run", config: {}, context: null,
   * });
   * const error = { name: "Error", message: "timeout" };
   * await backend.markStepAttemptFailed({ ...owner, stepAttemptId: attempt.id, error });
   * const failed = await backend.getStepAttempt({ stepAttemptId: attempt.id });
   * assert.deepEqual([failed?.status, failed?.error], ["failed", error]);
   * ```
   */
  markStepAttemptFailed(params: MarkStepAttemptFailedParams): Promise<void>;

  /**
   * Releases the backend's resources (connections, files). Calling it
   * again does nothing more; calls made after it reject with
   * `BackendError`. The engine never calls it: whoever made the backend
   * does, once its workers have stopped.
   *
   * @returns Resolves once the resources are released.
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
  stop(): Promise<void>;

  /**
   * Optional: push notifications about this namespace, from every process
   * on the database (Postgres: LISTEN/NOTIFY). The engine subscribes once
   * per backend object. While the latest `listening` notification said
   * `true`, its idle workers and `result()` callers poll only every
   * `DEFAULT_FALLBACK_POLL_INTERVAL_MS` (by default) and count on being
   * woken: send `available` whenever a run is created or released, and
   * `finished` whenever one reaches a terminal status, in any process. A
   * missed notification only delays a waiter until its next poll; after
   * `listening: true` everyone re-checks. Correctness never depends on a
   * notification. Without this method, the engine polls.
   *
   * @param listener Called with each notification.
   * @returns A function that unsubscribes.
   *
   * @example
   * ```ts ignore
   * const unsubscribe = backend.subscribe?.((notification) => {
   *   if (notification.kind === "finished") {
   *     console.log(notification.workflowRunId, notification.outcome?.status);
   *   }
   * });
   * unsubscribe?.();
   * ```
   */
  subscribe?(listener: (notification: BackendNotification) => void): () => void;

  /**
   * Stores a signal and wakes the runs waiting for it (rule 11): for an
   * addressed signal, the run if it has a `running` `signal-wait` attempt
   * for this name; for a broadcast, every unfinished run of the namespace
   * created before the send that has one. The signal stays stored for the
   * runs that wait for it later (`receiveSignal`). When `idempotencyKey`
   * is not `null` and a signal of the namespace has it, nothing is stored
   * and that send's outcome is returned, also when concurrent calls race.
   * Not fenced. With notifications: sends `available` for the runs woken.
   *
   * @param params The signal, its data, its addressee and its key.
   * @returns What the send did: `sent` with the runs woken, or why nothing
   * was stored (`run-not-found`, `run-finished`).
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const outcome = await backend.sendSignal?.({
   *   signal: "deploy-done", data: { ok: true }, workflowRunId: null, idempotencyKey: null,
   * });
   * assert.deepEqual(outcome, { kind: "sent", workflowRunIds: [] });
   * ```
   */
  sendSignal?(params: SendSignalParams): Promise<SendSignalOutcome>;

  /**
   * Delivers a signal to a run's `signal-wait` attempt, exactly once: the
   * signal already delivered to this attempt, if any (so that a retried
   * call returns the same one); else the oldest (in the order sent) of
   * the signals of this name that the run may receive and has not:
   * addressed to it and delivered to no attempt, or broadcast after the run
   * was created and not yet delivered to this run. Records the delivery in
   * the same atomic write. Fenced (rule 5).
   *
   * @param params The run, its holder, the waiting attempt and the name.
   * @returns The signal delivered, or `null` when there is none.
   * @throws {LeaseLostError} unless the worker holds the run.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "approve", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.sendSignal?.({
   *   signal: "approval", data: { ok: true }, workflowRunId: run.id, idempotencyKey: null,
   * });
   * await backend.claimWorkflowRun({ workerId: "w1", leaseDurationMs: 30_000 });
   * const attempt = await backend.createStepAttempt({
   *   workflowRunId: run.id, workerId: "w1", stepName: "approval",
   *   kind: "signal-wait", config: { signal: "approval" }, context: null,
   * });
   * const received = await backend.receiveSignal?.({
   *   workflowRunId: run.id, workerId: "w1", stepAttemptId: attempt.id, signal: "approval",
   * });
   * assert.deepEqual(received?.data, { ok: true });
   * ```
   */
  receiveSignal?(params: ReceiveSignalParams): Promise<ReceivedSignal | null>;

  /**
   * The backend's clock (rule 3): what the engine computes schedule slots
   * from. Optional: without it the engine uses the machine's clock.
   *
   * @returns The backend's now.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * console.log((await backend.now?.()) instanceof Date); // true
   * ```
   */
  now?(): Promise<Date>;

  /**
   * Creates a schedule, or finds the one with its id (see
   * `CreateScheduleParams.ifExists`). Not fenced. With notifications: sends
   * `available` with the schedule's `nextRunAt`, so that workers wake for
   * it.
   *
   * @param params The schedule, and what to do when its id is taken.
   * @returns The schedule as stored, and whether it was created.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const { created, schedule } = await backend.createSchedule!({
   *   id: "nightly", workflowName: "report", version: null, cron: "0 3 * * *",
   *   timezone: "UTC", input: null, catchUp: "latest",
   *   nextRunAt: new Date("2030-01-01T03:00:00Z"), ifExists: "fail",
   * });
   * assert.equal(created, true);
   * assert.equal(schedule.paused, false);
   * ```
   */
  createSchedule?(params: CreateScheduleParams): Promise<CreateScheduleResult>;

  /**
   * Reads a schedule.
   *
   * @param params The schedule's id.
   * @returns The schedule, or `null`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * assert.equal(await backend.getSchedule!({ id: "nope" }), null);
   * ```
   */
  getSchedule?(params: { id: string }): Promise<Schedule | null>;

  /**
   * Lists the namespace's schedules, by id.
   *
   * @returns Every schedule of the namespace.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * assert.deepEqual(await backend.listSchedules!(), []);
   * ```
   */
  listSchedules?(): Promise<Schedule[]>;

  /**
   * Pauses or resumes a schedule (and sets its `nextRunAt` when given).
   * With notifications: sends `available` with `nextRunAt` when resumed.
   *
   * @param params The schedule, its pause state and next slot.
   * @returns The schedule as updated, or `null` when there is none.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * assert.equal(await backend.updateSchedule!({ id: "nope", paused: true }), null);
   * ```
   */
  updateSchedule?(params: UpdateScheduleParams): Promise<Schedule | null>;

  /**
   * Deletes a schedule (its runs stay).
   *
   * @param params The schedule's id.
   * @returns Whether there was one.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * assert.equal(await backend.deleteSchedule!({ id: "nope" }), false);
   * ```
   */
  deleteSchedule?(params: { id: string }): Promise<boolean>;

  /**
   * Reads the unpaused schedules that are due (`nextRunAt` at or before
   * now), with the backend's clock and the next due time.
   *
   * @param params How many at most.
   * @returns The due schedules, now, and the next due time.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const due = await backend.listDueSchedules!({ limit: 10 });
   * assert.deepEqual([due.schedules, due.nextDueAt], [[], null]);
   * ```
   */
  listDueSchedules?(params: ListDueSchedulesParams): Promise<DueSchedules>;

  /**
   * Fires a due schedule, once however many workers try: in one atomic
   * write, unless the schedule is paused or its `nextRunAt` is no longer
   * `expectedNextRunAt` (another worker fired it), sets `nextRunAt` and
   * `lastRunAt` and creates the runs, as `createWorkflowRun` does (their
   * idempotency keys make a slot's run unique).
   *
   * @param params The schedule, the compare-and-set, and the runs.
   * @returns The runs created, or `null` when another worker fired it or
   * it is paused or gone.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const lost = await backend.fireSchedule!({
   *   id: "nope", expectedNextRunAt: new Date(), nextRunAt: new Date(),
   *   lastRunAt: null, runs: [],
   * });
   * assert.equal(lost, null); // no such schedule
   * ```
   */
  fireSchedule?(params: FireScheduleParams): Promise<FireScheduleResult>;

  /**
   * Creates a run as `createWorkflowRun` does, but through the caller's
   * own open transaction (a driver connection of the same database), so
   * that the run exists only if that transaction commits. Which kinds of
   * transaction a backend takes is its own: `BackendPostgres` takes a
   * postgres.js transaction or a node-postgres client inside `BEGIN`,
   * `BackendSqlite` a `DatabaseSync` of its file inside a transaction.
   *
   * @param params As for `createWorkflowRun`.
   * @param transaction The caller's transaction.
   * @returns The run, or the existing run of its idempotency key.
   * @throws {TypeError} for a transaction the backend cannot use, or one on
   * another database.
   *
   * @example
   * ```ts ignore
   * await backend.createWorkflowRunInTransaction!(params, tx);
   * ```
   */
  createWorkflowRunInTransaction?(
    params: CreateWorkflowRunParams,
    transaction: unknown,
  ): Promise<WorkflowRun>;

  /**
   * Makes a failed or canceled run claimable again, in one atomic write:
   * `pending`, available now, its error, completion time and deadline
   * cleared, its workflow-level failures reset, and its step attempts up
   * to now no longer counted against their retry policy (completed steps
   * keep their results). Notifies workers.
   *
   * @param params The run.
   * @returns What was done.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const outcome = await backend.retryWorkflowRun!({ workflowRunId: "nope" });
   * assert.equal(outcome.kind, "not-found");
   * ```
   */
  retryWorkflowRun?(
    params: RetryWorkflowRunParams,
  ): Promise<RetryWorkflowRunOutcome>;

  /**
   * Creates a run with the same workflow, version, configuration, input,
   * priority and flow-control keys as another, recording where it came
   * from, and copies to it the step attempts that succeeded before the
   * first attempt of `fromStep`; in one atomic write. Notifies workers.
   *
   * @param params The run to fork, the new run's id, the step to start from.
   * @returns What was done.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const outcome = await backend.forkWorkflowRun!({
   *   workflowRunId: crypto.randomUUID(), id: crypto.randomUUID(), fromStep: null,
   * });
   * assert.equal(outcome.kind, "not-found");
   * ```
   */
  forkWorkflowRun?(
    params: ForkWorkflowRunParams,
  ): Promise<ForkWorkflowRunOutcome>;

  /**
   * Deletes up to `limit` finished runs that match, oldest finished first,
   * with their step attempts, the signals addressed to them and their
   * deliveries; their children's links to them are cleared. One short
   * transaction: callers repeat it until it returns less than `limit`.
   * Never deletes an unfinished run.
   *
   * @param params Which runs, and how many at most.
   * @returns How many runs were deleted.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const deleted = await backend.deleteWorkflowRuns!({
   *   finishedBefore: new Date(), statuses: ["succeeded"], limit: 1000,
   * });
   * assert.equal(deleted, 0);
   * ```
   */
  deleteWorkflowRuns?(params: DeleteWorkflowRunsParams): Promise<number>;

  /**
   * Optional: how many runs of this namespace match the filters, by
   * workflow name and status. Read-only. One aggregate read over the
   * matching runs, so callers that repeat it (a metrics endpoint) cache
   * it. The dashboard shows the counts per status; its `/metrics` endpoint
   * exports them as a gauge.
   *
   * @param params The filters (all optional).
   * @returns One entry per workflow name and status with at least one run,
   * by workflow name, then status.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * for (const workflowName of ["email", "email", "report"]) {
   *   await backend.createWorkflowRun({
   *     workflowName, version: null, config: {}, context: null, input: null,
   *     availableAt: null, deadlineAt: null, idempotencyKey: null,
   *   });
   * }
   * assert.deepEqual(await backend.countWorkflowRuns!({}), [
   *   { workflowName: "email", status: "pending", count: 2 },
   *   { workflowName: "report", status: "pending", count: 1 },
   * ]);
   * ```
   */
  countWorkflowRuns?(
    params: CountWorkflowRunsParams,
  ): Promise<WorkflowRunCount[]>;

  /**
   * Optional: how far behind the namespace's queue is, by the backend's
   * clock (rule 3): the `availableAt` of the oldest claimable run, and the
   * `nextRunAt` of the most overdue unpaused schedule. Read-only; both
   * come from the indexes that claims and schedules use, so the call is
   * cheap however many runs there are.
   *
   * @returns The backend's now and the two oldest times.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "report", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * const stats = await backend.getQueueStatistics!();
   * assert.deepEqual(stats.oldestClaimableAvailableAt, run.availableAt);
   * assert.equal(stats.oldestDueScheduleAt, null);
   * ```
   */
  getQueueStatistics?(): Promise<QueueStatistics>;

  /**
   * Optional: when the namespace's next run falls due: the earliest
   * `availableAt` later than now (the backend's clock, rule 3) of its
   * `pending` and `sleeping` runs of the `workflows` given (of any workflow
   * without). Running runs do not count (their `availableAt` is their
   * lease), nor do finished ones. Read-only, and cheap however many runs
   * wait: answered from the index claims use. Workers ask when they start,
   * when notifications come back after a gap, and now and then when a
   * claim finds nothing, to wake when a run falls due that was announced
   * while they were not listening (a delayed run, a sleep, a retry's
   * backoff). Without it, such a run is claimed at the next poll.
   *
   * @param params The workflows whose runs count.
   * @returns The earliest future `availableAt`, or `null` when no such run
   * waits.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const at = new Date(Date.now() + 60_000);
   * await backend.createWorkflowRun({
   *   workflowName: "report", version: null, config: {}, context: null,
   *   input: null, availableAt: at, deadlineAt: null, idempotencyKey: null,
   * });
   * assert.deepEqual(await backend.getNextAvailableAt!({}), at);
   * assert.equal(
   *   await backend.getNextAvailableAt!({ workflows: [{ name: "email", version: null }] }),
   *   null,
   * );
   * ```
   */
  getNextAvailableAt?(params: GetNextAvailableAtParams): Promise<Date | null>;

  /**
   * Optional: the signals a run received (delivered to one of its
   * `signal-wait` attempts), and those addressed to it that it has not
   * received yet, in the order they were sent. Read-only.
   *
   * @param params The run's id.
   * @returns The signals; `[]` when none of this namespace's runs has the
   * id.
   * @throws {BackendError} when the database fails.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const run = await backend.createWorkflowRun({
   *   workflowName: "approve", version: null, config: {}, context: null,
   *   input: null, availableAt: null, deadlineAt: null, idempotencyKey: null,
   * });
   * await backend.sendSignal!({
   *   signal: "approval", data: { ok: true }, workflowRunId: run.id, idempotencyKey: null,
   * });
   * const [signal] = await backend.listSignals!({ workflowRunId: run.id });
   * assert.deepEqual([signal.signal, signal.data, signal.receivedAt], [
   *   "approval", { ok: true }, null,
   * ]);
   * ```
   */
  listSignals?(params: ListSignalsParams): Promise<WorkflowRunSignal[]>;

  /**
   * Takes or renews a named lock of the namespace for `durationMs`: `true`
   * when the caller holds it now (it was free, lapsed, or already the
   * caller's), `false` when someone else does. For work one worker at a
   * time should do, such as retention sweeps.
   *
   * @param params The lock, the owner, and for how long.
   * @returns Whether the caller holds the lock.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const lock = { name: "retention", durationMs: 60_000 };
   * assert.equal(await backend.acquireMaintenanceLock!({ ...lock, ownerId: "a" }), true);
   * assert.equal(await backend.acquireMaintenanceLock!({ ...lock, ownerId: "b" }), false);
   * ```
   */
  acquireMaintenanceLock?(params: MaintenanceLockParams): Promise<boolean>;

  /**
   * Releases a named lock if `ownerId` holds it.
   *
   * @param params The lock and its owner.
   *
   * @example
   * ```ts
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * await backend.releaseMaintenanceLock!({ name: "retention", ownerId: "a" });
   * ```
   */
  releaseMaintenanceLock?(
    params: Pick<MaintenanceLockParams, "name" | "ownerId">,
  ): Promise<void>;
}
