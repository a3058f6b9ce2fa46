/**
 * Every error class the library throws.
 *
 * Branch on `instanceof` (or on the literal `name`), never on message text.
 *
 * @module
 */

/** Options shared by the error constructors of this module. */
export interface OpenWorkflowErrorOptions {
  /**
   * The underlying error, if any.
   * @default {undefined}
   */
  cause?: unknown;
}

/**
 * Base class of the errors that describe a workflow run's fate.
 *
 * @example Branch on the class
 * ```ts
 * import { OpenWorkflowError, WorkflowFailedError } from "@openworkflow/core";
 *
 * const error: unknown = new WorkflowFailedError("run-1", new Error("boom"));
 * if (error instanceof OpenWorkflowError) console.log(error.name);
 * ```
 */
export class OpenWorkflowError extends Error {
  /** The error's name, `"OpenWorkflowError"`. */
  override name = "OpenWorkflowError";
}

/**
 * `WorkflowRunHandle.result()` rejects with this when the run failed.
 *
 * `cause` is the workflow's own error, rehydrated from the database: an
 * `Error` with the original `name`, `message` and `stack`.
 *
 * @example
 * ```ts
 * import { WorkflowFailedError } from "@openworkflow/core";
 *
 * const error = new WorkflowFailedError("run-1", new TypeError("bad"));
 * console.log(error.message); // Workflow run run-1 failed: TypeError: bad
 * ```
 */
export class WorkflowFailedError extends OpenWorkflowError {
  /** The error's name, `"WorkflowFailedError"`. */
  override name = "WorkflowFailedError" as const;
  /** The id of the failed workflow run. */
  readonly workflowRunId: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the failed workflow run.
   * @param cause The workflow's error, rehydrated.
   */
  constructor(workflowRunId: string, cause: unknown) {
    super(`Workflow run ${workflowRunId} failed: ${describe(cause)}`, {
      cause,
    });
    this.workflowRunId = workflowRunId;
  }
}

/**
 * `WorkflowRunHandle.result()` rejects with this when the run was canceled.
 *
 * @example
 * ```ts
 * import { WorkflowCanceledError } from "@openworkflow/core";
 *
 * const error = new WorkflowCanceledError("run-1");
 * console.log(error.workflowRunId); // run-1
 * ```
 */
export class WorkflowCanceledError extends OpenWorkflowError {
  /** The error's name, `"WorkflowCanceledError"`. */
  override name = "WorkflowCanceledError" as const;
  /** The id of the canceled workflow run. */
  readonly workflowRunId: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the canceled workflow run.
   */
  constructor(workflowRunId: string) {
    super(`Workflow run ${workflowRunId} was canceled`);
    this.workflowRunId = workflowRunId;
  }
}

/**
 * A workflow run id names no run in the backend's namespace.
 *
 * @example
 * ```ts
 * import { WorkflowRunNotFoundError } from "@openworkflow/core";
 *
 * const error = new WorkflowRunNotFoundError("run-1");
 * console.log(error.message); // Workflow run run-1 not found
 * ```
 */
export class WorkflowRunNotFoundError extends OpenWorkflowError {
  /** The error's name, `"WorkflowRunNotFoundError"`. */
  override name = "WorkflowRunNotFoundError" as const;
  /** The id that names no run. */
  readonly workflowRunId: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id that names no run.
   */
  constructor(workflowRunId: string) {
    super(`Workflow run ${workflowRunId} not found`);
    this.workflowRunId = workflowRunId;
  }
}

/**
 * An action needs an unfinished run, and the run has finished: a signal
 * addressed to a run that succeeded, failed or was canceled. Nothing was
 * stored.
 *
 * @example
 * ```ts
 * import { WorkflowRunFinishedError } from "@openworkflow/core";
 *
 * const error = new WorkflowRunFinishedError("run-1", "succeeded", "send signal 'approval'");
 * console.log(error.message); // Cannot send signal 'approval': workflow run run-1 has finished (succeeded)
 * ```
 */
export class WorkflowRunFinishedError extends OpenWorkflowError {
  /** The error's name, `"WorkflowRunFinishedError"`. */
  override name = "WorkflowRunFinishedError" as const;
  /** The finished run's id. */
  readonly workflowRunId: string;
  /** Its status: `succeeded`, `failed` or `canceled`. */
  readonly status: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The finished run's id.
   * @param status Its status.
   * @param action What could not be done, e.g. `"send signal 'approval'"`.
   */
  constructor(workflowRunId: string, status: string, action: string) {
    super(
      `Cannot ${action}: workflow run ${workflowRunId} has finished (${status})`,
    );
    this.workflowRunId = workflowRunId;
    this.status = status;
  }
}

