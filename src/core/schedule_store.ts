/**
 * What the client and the workers do with schedules through a backend:
 * create (or, for a workflow that declares one, upsert), pause and resume,
 * trigger. Workers fire them (`worker/scheduler.ts`).
 *
 * @module
 */

import type { Backend, WorkflowRun } from "./backend.ts";
import { CronSchedule } from "./cron.ts";
import { ScheduleExistsError, ScheduleNotFoundError } from "./errors.ts";
import { encodeJson } from "./json.ts";
import { checkPayloadSize } from "./limits.ts";
import type { CreateWorkflowRunParams } from "./backend_params.ts";
import type { Schedule, ScheduleCatchUp } from "./schedules.ts";
import { backendMethod, checkName, received } from "./validate.ts";
import type { ScheduleConfig } from "./workflow.ts";
import { notifyAvailable } from "./wakeups.ts";

/** Options of {@linkcode OpenWorkflow.createSchedule}. */
export interface CreateScheduleOptions {
  /** The schedule's id, unique in the namespace. */
  id: string;
  /** The workflow each run is of: its definition, or its name. */
  workflow: string | { readonly name: string; readonly version: string | null };
  /**
   * A cron expression: 5 fields, or 6 with seconds first; or a nickname
   * such as `@hourly` or `@daily`.
   */
  cron: string;
  /**
   * The IANA time zone the expression is read in; daylight-saving changes
   * are handled (a time the change skips fires once, an hour later; a time
   * it repeats fires once).
   * @default {"UTC"}
   */
  timezone?: string;
  /**
   * The input of every run: a JSON value.
   * @default {null}
   */
  input?: unknown;
  /**
   * What to do with the slots missed while no worker ran.
   * @default {"latest"}
   */
  catchUp?: ScheduleCatchUp;
}

const CATCH_UPS: readonly ScheduleCatchUp[] = ["latest", "none", "all"];

function checkCatchUp(value: unknown, what: string): ScheduleCatchUp {
  const catchUp = value ?? "latest";
  if (!CATCH_UPS.includes(catchUp as ScheduleCatchUp)) {
    throw new TypeError(
      `Cannot ${what}: 'catchUp' must be one of ${
        CATCH_UPS.join(", ")
      }, received ${received(value)}`,
    );
  }
  return catchUp as ScheduleCatchUp;
}

type ScheduleMethods = Required<
  Pick<
    Backend,
    | "createSchedule"
    | "getSchedule"
    | "listSchedules"
    | "updateSchedule"
    | "deleteSchedule"
    | "listDueSchedules"
    | "fireSchedule"
  >
>;

/** The backend's schedule methods, or a `TypeError` saying they are missing. */
export function scheduleMethods(
  backend: Backend,
  what: string,
): ScheduleMethods {
  const names = [
    "createSchedule",
    "getSchedule",
    "listSchedules",
    "updateSchedule",
    "deleteSchedule",
    "listDueSchedules",
    "fireSchedule",
  ] as const;
  const methods: Partial<Record<keyof ScheduleMethods, unknown>> = {};
  for (const name of names) methods[name] = backendMethod(backend, name, what);
  return methods as ScheduleMethods;
}

/** The backend's clock (the machine's when it has none). */
export async function backendNow(backend: Backend): Promise<Date> {
  return backend.now === undefined ? new Date() : await backend.now();
}

/**
 * Checks and stores a schedule; tells this process's workers when it is
 * due.
 *
 * @throws {ScheduleExistsError} for a taken id when `ifExists` is `"fail"`.
 */
