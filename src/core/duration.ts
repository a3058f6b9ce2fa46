/**
 * Durations: milliseconds or strings such as `"500ms"`, `"30s"`, `"5m"`,
 * `"2h"`, `"1d"`, `"1w"`, or combinations such as `"1h30m"`; and the range
 * of times the engine stores.
 *
 * @module
 */

/**
 * A duration: a non-negative number of milliseconds, or a string of one or
 * more `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d`, `w`
 * (e.g. `"1.5s"`, `"5m"`, `"1h30m"`); at most
 * {@linkcode MAX_DURATION_MS} (100 years) either way.
 */
export type Duration = number | string;

/**
 * The longest duration accepted anywhere (a sleep, a delayed start, a step
 * timeout, a retry interval): 100 years of 365.25 days, in milliseconds.
 * Any time the engine computes from one (now plus the duration) stays well
 * within the times every backend stores (years 1 to 9999).
 */
export const MAX_DURATION_MS = 3_155_760_000_000;

/**
 * The earliest time stored: 0001-01-01T00:00:00.000Z, in epoch
 * milliseconds. Postgres `timestamptz`, ISO strings and `Date` all hold
 * every time from this one to {@linkcode MAX_TIME_MS}.
 */
export const MIN_TIME_MS = -62_135_596_800_000;

/** The latest time stored: 9999-12-31T23:59:59.999Z, in epoch milliseconds. */
export const MAX_TIME_MS = 253_402_300_799_999;

/**
 * Brings a time the engine computed (when a retry or a sleep is due) into
 * the range every backend stores, so that storing it cannot fail.
 */
export function clampTime(ms: number): number {
  if (Number.isNaN(ms)) return MAX_TIME_MS;
  return Math.min(Math.max(ms, MIN_TIME_MS), MAX_TIME_MS);
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)/y;

/**
 * Converts a {@linkcode Duration} to milliseconds.
 *
 * @param duration The duration.
 * @param argument How the caller names the argument in errors.
 * @returns The duration in milliseconds.
 * @throws {RangeError} for a negative, `NaN` or infinite number, or a
 * duration over {@linkcode MAX_DURATION_MS}.
 * @throws {TypeError} for a string that is not a duration, or another type.
 *
 * @example
 * ```ts
 * import { parseDuration } from "@openworkflow/core";
 *
 * console.log(parseDuration("1h30m")); // 5400000
 * console.log(parseDuration(250)); // 250
 * ```
 */
export function parseDuration(
  duration: Duration,
  argument = "duration",
): number {
  if (typeof duration === "number") {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new RangeError(
        `Invalid ${argument}: must be a finite, non-negative number of milliseconds, received ${duration}`,
      );
    }
    return checkMaxDuration(duration, argument, String(duration));
  }
  if (typeof duration !== "string") {
    throw new TypeError(
      `Invalid ${argument}: must be a number of milliseconds or a string like "5m", received ${typeof duration}`,
    );
  }
  const text = duration.trim();
  let total = 0;
  let index = 0;
  PART.lastIndex = 0;
  while (index < text.length) {
    PART.lastIndex = index;
    const match = PART.exec(text);
    if (match === null) break;
    total += Number(match[1]) * UNIT_MS[match[2]];
    index = PART.lastIndex;
    while (text[index] === " ") index++;
  }
  if (text.length === 0 || index !== text.length) {
    throw new TypeError(
      `Invalid ${argument}: cannot parse ${
        JSON.stringify(duration)
      } as a duration; use milliseconds or a string like "500ms", "30s", "5m", "2h", "1d", "1h30m"`,
    );
  }
  const shown = duration.length > 60
    ? `a string of ${duration.length} characters`
    : JSON.stringify(duration);
  return checkMaxDuration(total, argument, `${shown} (${total} ms)`);
}

function checkMaxDuration(ms: number, argument: string, shown: string): number {
  if (ms > MAX_DURATION_MS) {
    throw new RangeError(
      `Invalid ${argument}: must be at most 100 years (${MAX_DURATION_MS} ms), received ${shown}`,
    );
  }
  return ms;
}