/**
 * An action is not possible in the run's status: retrying a run that has
 * not failed or been canceled. Nothing was changed.
 *
 * @example
 * ```ts
 * import { WorkflowRunStatusError } from "@openworkflow/core";
 *
 * const error = new WorkflowRunStatusError("run-1", "succeeded", "retry", ["failed", "canceled"]);
 * console.log(error.message); // Cannot retry workflow run run-1: it is succeeded (only failed or canceled runs can be)
 * ```
 */
export class WorkflowRunStatusError extends OpenWorkflowError {
  /** The error's name, `"WorkflowRunStatusError"`. */
  override name = "WorkflowRunStatusError" as const;
  /** The run's id. */
  readonly workflowRunId: string;
  /** Its status. */
  readonly status: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The run's id.
   * @param status Its status.
   * @param action What could not be done, e.g. `"retry"`.
   * @param allowed The statuses in which it could be done.
   */
  constructor(
    workflowRunId: string,
    status: string,
    action: string,
    allowed: readonly string[],
  ) {
    super(
      `Cannot ${action} workflow run ${workflowRunId}: it is ${status} (only ${
        allowed.join(" or ")
      } runs can be)`,
    );
    this.workflowRunId = workflowRunId;
    this.status = status;
  }
}

/**
 * A step name that names no step of the run: `forkRun(id, { fromStep })`
 * with a step the run never reached. Nothing was created.
 *
 * @example
 * ```ts
 * import { StepNotFoundError } from "@openworkflow/core";
 *
 * const error = new StepNotFoundError("run-1", "charge");
 * console.log(error.message); // Workflow run run-1 has no step 'charge'
 * ```
 */
export class StepNotFoundError extends OpenWorkflowError {
  /** The error's name, `"StepNotFoundError"`. */
  override name = "StepNotFoundError" as const;
  /** The run's id. */
  readonly workflowRunId: string;
  /** The step name that names no step of it. */
  readonly stepName: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The run's id.
   * @param stepName The step name that names no step of it.
   */
  constructor(workflowRunId: string, stepName: string) {
    super(`Workflow run ${workflowRunId} has no step '${stepName}'`);
    this.workflowRunId = workflowRunId;
    this.stepName = stepName;
  }
}

/**
 * A signal's data failed the schema its `step.waitForSignal()` gave: the
 * step fails for good (the workflow may catch it). `issues` are the
 * schema's, as Standard Schema reports them.
 *
 * @example
 * ```ts
 * import { SignalValidationError } from "@openworkflow/core";
 *
 * const error = new SignalValidationError("approval", [
 *   { message: "Expected boolean", path: ["approved"] },
 * ]);
 * console.log(error.message); // Signal 'approval' failed its schema: approved: Expected boolean
 * ```
 */
export class SignalValidationError extends OpenWorkflowError {
  /** The error's name, `"SignalValidationError"`. */
  override name = "SignalValidationError" as const;
  /** The signal's name. */
  readonly signal: string;
  /** What the schema found wrong. */
  readonly issues: readonly SignalIssue[];

  /**
   * Creates the error.
   *
   * @param signal The signal's name.
   * @param issues What the schema found wrong.
   */
  constructor(signal: string, issues: readonly SignalIssue[]) {
    super(
      `Signal '${signal}' failed its schema: ${
        issues.map((issue) =>
          issue.path === undefined || issue.path.length === 0
            ? issue.message
            : `${
              issue.path.map((part) =>
                String(typeof part === "object" ? part.key : part)
              ).join(".")
            }: ${issue.message}`
        ).join("; ")
      }`,
    );
    this.signal = signal;
    this.issues = issues;
  }
}

/** One problem a schema found in a signal's data. */
export interface SignalIssue {
  /** What is wrong. */
  message: string;
  /**
   * Where, as keys from the data's root.
   * @default {undefined}
   */
  path?: readonly (PropertyKey | { key: PropertyKey })[];
}

/**
 * `createSchedule()` was given an id that a schedule of the namespace
 * already has. Nothing was changed.
 *
 * @example
 * ```ts
 * import { ScheduleExistsError } from "@openworkflow/core";
 *
 * const error = new ScheduleExistsError("nightly-report");
 * console.log(error.message); // Cannot create schedule: a schedule with id 'nightly-report' exists
 * ```
 */
