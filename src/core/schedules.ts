/**
 * Schedules: the record a backend stores for a cron schedule, and the
 * parameters of the `Backend` methods that keep them. A schedule fires one
 * run per slot, however many workers run: a worker that finds it due moves
 * its `nextRunAt` on with a compare-and-set, and creates the slot's runs
 * in the same write, each under an idempotency key of the schedule and
 * slot.
 *
 * @module
 */

import type { CreateWorkflowRunParams } from "./backend_params.ts";
import type { JsonValue } from "./json.ts";
import type { WorkflowRun } from "./records.ts";

/**
 * What a schedule does with the slots it missed while no worker ran (or
 * while they were late): `"latest"` fires the most recent one once,
 * `"none"` fires none (only a slot at most a minute late), `"all"` fires
 * each, oldest first (at most 100).
 */
export type ScheduleCatchUp = "latest" | "none" | "all";

/** A cron schedule, as a backend stores it. */
export interface Schedule {
  /** Unique in the namespace. */
  id: string;
  /** The workflow each run is of. */
  workflowName: string;
  /** The workflow version each run is of, or `null`. */
  version: string | null;
  /** The cron expression. */
  cron: string;
  /** The IANA time zone the expression is read in. */
  timezone: string;
  /** The input of every run, or `null`. */
  input: JsonValue | null;
  /** What to do with missed slots. */
  catchUp: ScheduleCatchUp;
  /** Whether the schedule is paused: no runs while it is. */
  paused: boolean;
  /** The next slot to fire. */
  nextRunAt: Date;
  /** The last slot fired, or `null`. */
  lastRunAt: Date | null;
  /** When the schedule was created (backend clock). */
  createdAt: Date;
  /** When the record last changed (backend clock). */
  updatedAt: Date;
}

/** Parameters of `Backend.createSchedule`. */
export interface CreateScheduleParams {
  /** The schedule's id. */
  id: string;
  /** The workflow each run is of. */
  workflowName: string;
  /** The workflow version, or `null`. */
  version: string | null;
  /** The cron expression (checked by the engine). */
  cron: string;
  /** The IANA time zone (checked by the engine). */
  timezone: string;
  /** The input of every run. */
  input: JsonValue | null;
  /** What to do with missed slots. */
  catchUp: ScheduleCatchUp;
  /** The first slot, as the engine computed it from the backend's clock. */
  nextRunAt: Date;
  /**
   * When a schedule has the id: `"fail"` changes nothing (the result says
   * it existed); `"update"` replaces its workflow, expression, zone, input
   * and catch-up, keeps `paused` and `lastRunAt`, and takes `nextRunAt`
   * only when the expression or zone changed.
   */
  ifExists: "fail" | "update";
}

/** What `Backend.createSchedule` did. */
export interface CreateScheduleResult {
  /** The schedule as stored now. */
  schedule: Schedule;
  /** Whether it was created (`false`: it existed). */
  created: boolean;
}

/** Parameters of `Backend.updateSchedule`. */
export interface UpdateScheduleParams {
  /** The schedule's id. */
  id: string;
  /** Pause or resume it. */
  paused: boolean;
  /**
   * The next slot (given when resuming: the first after now).
   * @default {undefined} (unchanged)
   */
  nextRunAt?: Date;
}

/** Parameters of `Backend.listDueSchedules`. */
export interface ListDueSchedulesParams {
  /** The most schedules to return. */
  limit: number;
}

/** What `Backend.listDueSchedules` returns. */
export interface DueSchedules {
  /** Unpaused schedules whose `nextRunAt` has come, earliest first. */
  schedules: Schedule[];
  /** The backend's clock when it read them. */
  now: Date;
  /** The earliest `nextRunAt` still to come among unpaused schedules. */
  nextDueAt: Date | null;
}

/** Parameters of `Backend.fireSchedule`. */
export interface FireScheduleParams {
  /** The schedule's id. */
  id: string;
  /** Its `nextRunAt` as the caller read it (the compare-and-set). */
  expectedNextRunAt: Date;
  /** Its new `nextRunAt`. */
  nextRunAt: Date;
  /** Its new `lastRunAt`, or `null` to keep it. */
  lastRunAt: Date | null;
  /** The runs to create, each with its idempotency key. */
  runs: CreateWorkflowRunParams[];
}

/** What `Backend.fireSchedule` did: the runs, or `null` if it lost. */
export type FireScheduleResult = WorkflowRun[] | null;
