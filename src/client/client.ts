/**
 * The client: `OpenWorkflow` defines workflows, starts and inspects runs,
 * and makes workers. (`WorkflowDefinition`, which starts runs of one
 * workflow, is in `definition.ts`.)
 *
 * @module
 */

import type {
  Backend,
  StepAttempt,
  WorkflowRun,
  WorkflowRunPage,
  WorkflowRunStatus,
} from "../core/backend.ts";
import { RUN_STATUSES } from "../core/records.ts";
import { WorkflowDeclaration, WorkflowDefinition } from "./definition.ts";
import {
  deleteRuns,
  type DeleteRunsOptions,
  forkRun,
  type ForkRunOptions,
  retryRun,
} from "./operations.ts";
import {
  type CancelRunOptions,
  cancelWorkflowRun,
  WorkflowRunHandle,
} from "./handle.ts";
import { sendSignal, type SendSignalOptions } from "./signals.ts";
import {
  createSchedule,
  type CreateScheduleOptions,
  scheduleMethods,
  setPaused,
  triggerSchedule,
} from "../core/schedule_store.ts";
import type { Schedule } from "../core/schedules.ts";
import type { SendSignalResult } from "../core/step_api.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../core/limits.ts";
import {
  checkName,
  checkOptions,
  checkPositiveInteger,
  checkTime,
  received,
} from "../core/validate.ts";
import { Worker, type WorkerOptions } from "../worker/worker.ts";
import type {
  WorkflowDefinitionConfig,
  WorkflowFunction,
} from "../core/workflow.ts";

/**
 * Options of the {@linkcode OpenWorkflow} constructor.
 */
export interface OpenWorkflowOptions {
  /** The backend implementation to use (e.g. `BackendPostgres`). */
  backend: Backend;
  /**
   * The largest JSON text stored for an input, output or step result.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
}

/**
 * Filters of {@linkcode OpenWorkflow.listRuns}.
 */
export interface ListRunsOptions {
  /**
   * Only runs of this workflow.
   * @default {undefined}
   */
  workflowName?: string;
  /**
   * Only runs in this status (or one of these).
   * @default {undefined}
   */
  status?: WorkflowRunStatus | readonly WorkflowRunStatus[];
  /**
   * Only runs created at or after this time.
   * @default {undefined}
   */
  createdAfter?: Date;
  /**
   * Only runs created before this time.
   * @default {undefined}
   */
  createdBefore?: Date;
  /**
   * Only the children of this run (started with `step.runWorkflow()` or
   * `step.startWorkflow()`).
   * @default {undefined}
   */
  parentWorkflowRunId?: string;
  /**
   * The page size, at most 1,000.
   * @default {50}
   */
  limit?: number;
  /**
   * The `nextCursor` of the previous page.
   * @default {null}
   */
  cursor?: string | null;
}

/**
 * The client: defines workflows, starts and inspects runs, makes workers.
 *
 * @example
 * ```ts ignore
 * import { OpenWorkflow } from "@openworkflow/core";
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
 * const ow = new OpenWorkflow({ backend });
 * const greet = ow.defineWorkflow({ name: "greet" }, async ({ input, step }) => {
 *   const greeting = await step.run({ name: "generate" }, () => `Hello, ${input.name}!`);
 *   return { greeting };
 * });
 * const worker = ow.newWorker();
 * await worker.start();
 * const handle = await greet.run({ name: "Alice" });
 * console.log(await handle.result()); // { greeting: "Hello, Alice!" }
 * await worker.stop();
 * await backend.stop();
 * ```
 */
export class OpenWorkflow {
  readonly #backend: Backend;
  readonly #maxPayloadBytes: number;
  readonly #workflows = new Map<string, WorkflowDefinition<never, unknown>>();

  /**
   * Creates a client. Does no I/O.
   *
   * @param options The backend, and limits.
   * @throws {TypeError} when `backend` is missing.
   */
  constructor(options: OpenWorkflowOptions) {
    if (
      options === null || typeof options !== "object" ||
      options.backend === null || typeof options.backend !== "object"
    ) {
      throw new TypeError(
        `Cannot create client: 'backend' must be a Backend, received ${
          received(options?.backend)
        }`,
      );
    }
    this.#backend = options.backend;
    this.#maxPayloadBytes = options.maxPayloadBytes === undefined
      ? DEFAULT_MAX_PAYLOAD_BYTES
      : checkPositiveInteger(
        options.maxPayloadBytes,
        "create client",
        "maxPayloadBytes",
      );
  }