export class ScheduleExistsError extends OpenWorkflowError {
  /** The error's name, `"ScheduleExistsError"`. */
  override name = "ScheduleExistsError" as const;
  /** The id that is taken. */
  readonly scheduleId: string;

  /**
   * Creates the error.
   *
   * @param scheduleId The id that is taken.
   */
  constructor(scheduleId: string) {
    super(
      `Cannot create schedule: a schedule with id '${scheduleId}' exists`,
    );
    this.scheduleId = scheduleId;
  }
}

/**
 * A schedule id names no schedule in the namespace.
 *
 * @example
 * ```ts
 * import { ScheduleNotFoundError } from "@openworkflow/core";
 *
 * const error = new ScheduleNotFoundError("nightly-report");
 * console.log(error.message); // Schedule 'nightly-report' not found
 * ```
 */
export class ScheduleNotFoundError extends OpenWorkflowError {
  /** The error's name, `"ScheduleNotFoundError"`. */
  override name = "ScheduleNotFoundError" as const;
  /** The id that names no schedule. */
  readonly scheduleId: string;

  /**
   * Creates the error.
   *
   * @param scheduleId The id that names no schedule.
   */
  constructor(scheduleId: string) {
    super(`Schedule '${scheduleId}' not found`);
    this.scheduleId = scheduleId;
  }
}

/**
 * `WorkflowRunHandle.result()` rejects with this when the run did not reach
 * a terminal status within the timeout. The run itself is unaffected.
 *
 * @example
 * ```ts
 * import { ResultTimeoutError } from "@openworkflow/core";
 *
 * const error = new ResultTimeoutError("run-1", 5000);
 * console.log(error.timeoutMs); // 5000
 * ```
 */