export async function createSchedule(
  backend: Backend,
  options: CreateScheduleOptions,
  maxPayloadBytes: number,
  ifExists: "fail" | "update",
): Promise<Schedule> {
  const what = "create schedule";
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'options' must be an object, received ${
        received(options)
      }`,
    );
  }
  const methods = scheduleMethods(backend, what);
  const id = checkName(options.id, what, "id");
  const workflow = typeof options.workflow === "string"
    ? { name: options.workflow, version: null }
    : options.workflow;
  if (workflow === null || typeof workflow !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'workflow' must be a workflow definition or name, received ${
        received(options.workflow)
      }`,
    );
  }
  const workflowName = checkName(workflow.name, what, "workflow");
  const timezone = options.timezone ?? "UTC";
  const cron = new CronSchedule(options.cron, timezone, what);
  const catchUp = checkCatchUp(options.catchUp, what);
  const subject = `input of schedule '${id}'`;
  const { text, value: input } = encodeJson(options.input ?? null, subject);
  checkPayloadSize(text, subject, maxPayloadBytes);
  const nextRunAt = cron.next(await backendNow(backend)) ?? MAX_DATE;
  const { schedule, created } = await methods.createSchedule({
    id,
    workflowName,
    version: workflow.version ?? null,
    cron: options.cron,
    timezone,
    input,
    catchUp,
    nextRunAt,
    ifExists,
  });
  if (!created && ifExists === "fail") throw new ScheduleExistsError(id);
  notifyAvailable(backend, schedule.nextRunAt);
  return schedule;
}

/** When a schedule has no slot left. */
const MAX_DATE = new Date(253_402_300_799_999);

/**
 * Pauses or resumes a schedule; a resumed one fires from its next slot
 * after now (the slots missed while paused are not fired).
 *
 * @throws {ScheduleNotFoundError} for an unknown id.
 */
export async function setPaused(
  backend: Backend,
  idValue: string,
  paused: boolean,
): Promise<Schedule> {
  const what = paused ? "pause schedule" : "resume schedule";
  const methods = scheduleMethods(backend, what);
  const id = checkName(idValue, what, "id");
  let nextRunAt: Date | undefined;
  if (!paused) {
    const current = await methods.getSchedule({ id });
    if (current === null) throw new ScheduleNotFoundError(id);
    nextRunAt = new CronSchedule(current.cron, current.timezone, what).next(
      await backendNow(backend),
    ) ?? MAX_DATE;
  }
  const schedule = await methods.updateSchedule({ id, paused, nextRunAt });
  if (schedule === null) throw new ScheduleNotFoundError(id);
  if (!paused) notifyAvailable(backend, schedule.nextRunAt);
  return schedule;
}

/**
 * Starts one run of a schedule now, outside its slots.
 *
 * @throws {ScheduleNotFoundError} for an unknown id.
 */
export async function triggerSchedule(
  backend: Backend,
  idValue: string,
): Promise<WorkflowRun> {
  const what = "trigger schedule";
  const methods = scheduleMethods(backend, what);
  const id = checkName(idValue, what, "id");
  const schedule = await methods.getSchedule({ id });
  if (schedule === null) throw new ScheduleNotFoundError(id);
  const run = await backend.createWorkflowRun(
    scheduledRunParams(schedule, null),
  );
  notifyAvailable(backend);
  return run;
}

/**
 * Checks a schedule declared with a workflow; returns it with the defaults
 * filled in.
 *
 * @throws {TypeError|RangeError} as `createSchedule()` does.
 */
export function checkScheduleConfig(
  config: ScheduleConfig,
  what: string,
): Required<ScheduleConfig> {
  if (config === null || typeof config !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'schedule' must be an object with a 'cron', received ${
        received(config)
      }`,
    );
  }
  const timezone = config.timezone ?? "UTC";
  new CronSchedule(config.cron, timezone, what);
  const catchUp = checkCatchUp(config.catchUp, what);
  encodeJson(config.input ?? null, `input of the schedule of ${what}`);
  return { cron: config.cron, timezone, catchUp, input: config.input ?? null };
}

/** The run a schedule starts for `slot` (`null`: triggered by hand). */
export function scheduledRunParams(
  schedule: Schedule,
  slot: Date | null,
): CreateWorkflowRunParams {
  return {
    workflowName: schedule.workflowName,
    version: schedule.version,
    config: {},
    context: {
      scheduleId: schedule.id,
      slot: slot === null ? null : slot.toISOString(),
    },
    input: schedule.input,
    availableAt: null,
    deadlineAt: null,
    // One run per schedule and slot, whoever fires it.
    idempotencyKey: slot === null
      ? null
      : `openworkflow:schedule:${schedule.id}:${slot.toISOString()}`,
  };
}
