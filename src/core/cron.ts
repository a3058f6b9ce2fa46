/**
 * Cron expressions, parsed and evaluated by croner (5 fields, or 6 with
 * seconds first; `@hourly`, `@daily`, ... nicknames; IANA time zones, with
 * daylight-saving changes handled): the slots of a schedule, and which of
 * them are due after downtime.
 *
 * @module
 */

import { Cron } from "croner";
import type { ScheduleCatchUp } from "./schedules.ts";

/** The most missed slots `catchUp: "all"` fires at once. */
export const MAX_CATCH_UP_SLOTS = 100;

/** How late a slot may fire with `catchUp: "none"`: one minute. */
export const NONE_CATCH_UP_GRACE_MS = 60_000;

/** A parsed cron expression in a time zone. */
export class CronSchedule {
  readonly #cron: Cron;

  /**
   * Parses `expression` for `timezone`.
   *
   * @throws {TypeError} quoting an invalid expression.
   * @throws {RangeError} naming an unknown time zone.
   */
  constructor(expression: string, timezone: string, what: string) {
    if (typeof expression !== "string" || expression.trim() === "") {
      throw new TypeError(
        `Cannot ${what}: 'cron' must be a cron expression, received ${
          JSON.stringify(expression)
        }`,
      );
    }
    checkTimezone(timezone, what);
    try {
      this.#cron = new Cron(expression, { timezone, paused: true });
      // Some mistakes (an impossible day, say) only show on evaluation.
      this.#cron.nextRun(new Date(0));
    } catch (error) {
      throw new TypeError(
        `Cannot ${what}: 'cron' ${
          JSON.stringify(expression)
        } is not a valid cron expression: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** The first slot strictly after `after`, or `null` when none is left. */
  next(after: Date): Date | null {
    return this.#cron.nextRun(after);
  }

  /**
   * The slots to fire when the schedule is due at `now`: its slots from
   * `from` (included) to `now` (included), thinned by `catchUp`, and the
   * slot after `now` that comes next.
   */
  due(
    from: Date,
    now: Date,
    catchUp: ScheduleCatchUp,
  ): { fire: Date[]; next: Date | null } {
    const slots: Date[] = [];
    let slot = this.next(new Date(from.getTime() - 1));
    while (slot !== null && slot.getTime() <= now.getTime()) {
      slots.push(slot);
      if (slots.length > MAX_CATCH_UP_SLOTS) slots.shift();
      slot = this.next(slot);
    }
    const last = slots.at(-1);
    const fire = catchUp === "all"
      ? slots
      : last === undefined
      ? []
      : catchUp === "latest" ||
          now.getTime() - last.getTime() <= NONE_CATCH_UP_GRACE_MS
      ? [last]
      : [];
    return { fire, next: slot };
  }
}

/**
 * Checks an IANA time zone name.
 *
 * @throws {RangeError} naming an unknown zone.
 */
export function checkTimezone(timezone: unknown, what: string): string {
  if (typeof timezone !== "string" || timezone === "") {
    throw new TypeError(
      `Cannot ${what}: 'timezone' must be an IANA time zone name, received ${
        JSON.stringify(timezone) ?? String(timezone)
      }`,
    );
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new RangeError(
      `Cannot ${what}: 'timezone' ${
        JSON.stringify(timezone)
      } is not a known IANA time zone`,
    );
  }
  return timezone;
}