export class ResultTimeoutError extends OpenWorkflowError {
  /** The error's name, `"ResultTimeoutError"`. */
  override name = "ResultTimeoutError" as const;
  /** The id of the workflow run waited for. */
  readonly workflowRunId: string;
  /** How long the caller waited, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run waited for.
   * @param timeoutMs How long the caller waited, in milliseconds.
   * @param options `cause`: the last error met while waiting, if any.
   */
  constructor(
    workflowRunId: string,
    timeoutMs: number,
    options?: OpenWorkflowErrorOptions,
  ) {
    super(
      `Timed out after ${timeoutMs} ms waiting for workflow run ${workflowRunId}`,
      options?.cause === undefined ? undefined : options,
    );
    this.workflowRunId = workflowRunId;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The error stored on a run that did not finish before its `deadlineAt`.
 *
 * @example
 * ```ts
 * import { DeadlineExceededError } from "@openworkflow/core";
 *
 * const error = new DeadlineExceededError("run-1", new Date(0));
 * console.log(error.deadlineAt.toISOString()); // 1970-01-01T00:00:00.000Z
 * ```
 */
export class DeadlineExceededError extends OpenWorkflowError {
  /** The error's name, `"DeadlineExceededError"`. */
  override name = "DeadlineExceededError" as const;
  /** The id of the workflow run. */
  readonly workflowRunId: string;
  /** The deadline that passed. */
  readonly deadlineAt: Date;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run.
   * @param deadlineAt The deadline that passed.
   */
  constructor(workflowRunId: string, deadlineAt: Date) {
    super(
      `Workflow run ${workflowRunId} exceeded its deadline of ${deadlineAt.toISOString()}`,
    );
    this.workflowRunId = workflowRunId;
    this.deadlineAt = deadlineAt;
  }
}

/**
 * A backend throws this when a worker writes to a run it no longer owns: its
 * lease expired and another worker claimed the run, or the run was canceled
 * or finished. The write is rejected and nothing is changed.
 *
 * @example
 * ```ts
 * import { LeaseLostError } from "@openworkflow/core";
 *
 * const error = new LeaseLostError("run-1", "worker-a");
 * console.log(error.workerId); // worker-a
 * ```
 */
export class LeaseLostError extends OpenWorkflowError {
  /** The error's name, `"LeaseLostError"`. */
  override name = "LeaseLostError" as const;
  /** The id of the workflow run. */
  readonly workflowRunId: string;
  /** The worker whose write was rejected. */
  readonly workerId: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run.
   * @param workerId The worker whose write was rejected.
   */
  constructor(workflowRunId: string, workerId: string) {
    super(
      `Worker ${workerId} no longer holds the lease of workflow run ${workflowRunId}`,
    );
    this.workflowRunId = workflowRunId;
    this.workerId = workerId;
  }
}

/**
 * `step.run()`, `step.sleep()` and `step.sleepUntil()` reject with this when
 * a step name is used a second time in one run. A step's stored result is
 * found by its name, so names must be unique within a run: in a loop, put the
 * item or its index in the name (`process-${item.id}`). The run fails at
 * once; retrying could not help.
 *
 * @example
 * ```ts
 * import { DuplicateStepNameError } from "@openworkflow/core";
 *
 * const error = new DuplicateStepNameError("run-1", "fetch-user");
 * console.log(error.stepName); // fetch-user
 * ```
 */
export class DuplicateStepNameError extends OpenWorkflowError {
  /** The error's name, `"DuplicateStepNameError"`. */
  override name = "DuplicateStepNameError" as const;
  /** The id of the workflow run. */
  readonly workflowRunId: string;
  /** The repeated step name. */
  readonly stepName: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run.
   * @param stepName The repeated step name.
   */
  constructor(workflowRunId: string, stepName: string) {
    super(
      `Step name '${stepName}' is used more than once in workflow run ${workflowRunId}; step names must be unique within a run (in a loop, put the item or its index in the name)`,
    );
    this.workflowRunId = workflowRunId;
    this.stepName = stepName;
  }
}

/**
 * A step attempt that ran longer than its `timeoutMs` fails with this (its
 * `signal` is aborted with it too). The failure is retried like any other.
 *
 * @example
 * ```ts
 * import { StepTimeoutError } from "@openworkflow/core";
 *
 * const error = new StepTimeoutError("fetch-page", 5000);
 * console.log(error.message); // Step 'fetch-page' timed out after 5000 ms
 * ```
 */
export class StepTimeoutError extends OpenWorkflowError {
  /** The error's name, `"StepTimeoutError"`. */
  override name = "StepTimeoutError" as const;
  /** The step's name. */
  readonly stepName: string;
  /** The step's timeout, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param stepName The step's name.
   * @param timeoutMs The step's timeout, in milliseconds.
   */
  constructor(stepName: string, timeoutMs: number) {
    super(`Step '${stepName}' timed out after ${timeoutMs} ms`);
    this.stepName = stepName;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The error recorded on a step attempt that was cut off: the worker running
 * it crashed, or lost the run's lease (its heartbeats failed), before the
 * attempt finished. The worker that claims the run next records it. It is
 * not the step's own failure: the step is tried again at once, and the
 * attempt counts against the policy's `maxInterruptions`, not its
 * `maxAttempts` (see {@linkcode StepInterruptedTooOftenError}).
 *
 * @example
 * ```ts
 * import { StepInterruptedError } from "@openworkflow/core";
 *
 * const error = new StepInterruptedError("run-1", "charge", "attempt-1");
 * console.log(error.stepName); // charge
 * ```
 */
export class StepInterruptedError extends OpenWorkflowError {
  /** The error's name, `"StepInterruptedError"`. */
  override name = "StepInterruptedError" as const;
  /** The id of the workflow run. */
  readonly workflowRunId: string;
  /** The step's name. */
  readonly stepName: string;
  /** The id of the attempt that was cut off. */
  readonly stepAttemptId: string;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run.
   * @param stepName The step's name.
   * @param stepAttemptId The id of the attempt that was cut off.
   */
  constructor(workflowRunId: string, stepName: string, stepAttemptId: string) {
    super(
      `Attempt ${stepAttemptId} of step '${stepName}' in workflow run ${workflowRunId} was interrupted: its worker crashed or lost the run's lease before the attempt finished`,
    );
    this.workflowRunId = workflowRunId;
    this.stepName = stepName;
    this.stepAttemptId = stepAttemptId;
  }
}

/**
 * A step failed for good because its attempts kept being cut off: its
 * worker crashed or lost the run's lease while it ran, more often than the
 * retry policy's `maxInterruptions` allows (10 by default). The step's
 * function may be what kills its worker (memory, a native crash, an
 * endless loop that starves the heartbeats), or the workers keep being
 * stopped under it.
 *
 * @example
 * ```ts
 * import { StepInterruptedTooOftenError } from "@openworkflow/core";
 *
 * const error = new StepInterruptedTooOftenError("run-1", "render", 10);
 * console.log(error.interruptions); // 10
 * ```
 */
export class StepInterruptedTooOftenError extends OpenWorkflowError {
  /** The error's name, `"StepInterruptedTooOftenError"`. */
  override name = "StepInterruptedTooOftenError" as const;
  /** The id of the workflow run. */
  readonly workflowRunId: string;
  /** The step's name. */
  readonly stepName: string;
  /** How many of its attempts were cut off. */
  readonly interruptions: number;

  /**
   * Creates the error.
   *
   * @param workflowRunId The id of the workflow run.
   * @param stepName The step's name.
   * @param interruptions How many of its attempts were cut off.
   */
  constructor(workflowRunId: string, stepName: string, interruptions: number) {
    super(
      `Step '${stepName}' of workflow run ${workflowRunId} kept killing or losing its worker: ${interruptions} of its attempts were cut off by a crash or a lost lease (the retry policy's maxInterruptions); it failed for good`,
    );
    this.workflowRunId = workflowRunId;
    this.stepName = stepName;
    this.interruptions = interruptions;
  }
}

/**
 * Throw this from a step function to fail the step at once, without using
 * the remaining attempts of its retry policy. Should the workflow not catch
 * it, the run fails at once too: a workflow-level retry policy does not
 * retry it (nor a `NonRetryableError` thrown by the workflow itself).
 *
 * @example
 * ```ts
 * import { NonRetryableError } from "@openworkflow/core";
 *
 * function charge(amount: number): number {
 *   if (amount < 0) throw new NonRetryableError("amount must be positive");
 *   return amount;
 * }
 * console.log(charge(5)); // 5
 * ```
 */
export class NonRetryableError extends OpenWorkflowError {
  /** The error's name, `"NonRetryableError"`. */
  override name = "NonRetryableError";
}

/**
 * A backend's schema was created by a newer version of this library than the
 * one connecting. Nothing is changed; upgrade the library.
 *
 * @example
 * ```ts
 * import { SchemaVersionError } from "@openworkflow/core";
 *
 * const error = new SchemaVersionError("openworkflow", 7, 3);
 * console.log(error.foundVersion > error.supportedVersion); // true
 * ```
 */
export class SchemaVersionError extends OpenWorkflowError {
  /** The error's name, `"SchemaVersionError"`. */
  override name = "SchemaVersionError" as const;
  /** Where the schema lives: a Postgres schema name or a SQLite file path. */
  readonly location: string;
  /** The schema version found in the database. */
  readonly foundVersion: number;
  /** The newest schema version this library knows. */
  readonly supportedVersion: number;

  /**
   * Creates the error.
   *
   * @param location Where the schema lives.
   * @param foundVersion The schema version found in the database.
   * @param supportedVersion The newest schema version this library knows.
   */
  constructor(
    location: string,
    foundVersion: number,
    supportedVersion: number,
  ) {
    super(
      `Database schema at ${location} has version ${foundVersion}, newer than the version ${supportedVersion} this library supports; upgrade @openworkflow/core`,
    );
    this.location = location;
    this.foundVersion = foundVersion;
    this.supportedVersion = supportedVersion;
  }
}

/**
 * A value is too large to store: its JSON text exceeds the backend's limit.
 *
 * @example
 * ```ts
 * import { PayloadTooLargeError } from "@openworkflow/core";
 *
 * const error = new PayloadTooLargeError("output of step 'load'", 90, 64);
 * console.log(error.sizeBytes); // 90
 * ```
 */
export class PayloadTooLargeError extends OpenWorkflowError {
  /** The error's name, `"PayloadTooLargeError"`. */
  override name = "PayloadTooLargeError" as const;
  /** What the value is, e.g. "output of step 'load'". */
  readonly subject: string;
  /** The size of the value's JSON text, in bytes. */
  readonly sizeBytes: number;
  /** The limit, in bytes. */
  readonly limitBytes: number;

  /**
   * Creates the error.
   *
   * @param subject What the value is.
   * @param sizeBytes The size of the value's JSON text, in bytes.
   * @param limitBytes The limit, in bytes.
   */
  constructor(subject: string, sizeBytes: number, limitBytes: number) {
    super(
      `The ${subject} is ${sizeBytes} bytes as JSON, over the limit of ${limitBytes} bytes`,
    );
    this.subject = subject;
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

/**
 * What is wrong with a backend's database, when a {@linkcode BackendError}
 * can tell:
 *
 * - `"not-found"`: the directory meant to hold the database file does not
 *   exist (or is not a directory).
 * - `"is-directory"`: the path names a directory, not a file.
 * - `"permission-denied"`: the file, or its directory, may not be read or
 *   written by this process.
 * - `"read-only"`: the database was opened read-only, or is on a read-only
 *   file system.
 * - `"not-a-database"`: the file is not a database (of this backend's
 *   kind).
 * - `"corrupt"`: the database file is damaged.
 * - `"disk-full"`: the disk is full.
 * - `"io-error"`: the operating system reported an I/O error.
 * - `"locked"`: another connection kept the database locked for longer than
 *   the backend waits.
 * - `"cannot-open"`: the database cannot be opened, for a reason not found
 *   out (for Postgres: the server cannot be reached, or refused for another
 *   reason).
 *
 * On Postgres, `connect()` reports `"not-found"` for a database that does
 * not exist, `"permission-denied"` for a refused login or a missing
 * privilege, `"read-only"` for a standby, and `"disk-full"`.
 */
export type BackendProblem =
  | "not-found"
  | "is-directory"
  | "permission-denied"
  | "read-only"
  | "not-a-database"
  | "corrupt"
  | "disk-full"
  | "io-error"
  | "locked"
  | "cannot-open";

/** Options of the {@linkcode BackendError} constructor. */
export interface BackendErrorOptions extends OpenWorkflowErrorOptions {
  /**
   * Where the database is: for SQLite, the path (or URI) given to
   * `connect()`; for Postgres, the connection string with its password
   * masked.
   * @default {undefined}
   */
  location?: string;
  /**
   * What is wrong with the database, when known.
   * @default {undefined}
   */
  problem?: BackendProblem;
}

/**
 * A backend could not reach or use its database. `cause` holds the driver's
 * error; `location` and `problem`, when set, say which database and what is
 * wrong with it, so that callers need not parse the message.
 *
 * @example
 * ```ts
 * import { BackendError } from "@openworkflow/core";
 *
 * const error = new BackendError("connect to Postgres", { cause: new Error("ECONNREFUSED") });
 * console.log(error.message); // Backend failed to connect to Postgres: ECONNREFUSED
 * ```
 *
 * @example Branch on the problem
 * ```ts
 * import { BackendError } from "@openworkflow/core";
 *
 * const error: unknown = new BackendError(
 *   'open SQLite database "./data" (it is a directory)',
 *   { location: "./data", problem: "is-directory" },
 * );
 * if (error instanceof BackendError && error.problem === "is-directory") {
 *   console.log(`${error.location} is a directory; pass a file path`);
 * }
 * ```
 */
export class BackendError extends OpenWorkflowError {
  /** The error's name, `"BackendError"`. */
  override name = "BackendError" as const;
  /**
   * Where the database is (for SQLite, the path or URI given to
   * `connect()`; for Postgres, the connection string with its password
   * masked), or `undefined` when not recorded.
   */
  readonly location: string | undefined;
  /** What is wrong with the database, or `undefined` when not known. */
  readonly problem: BackendProblem | undefined;

  /**
   * Creates the error.
   *
   * @param action What the backend was doing, e.g. "connect to Postgres".
   * @param options `cause`: the driver's error; `location` and `problem`.
   */
  constructor(action: string, options?: BackendErrorOptions) {
    super(
      `Backend failed to ${action}${
        options?.cause === undefined ? "" : `: ${messageOf(options.cause)}`
      }`,
      options === undefined || !("cause" in options)
        ? undefined
        : { cause: options.cause },
    );
    this.location = options?.location;
    this.problem = options?.problem;
  }
}

function messageOf(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return String(value);
}

/**
 * A value that cannot be stored as JSON: a function, symbol, `BigInt`, a
 * cyclic reference or nesting deeper than 1,000 levels, in a run's input, a
 * step's output, a workflow's output or a signal's data. A `TypeError`
 * (`instanceof TypeError` holds) whose message names what was being stored
 * and the path of the offending part. Nothing is stored; a step whose
 * output is not JSON fails without a retry, since every attempt would fail
 * alike.
 *
 * @example
 * ```ts
 * import { NotJsonError } from "@openworkflow/core";
 *
 * const error = new NotJsonError("Cannot serialize input: 'total' is a bigint, which is not JSON");
 * console.log(error instanceof TypeError, error.name); // true NotJsonError
 * ```
 */
export class NotJsonError extends TypeError {
  /** The error's name. */
  override name = "NotJsonError" as const;
}
