/**
 * `WorkflowDefinition`: a defined workflow, which starts runs of itself.
 *
 * @module
 */

import {
  ATTR,
  namespaceOf,
  runAttributes,
  SpanKind,
  traceContextOf,
  traced,
} from "../telemetry/tracing.ts";
import type { Backend } from "../core/backend.ts";
import { type Duration, parseDuration } from "../core/duration.ts";
import { startedAt, WorkflowRunHandle } from "./handle.ts";
import { encodeJson } from "../core/json.ts";
import { checkPayloadSize, DEFAULT_MAX_PAYLOAD_BYTES } from "../core/limits.ts";
import {
  DEFAULT_WORKFLOW_RETRY_POLICY,
  resolveRetryPolicy,
  type RetryPolicy,
} from "../core/retry.ts";
import {
  backendMethod,
  checkName,
  checkTime,
  received,
} from "../core/validate.ts";
import { markFinishes, notifyAvailable } from "../core/wakeups.ts";
import type {
  ScheduleConfig,
  WorkflowDefinitionConfig,
  WorkflowFunction,
} from "../core/workflow.ts";
import { checkScheduleConfig } from "../core/schedule_store.ts";
import {
  checkFlowControl,
  type FlowControl,
  flowParams,
} from "../core/flow_control.ts";

/**
 * Options of {@linkcode WorkflowDefinition.run}.
 */
export interface WorkflowRunOptions {
  /**
   * The run fails with `DeadlineExceededError` if not finished by then
   * (a time in years 1 to 9999).
   * @default {undefined}
   */
  deadlineAt?: Date;
  /**
   * Delays the start: a `Date` (in years 1 to 9999), or a duration from now
   * such as `"5m"` (at most `MAX_DURATION_MS`, 100 years).
   * @default {undefined}
   */
  availableAt?: Date | Duration;
  /**
   * Starting the same workflow again with the same key returns the existing
   * run's handle instead of creating a second run (enforced by the
   * database, also across processes).
   * @default {undefined}
   */
  idempotencyKey?: string;
  /**
   * Among claimable runs, those of higher priority are claimed first: an
   * integer (32 bits).
   * @default {0}
   */
  priority?: number;
  /**
   * Starts the run inside the caller's own open transaction, so that it
   * exists only if that transaction commits (and workers wake at the
   * commit): on Postgres, the `tx` of the application's postgres.js
   * `sql.begin()` or a node-postgres client inside `BEGIN`; on SQLite, a
   * `DatabaseSync` of the backend's file inside a transaction. The
   * transaction must be on the backend's own database, or the call is a
   * `TypeError` and nothing is written.
   * @default {undefined}
   */
  transaction?: unknown;
}

/**
 * Options of the {@linkcode WorkflowDefinition} constructor.
 * `OpenWorkflow.defineWorkflow()` passes the client's `maxPayloadBytes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   PayloadTooLargeError,
 *   WorkflowDefinition,
 *   type WorkflowDefinitionOptions,
 * } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const options: WorkflowDefinitionOptions = { maxPayloadBytes: 1024 };
 * const echo = new WorkflowDefinition(
 *   backend,
 *   { name: "echo" },
 *   ({ input }) => input,
 *   options,
 * );
 * await assert.rejects(echo.run("x".repeat(2048)), PayloadTooLargeError);
 * ```
 */
export interface WorkflowDefinitionOptions {
  /**
   * The largest JSON text stored for the input.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
}

/** A workflow's configuration and function, checked. */
interface CheckedWorkflow {
  name: string;
  version: string | null;
  retry: Required<RetryPolicy>;
  schedule: ScheduleConfig | null;
  flowControl: FlowControl;
}

/**
 * Checks a workflow's configuration and function.
 *
 * @throws {TypeError|RangeError} naming what is wrong.
 */
function checkWorkflow<Input>(
  config: WorkflowDefinitionConfig<Input>,
  fn: unknown,
): CheckedWorkflow {
  const what = "define workflow";
  if (config === null || typeof config !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'config' must be an object with a 'name', received ${
        received(config)
      }`,
    );
  }
  const name = checkName(config.name, what, "name");
  const version = config.version == null
    ? null
    : checkName(config.version, what, "version");
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot ${what} '${name}': 'fn' must be a function, received ${
        received(fn)
      }`,
    );
  }
  return {
    name,
    version,
    retry: resolveRetryPolicy(
      config.retry,
      DEFAULT_WORKFLOW_RETRY_POLICY,
      `workflow '${name}'`,
    ),
    schedule: config.schedule == null
      ? null
      : checkScheduleConfig(config.schedule, `${what} '${name}'`),
    flowControl: checkFlowControl(config, `${what} '${name}'`),
  };
}

