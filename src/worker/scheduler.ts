/**
 * A worker's part in firing cron schedules: when a schedule is due by the
 * backend's clock, the worker computes its slots and fires it with one
 * compare-and-set write that creates the slots' runs (`Backend.fireSchedule`).
 * However many workers find it due at once, one fires it; idempotency keys
 * of the schedule and slot make each slot's run unique besides.
 *
 * No timer runs per schedule: the worker reads the next due time of all of
 * them with each check, and its idle wait wakes it then; a notification
 * that a schedule was created or resumed wakes it too, and a check every
 * few seconds covers schedules created where no notification reaches.
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { CronSchedule } from "../core/cron.ts";
import { MAX_TIME_MS } from "../core/duration.ts";
import { scheduledRunParams } from "../core/schedule_store.ts";
import { type FlowControl, flowParams } from "../core/flow_control.ts";
import { isListening, notifyAvailable } from "../core/wakeups.ts";
import type { IdleWait } from "./idle_wait.ts";

/**
 * The longest a worker goes without looking for due schedules: 5 s while
 * the backend's notifications tell it of new schedules, 1 s otherwise
 * (SQLite in another process, or Postgres with `listen: false`).
 */
export const SCHEDULE_CHECK_INTERVAL_MS = 5_000;
const UNLISTENED_CHECK_INTERVAL_MS = 1_000;

/** The shortest time between two checks not forced by a due time. */
const MIN_CHECK_INTERVAL_MS = 100;

/** How many due schedules one check fires at most. */
const DUE_BATCH = 100;

/** The flow control of a workflow by name and version, if known. */
type FlowOf = (
  name: string,
  version: string | null,
) => FlowControl | undefined;

/** Fires the due schedules of one worker's backend. */
export class Scheduler {
  readonly #backend: Backend;
  readonly #idle: IdleWait;
  #nextCheckMs = 0;
  #lastCheckMs = -Infinity;
  readonly #crons = new Map<string, CronSchedule>();

  readonly #flowOf: FlowOf;

  /**
   * @param flowOf The flow control of a workflow this worker has, which
   * the runs of its schedules keep to.
   */
  constructor(
    backend: Backend,
    idle: IdleWait,
    flowOf: FlowOf = () => undefined,
  ) {
    this.#backend = backend;
    this.#idle = idle;
    this.#flowOf = flowOf;
  }

  /** Whether the backend stores schedules at all. */
  get #supported(): boolean {
    return this.#backend.listDueSchedules !== undefined &&
      this.#backend.fireSchedule !== undefined;
  }

  /** A schedule may be due at `atMs` (local clock): look then. */
  noteDue(atMs: number): void {
    this.#nextCheckMs = Math.min(this.#nextCheckMs, atMs);
  }

  /**
   * Fires the due schedules, when a check is due (or `force`d).
   *
   * @returns How many runs it started.
   */
  async fireDue(force = false): Promise<number> {
    const nowMs = Date.now();
    if (!this.#supported) return 0;
    if (
      !force && (nowMs < this.#nextCheckMs ||
        nowMs - this.#lastCheckMs < MIN_CHECK_INTERVAL_MS)
    ) {
      // Due, but checked a moment ago: check once the minimum has passed.
      if (nowMs >= this.#nextCheckMs) {
        this.#idle.addDueTime(this.#lastCheckMs + MIN_CHECK_INTERVAL_MS, true);
      }
      return 0;
    }
    this.#lastCheckMs = nowMs;
    this.#nextCheckMs = nowMs +
      (isListening(this.#backend)
        ? SCHEDULE_CHECK_INTERVAL_MS
        : UNLISTENED_CHECK_INTERVAL_MS);
    const backend = this.#backend;
    const due = await backend.listDueSchedules!({ limit: DUE_BATCH });
    const offsetMs = due.now.getTime() - Date.now();
    let started = 0;
    const failures: unknown[] = [];
    for (const schedule of due.schedules) {
      try {
        const cron = this.#cronOf(schedule.cron, schedule.timezone);
        const { fire, next } = cron.due(
          schedule.nextRunAt,
          due.now,
          schedule.catchUp,
        );
        const nextRunAt = next ?? new Date(MAX_TIME_MS);
        const runs = await backend.fireSchedule!({
          id: schedule.id,
          expectedNextRunAt: schedule.nextRunAt,
          nextRunAt,
          lastRunAt: fire.at(-1) ?? null,
          runs: fire.map((slot) => ({
            ...scheduledRunParams(schedule, slot),
            ...flowParams(
              this.#flowOf(schedule.workflowName, schedule.version),
              schedule.input,
              undefined,
              `fire schedule '${schedule.id}'`,
            ),
          })),
        });
        if (runs !== null) started += runs.length;
        this.noteDue(nextRunAt.getTime() - offsetMs);
      } catch (error) {
        // One broken schedule does not hold the others back.
        failures.push(error);
      }
    }
    if (started > 0) notifyAvailable(backend);
    if (failures.length > 0) {
      this.#idle.addDueTime(this.#nextCheckMs, true);
      throw failures.length === 1
        ? failures[0]
        : new AggregateError(failures, "Cannot fire schedules");
    }
    if (due.schedules.length === DUE_BATCH) this.#nextCheckMs = 0;
    else if (due.nextDueAt !== null) {
      this.noteDue(due.nextDueAt.getTime() - offsetMs);
    }
    this.#idle.addDueTime(this.#nextCheckMs, true);
    return started;
  }

  #cronOf(expression: string, timezone: string): CronSchedule {
    const key = JSON.stringify([expression, timezone]);
    let cron = this.#crons.get(key);
    if (cron === undefined) {
      cron = new CronSchedule(expression, timezone, "fire schedule");
      this.#crons.set(key, cron);
    }
    return cron;
  }
}