  /**
   * The client's backend.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * assert.equal(ow.backend, backend);
   * ```
   */
  get backend(): Backend {
    return this.#backend;
  }

  /**
   * Defines and registers a new workflow.
   *
   * @param config The workflow's unique name (and optional version).
   * @param fn The workflow function.
   * @returns A definition that starts runs.
   * @throws {TypeError} for a missing name or function, a name (and
   * version) registered on this client before, or a retry policy that is
   * not an object or has an unknown field.
   * @throws {RangeError} for a retry policy with impossible values.
   *
   * @example
   * ```ts ignore
   * const myWorkflow = ow.defineWorkflow({ name: "my-workflow" }, async ({ input, step }) => {
   *   return { result: "done" };
   * });
   * ```
   */
  defineWorkflow<Input = unknown, Output = unknown>(
    config: WorkflowDefinitionConfig<Input>,
    fn: WorkflowFunction<Input, Output>,
  ): WorkflowDefinition<Input, Output> {
    const definition = new WorkflowDefinition(this.#backend, config, fn, {
      maxPayloadBytes: this.#maxPayloadBytes,
    });
    const key = JSON.stringify([definition.name, definition.version]);
    if (this.#workflows.has(key)) {
      throw new TypeError(
        `Cannot define workflow: 'name' ${JSON.stringify(definition.name)}${
          definition.version === null
            ? ""
            : ` with 'version' ${JSON.stringify(definition.version)}`
        } is already defined on this client`,
      );
    }
    this.#workflows.set(
      key,
      definition as unknown as WorkflowDefinition<never, unknown>,
    );
    return definition;
  }

  /**
   * Registers a workflow declared with the top-level `defineWorkflow()`:
   * the client can start its runs, and `newWorker()` executes them.
   *
   * @param declaration The declaration.
   * @returns The workflow, bound to this client's backend.
   * @throws {TypeError} for something that is not a declaration, or a
   * workflow (name and version) already defined on this client.
   *
   * @example
   * ```ts ignore
   * import { report } from "./workflows/report.ts"; // defineWorkflow(...)
   * const handle = await ow.registerWorkflow(report).run({ day: "monday" });
   * ```
   */
  registerWorkflow<Input, Output>(
    declaration: WorkflowDeclaration<Input, Output>,
  ): WorkflowDefinition<Input, Output> {
    if (!(declaration instanceof WorkflowDeclaration)) {
      throw new TypeError(
        `Cannot register workflow: expected what defineWorkflow() returns, received ${
          received(declaration)
        }`,
      );
    }
    return this.defineWorkflow(declaration.config, declaration.fn);
  }

  /**
   * Creates a worker with this client's backend and registered workflows.
   *
   * @param options Concurrency and tuning.
   * @returns A worker; call `start()` to run it.
   * @throws {RangeError} for an invalid option.
   *
   * @example
   * ```ts ignore
   * const worker = ow.newWorker({ concurrency: 10 });
   * await worker.start();
   * ```
   */
  newWorker(options?: Omit<WorkerOptions, "backend" | "workflows">): Worker {
    options = checkOptions(options, "create worker");
    return new Worker({
      ...options,
      backend: this.#backend,
      workflows: [...this.#workflows.values()],
      maxPayloadBytes: options.maxPayloadBytes ?? this.#maxPayloadBytes,
    });
  }

  /**
   * Returns a handle to an existing run, or `null` when there is none.
   *
   * @param workflowRunId The run's id.
   * @returns The handle, or `null`.
   *
   * @example
   * ```ts ignore
   * const handle = await ow.getRun<{ greeting: string }>(id);
   * if (handle) console.log(await handle.result());
   * ```
   */
  async getRun<Output = unknown>(
    workflowRunId: string,
  ): Promise<WorkflowRunHandle<Output> | null> {
    checkName(workflowRunId, "get run", "workflowRunId");
    const run = await this.#backend.getWorkflowRun({ workflowRunId });
    return run === null
      ? null
      : new WorkflowRunHandle<Output>(this.#backend, run, {
        maxPayloadBytes: this.#maxPayloadBytes,
      });
  }

  /**
   * Lists runs, newest first, one page at a time.
   *
   * @param options Filters, page size and cursor.
   * @returns A page of runs and the cursor of the next page.
   * @throws {TypeError|RangeError} for an invalid filter.
   *
   * @example
   * ```ts ignore
   * let cursor: string | null = null;
   * do {
   *   const page = await ow.listRuns({ status: "failed", cursor });
   *   for (const run of page.runs) console.log(run.id, run.error);
   *   cursor = page.nextCursor;
   * } while (cursor);
   * ```
   */
  async listRuns(options: ListRunsOptions = {}): Promise<WorkflowRunPage> {
    const what = "list runs";
    const limit = options.limit === undefined
      ? 50
      : checkPositiveInteger(options.limit, what, "limit");
    if (limit > 1000) {
      throw new RangeError(
        `Cannot ${what}: 'limit' must be at most 1000, received ${limit}`,
      );
    }
    const statuses = options.status === undefined
      ? undefined
      : typeof options.status === "string"
      ? [options.status]
      : [...options.status];
    for (const status of statuses ?? []) {
      if (!RUN_STATUSES.includes(status)) {
        throw new TypeError(
          `Cannot ${what}: 'status' must be one of ${
            RUN_STATUSES.join(", ")
          }, received ${received(status)}`,
        );
      }
    }
    if (options.cursor != null && typeof options.cursor !== "string") {
      throw new TypeError(
        `Cannot ${what}: 'cursor' must be a string, received ${
          received(options.cursor)
        }`,
      );
    }
    return await this.#backend.listWorkflowRuns({
      workflowName: options.workflowName === undefined
        ? undefined
        : checkName(options.workflowName, what, "workflowName"),
      statuses,
      createdAfter: options.createdAfter === undefined
        ? undefined
        : checkTime(options.createdAfter, what, "createdAfter"),
      createdBefore: options.createdBefore === undefined
        ? undefined
        : checkTime(options.createdBefore, what, "createdBefore"),
      parentWorkflowRunId: options.parentWorkflowRunId === undefined
        ? undefined
        : checkName(options.parentWorkflowRunId, what, "parentWorkflowRunId"),
      limit,
      cursor: options.cursor ?? null,
    });
  }

  /**
   * Lists a run's step attempts, oldest first.
   *
   * @param workflowRunId The run's id.
   * @returns Every attempt of every step (empty for an unknown run).
   *
   * @example
   * ```ts ignore
   * const attempts = await ow.listStepAttempts(handle.id);
   * ```
   */
  async listStepAttempts(workflowRunId: string): Promise<StepAttempt[]> {
    checkName(workflowRunId, "list step attempts", "workflowRunId");
    return await this.#backend.listStepAttempts({ workflowRunId });
  }

  /**
   * Cancels a run by id; see {@linkcode WorkflowRunHandle.cancel}. With
   * `{ compensate: true }`, the compensations of its completed steps run
   * first, and the run is `canceled` once they have.
   *
   * @param workflowRunId The run's id.
   * @param options Whether the run's compensations run first.
   * @returns The run's record after the cancellation (still unfinished
   * while its compensations are to run).
   * @throws {WorkflowRunNotFoundError} when there is no such run.
   * @throws {TypeError} for options that are not an object, or a
   * `compensate` that is not a boolean; nothing is changed.
   *
   * @example
   * ```ts ignore
   * await ow.cancelRun(id);
   * await ow.cancelRun(bookingId, { compensate: true });
   * ```
   */
  async cancelRun(
    workflowRunId: string,
    options?: CancelRunOptions,
  ): Promise<WorkflowRun> {
    checkName(workflowRunId, "cancel run", "workflowRunId");
    return await cancelWorkflowRun(this.#backend, workflowRunId, options);
  }

  /**
   * Retries a failed or canceled run: the same run (same id) continues,
   * completed steps keep their results, and steps that failed for good get
   * a fresh retry budget (as does the workflow-level retry policy). It is
   * claimable at once, and wakes workers. A passed deadline is cleared.
   *
   * @param workflowRunId The run's id.
   * @returns A handle to the run.
   * @throws {WorkflowRunNotFoundError} when there is no such run.
   * @throws {WorkflowRunStatusError} when the run is pending, running,
   * sleeping or succeeded (it says which); nothing is changed.
   *
   * @example Retry a run once the bug is fixed
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * let fixed = false;
   * const charge = ow.defineWorkflow({ name: "charge", retry: { maxAttempts: 1 } },
   *   async ({ step }) => await step.run({ name: "pay", retry: { maxAttempts: 1 } }, () => {
   *     if (!fixed) throw new Error("card service down");
   *     return "paid";
   *   }));
   * const handle = await charge.run();
   * const worker = ow.newWorker();
   * await worker.start();
   * await assert.rejects(handle.result());
   * fixed = true;
   * await ow.retryRun(handle.id);
   * assert.equal(await handle.result(), "paid");
   * await worker.stop();
   * ```
   */
  async retryRun<Output = unknown>(
    workflowRunId: string,
  ): Promise<WorkflowRunHandle<Output>> {
    const run = await retryRun(this.#backend, workflowRunId);
    return new WorkflowRunHandle<Output>(this.#backend, run, {
      maxPayloadBytes: this.#maxPayloadBytes,
    });
  }

  /**
   * Forks a run: a new run of the same workflow, version and input, which
   * records where it came from (`forkedFromWorkflowRunId`). The steps that
   * completed before `fromStep` are copied to it as completed; the rest run
   * again. The original is left as it is, whatever its status.
   *
   * @param workflowRunId The run to fork.
   * @param options The step to start from (without it: from the start).
   * @returns A handle to the new run.
   * @throws {WorkflowRunNotFoundError} when there is no such run.
   * @throws {StepNotFoundError} when the run has no step `fromStep`;
   * nothing is created.
   *
   * @example
   * ```ts ignore
   * const fork = await ow.forkRun(id, { fromStep: "charge" });
   * console.log(fork.workflowRun.forkedFromWorkflowRunId === id); // true
   * ```
   */
  async forkRun<Output = unknown>(
    workflowRunId: string,
    options?: ForkRunOptions,
  ): Promise<WorkflowRunHandle<Output>> {
    const run = await forkRun(this.#backend, workflowRunId, options);
    return new WorkflowRunHandle<Output>(this.#backend, run, {
      maxPayloadBytes: this.#maxPayloadBytes,
    });
  }

  /**
   * Deletes finished runs that match, with their step attempts, the
   * signals addressed to them and their deliveries (their children stay,
   * unlinked). Runs are deleted in batches sized to take about 10 ms, each its
   * own short transaction, so that deleting millions never holds long
   * locks. Unfinished runs are never deleted.
   *
   * @param options Which runs: finished before a time, by status, by
   * workflow.
   * @returns How many runs were deleted.
   * @throws {TypeError|RangeError} for an invalid option (a status that is
   * not a finished one, a bad date), naming it; nothing is deleted.
   *
   * @example
   * ```ts ignore
   * const deleted = await ow.deleteRuns({
   *   finishedBefore: new Date(Date.now() - 7 * 86_400_000),
   *   status: ["succeeded"],
   * });
   * ```
   */
  async deleteRuns(options: DeleteRunsOptions): Promise<number> {
    return await deleteRuns(this.#backend, options);
  }

  /**
   * Sends a signal to a run (`workflowRunId`) or, without one, to every
   * unfinished run of the namespace created before the send. A signal
   * addressed to a run is kept until the run waits for it
   * (`step.waitForSignal()`), and delivered exactly once; a broadcast
   * reaches each run at most once. Waiting runs wake within milliseconds.
   *
   * @param options The signal's name and data, its addressee, and an
   * idempotency key.
   * @returns The runs that were waiting for it and received it at once.
   * @throws {TypeError} for an empty name, or a backend without signals.
   * @throws {NotJsonError} for data that is not JSON (nothing is stored).
   * @throws {PayloadTooLargeError} for data over the payload limit.
   * @throws {WorkflowRunNotFoundError} when `workflowRunId` names no run.
   * @throws {WorkflowRunFinishedError} when that run has finished.
   *
   * @example Approve an expense from a web handler
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const expense = ow.defineWorkflow({ name: "expense" }, async ({ step }) => {
   *   const reply = await step.waitForSignal<{ approved: boolean }>({ signal: "approval" });
   *   return reply?.data.approved ? "paid" : "refused";
   * });
   * const handle = await expense.run();
   * // Sent before the run waits: kept, and delivered when it does.
   * await ow.sendSignal({ signal: "approval", data: { approved: true }, workflowRunId: handle.id });
   * const worker = ow.newWorker();
   * await worker.start();
   * assert.equal(await handle.result(), "paid");
   * await worker.stop();
   * ```
   */
  async sendSignal(options: SendSignalOptions): Promise<SendSignalResult> {
    return await sendSignal(this.#backend, options, this.#maxPayloadBytes);
  }

  /**
   * Creates a cron schedule: a run of `workflow` at every slot of `cron`
   * in `timezone`, exactly once per slot however many workers run (fired
   * by the backend's clock), none while paused.
   *
   * @param options The schedule's id, workflow, expression, zone, input and
   * catch-up.
   * @returns The schedule, with its first slot as `nextRunAt`.
   * @throws {TypeError} quoting an invalid cron expression, or for a bad id,
   * workflow, `catchUp` or input (nothing is stored).
   * @throws {RangeError} naming an unknown time zone.
   * @throws {ScheduleExistsError} when a schedule has the id.
   *
   * @example A nightly report, at 03:00 in Berlin
   * ```ts
   * import assert from "node:assert/strict";
   * import { OpenWorkflow } from "@openworkflow/core";
   * import { BackendSqlite } from "@openworkflow/core/sqlite";
   *
   * await using backend = await BackendSqlite.connect(":memory:");
   * const ow = new OpenWorkflow({ backend });
   * const report = ow.defineWorkflow({ name: "report" }, () => "sent");
   * const schedule = await ow.createSchedule({
   *   id: "nightly-report",
   *   workflow: report,
   *   cron: "0 3 * * *",
   *   timezone: "Europe/Berlin",
   *   input: { kind: "daily" },
   * });
   * assert.equal(schedule.nextRunAt > new Date(), true);
   * await ow.pauseSchedule("nightly-report");
   * const handle = await ow.triggerSchedule("nightly-report"); // one run now
   * assert.equal(handle.workflowRun.workflowName, "report");
   * ```
   */
  async createSchedule(options: CreateScheduleOptions): Promise<Schedule> {
    return await createSchedule(
      this.#backend,
      options,
      this.#maxPayloadBytes,
      "fail",
    );
  }

  /**
   * Reads a schedule.
   *
   * @param id The schedule's id.
   * @returns The schedule, or `null` when none has the id.
   *
   * @example
   * ```ts ignore
   * const schedule = await ow.getSchedule("nightly-report");
   * console.log(schedule?.nextRunAt);
   * ```
   */
  async getSchedule(id: string): Promise<Schedule | null> {
    const what = "get schedule";
    return await scheduleMethods(this.#backend, what).getSchedule({
      id: checkName(id, what, "id"),
    });
  }

  /**
   * Lists the namespace's schedules, by id.
   *
   * @returns Every schedule.
   *
   * @example
   * ```ts ignore
   * for (const s of await ow.listSchedules()) console.log(s.id, s.cron, s.paused);
   * ```
   */
  async listSchedules(): Promise<Schedule[]> {
    return await scheduleMethods(this.#backend, "list schedules")
      .listSchedules();
  }

  /**
   * Pauses a schedule: no runs until it is resumed.
   *
   * @param id The schedule's id.
   * @returns The schedule, paused.
   * @throws {ScheduleNotFoundError} when none has the id.
   *
   * @example
   * ```ts ignore
   * await ow.pauseSchedule("nightly-report");
   * ```
   */
  async pauseSchedule(id: string): Promise<Schedule> {
    return await setPaused(this.#backend, id, true);
  }

  /**
   * Resumes a paused schedule from its next slot after now; the slots
   * missed while it was paused are not fired.
   *
   * @param id The schedule's id.
   * @returns The schedule, resumed.
   * @throws {ScheduleNotFoundError} when none has the id.
   *
   * @example
   * ```ts ignore
   * await ow.resumeSchedule("nightly-report");
   * ```
   */
  async resumeSchedule(id: string): Promise<Schedule> {
    return await setPaused(this.#backend, id, false);
  }

  /**
   * Deletes a schedule; the runs it started stay.
   *
   * @param id The schedule's id.
   * @returns Whether a schedule had the id.
   *
   * @example
   * ```ts ignore
   * await ow.deleteSchedule("nightly-report");
   * ```
   */
  async deleteSchedule(id: string): Promise<boolean> {
    const what = "delete schedule";
    return await scheduleMethods(this.#backend, what).deleteSchedule({
      id: checkName(id, what, "id"),
    });
  }

  /**
   * Starts one run of a schedule now, outside its slots (paused or not).
   *
   * @param id The schedule's id.
   * @returns A handle to the run.
   * @throws {ScheduleNotFoundError} when none has the id.
   *
   * @example
   * ```ts ignore
   * const handle = await ow.triggerSchedule("nightly-report");
   * ```
   */
  async triggerSchedule<Output = unknown>(
    id: string,
  ): Promise<WorkflowRunHandle<Output>> {
    const run = await triggerSchedule(this.#backend, id);
    return new WorkflowRunHandle<Output>(this.#backend, run, {
      maxPayloadBytes: this.#maxPayloadBytes,
    });
  }
}