/**
 * A workflow defined without a backend (by the top-level
 * {@linkcode defineWorkflow}), for modules that workers load: pass it to
 * `new Worker({ workflows })`, or register it on a client
 * (`ow.registerWorkflow()`) to start runs of it and have `ow.newWorker()`
 * execute it. The CLI's `worker start --dir` registers every one a module
 * exports. A `WorkflowDefinition` is a declaration bound to a backend.
 *
 * @example
 * ```ts
 * import { defineWorkflow, WorkflowDeclaration } from "@openworkflow/core";
 *
 * const report = defineWorkflow({ name: "report" }, async ({ step }) =>
 *   await step.run({ name: "build" }, () => "done"));
 * console.log(report instanceof WorkflowDeclaration, report.name); // true report
 * ```
 */
export class WorkflowDeclaration<Input = unknown, Output = unknown> {
  /** The workflow's name. */
  readonly name: string;
  /** The workflow's version, or `null`. */
  readonly version: string | null;
  /** The workflow function. */
  readonly fn: WorkflowFunction<Input, Output>;
  /** The workflow-level retry policy, defaults filled in. */
  readonly retry: Required<RetryPolicy>;
  /** The cron schedule the workflow declares, or `null`. */
  readonly schedule: ScheduleConfig | null;
  /** The workflow's concurrency and rate limits, checked. */
  readonly flowControl: FlowControl;
  /** The configuration it was declared with. */
  readonly config: WorkflowDefinitionConfig<Input>;

  /**
   * Declarations are made by {@linkcode defineWorkflow}.
   *
   * @param config The workflow's name, version, retry policy, schedule and
   * limits.
   * @param fn The workflow function.
   * @throws {TypeError|RangeError} as `OpenWorkflow.defineWorkflow()` does.
   */
  constructor(
    config: WorkflowDefinitionConfig<Input>,
    fn: WorkflowFunction<Input, Output>,
  ) {
    const checked = checkWorkflow(config, fn);
    this.name = checked.name;
    this.version = checked.version;
    this.fn = fn;
    this.retry = checked.retry;
    this.schedule = checked.schedule;
    this.flowControl = checked.flowControl;
    this.config = config;
  }
}

/**
 * A defined workflow, which starts runs. Made by
 * `OpenWorkflow.defineWorkflow()`.
 *
 * @example
 * ```ts ignore
 * const handle = await myWorkflow.run({ userId: "123" });
 * const result = await handle.result();
 * ```
 */
