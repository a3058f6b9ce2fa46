/**
 * Durations: milliseconds or strings such as `"500ms"`, `"30s"`, `"5m"`,
 * `"2h"`, `"1d"`, `"1w"`, or combinations such as `"1h30m"`.
 *
 * @module
 */

/**
 * A duration: a non-negative finite number of milliseconds, or a string of
 * one or more `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d`, `w`
 * (e.g. `"1.5s"`, `"5m"`, `"1h30m"`).
 *
 * @example
 * ```ts
 * import type { Duration } from "@openworkflow/core";
 *
 * const nap: Duration = "5m";
 * const quick: Duration = 250;
 * console.log(nap, quick);
 * ```
 */
export type Duration = number | string;

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
 * @throws {RangeError} for a negative, `NaN` or infinite number.
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
    return duration;
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
  return total;
}