export class WorkflowDefinition<Input = unknown, Output = unknown>
  extends WorkflowDeclaration<Input, Output> {
  readonly #backend: Backend;
  readonly #maxPayloadBytes: number;

  /**
   * Definitions are made by `OpenWorkflow.defineWorkflow()`.
   *
   * @param backend Where runs are stored.
   * @param config The workflow's name and version.
   * @param fn The workflow function.
   * @param options Limits.
   * @throws {TypeError} for a missing name or function, or a retry policy
   * that is not an object or has an unknown field.
   * @throws {RangeError} for a retry policy with impossible values.
   */
  constructor(
    backend: Backend,
    config: WorkflowDefinitionConfig<Input>,
    fn: WorkflowFunction<Input, Output>,
    options: WorkflowDefinitionOptions = {},
  ) {
    super(config, fn);
    this.#backend = backend;
    this.#maxPayloadBytes = options.maxPayloadBytes ??
      DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /**
   * Starts a new run. The run is stored before this resolves; a worker that
   * has this workflow (and version) registered executes it.
   *
   * @param input The workflow input (a JSON value; `Date`s become strings).
   * @param options Deadline, delayed start, idempotency key.
   * @returns A handle to wait for the result.
   * @throws {TypeError} when the input is not JSON, or an option is invalid;
   * nothing is written then.
   * @throws {RangeError} for a `deadlineAt` or `availableAt` outside years 1
   * to 9999, or a delay over `MAX_DURATION_MS`; nothing is written then.
   *
   * @example
   * ```ts ignore
   * const handle = await myWorkflow.run({ userId: "123" }, {
   *   deadlineAt: new Date(Date.now() + 3_600_000),
   * });
   * ```
   */
  async run(
    input?: Input,
    options: WorkflowRunOptions = {},
  ): Promise<WorkflowRunHandle<Output>> {
    const what = `run workflow '${this.name}'`;
    const subject = `input of workflow '${this.name}'`;
    const encoded = encodeJson(input, subject);
    checkPayloadSize(encoded.text, subject, this.#maxPayloadBytes);
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `Cannot ${what}: 'options' must be an object, received ${
          received(options)
        }`,
      );
    }
    const deadlineAt = options.deadlineAt === undefined
      ? null
      : checkTime(options.deadlineAt, what, "deadlineAt");
    let availableAt: Date | null = null;
    let availableAfterMs = 0;
    if (options.availableAt instanceof Date) {
      availableAt = checkTime(options.availableAt, what, "availableAt");
    } else if (options.availableAt !== undefined) {
      // A delay is measured by the database clock, not this machine's.
      availableAfterMs = parseDuration(options.availableAt, "availableAt");
    }
    let idempotencyKey: string | null = null;
    if (options.idempotencyKey !== undefined) {
      if (typeof options.idempotencyKey !== "string") {
        throw new TypeError(
          `Cannot ${what}: 'idempotencyKey' must be a string, received ${
            received(options.idempotencyKey)
          }`,
        );
      }
      idempotencyKey = checkName(
        options.idempotencyKey,
        what,
        "idempotencyKey",
      );
    }
    const flow = flowParams(this.flowControl, input, options.priority, what);
    const inTransaction = options.transaction === undefined
      ? null
      : backendMethod(this.#backend, "createWorkflowRunInTransaction", what);
    const namespaceId = namespaceOf(this.#backend);
    // Taken before the run is written: its finish, whenever it comes, is
    // told from here on unless notifications go down meanwhile. (A run
    // created in a transaction of the caller's may never be committed.)
    const mark = inTransaction === null ? markFinishes(this.#backend) : null;
    const run = await traced(
      "workflow_run.create",
      SpanKind.CLIENT,
      () => {
        const attributes = runAttributes(
          { id: "", workflowName: this.name, version: this.version },
          namespaceId,
        );
        delete attributes[ATTR.runId];
        return attributes;
      },
      async (span) => {
        const params = {
          workflowName: this.name,
          version: this.version,
          config: {},
          // Every execution of the run continues this span's trace.
          context: span === undefined ? null : traceContextOf(span),
          input: encoded.value,
          availableAt,
          availableAfterMs,
          deadlineAt,
          idempotencyKey,
          ...flow,
        };
        const run = inTransaction === null
          ? await this.#backend.createWorkflowRun(params)
          : await inTransaction(params, options.transaction);
        span?.setAttribute(ATTR.runId, run.id);
        return run;
      },
    );
    notifyAvailable(this.#backend, run.availableAt);
    const handle = new WorkflowRunHandle<Output>(this.#backend, run, {
      maxPayloadBytes: this.#maxPayloadBytes,
    });
    startedAt(handle, mark);
    return handle;
  }
}

/**
 * Defines a workflow without a backend: the declaration any client
 * (`ow.registerWorkflow()`) or worker (`new Worker({ workflows })`) can
 * take. `OpenWorkflow.defineWorkflow()` defines and registers in one step.
 *
 * @param config The workflow's name and version, retry policy, schedule
 * and limits.
 * @param fn The workflow function.
 * @returns The declaration.
 * @throws {TypeError|RangeError} for an invalid configuration, naming it.
 *
 * @example Declare in a module workers load, start runs elsewhere
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineWorkflow, OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * export const report = defineWorkflow<{ day: string }, string>(
 *   { name: "report" },
 *   async ({ input, step }) => await step.run({ name: "build" }, () => `report ${input.day}`),
 * );
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const handle = await ow.registerWorkflow(report).run({ day: "monday" });
 * const worker = ow.newWorker();
 * await worker.start();
 * assert.equal(await handle.result(), "report monday");
 * await worker.stop();
 * ```
 */
export function defineWorkflow<Input = unknown, Output = unknown>(
  config: WorkflowDefinitionConfig<Input>,
  fn: WorkflowFunction<Input, Output>,
): WorkflowDeclaration<Input, Output> {
  return new WorkflowDeclaration(config, fn);
}
