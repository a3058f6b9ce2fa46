/**
 * Helpers shared by the backend implementations.
 *
 * @module
 */

import type {
  CreateWorkflowRunParams,
  ReleaseWorkflowRunParams,
} from "../core/backend.ts";
import { DEFAULT_NAMESPACE_ID } from "../core/defaults.ts";
import { MAX_DURATION_MS } from "../core/duration.ts";
import { checkTime, isWellFormed, received } from "../core/validate.ts";

/** The longest namespace id: 255 characters. */
export const MAX_NAMESPACE_ID_LENGTH = 255;

/**
 * Checks a namespace id option, defaulting to `DEFAULT_NAMESPACE_ID`.
 *
 * @throws {TypeError} for a non-string, empty or ill-formed id.
 * @throws {RangeError} for an id over `MAX_NAMESPACE_ID_LENGTH`.
 */
export function checkNamespaceId(value: unknown, what: string): string {
  if (value === undefined) return DEFAULT_NAMESPACE_ID;
  if (
    typeof value !== "string" || value.length === 0 ||
    value.includes("\u0000") || !isWellFormed(value)
  ) {
    throw new TypeError(
      `Cannot ${what}: 'namespaceId' must be a non-empty string without NUL characters or lone surrogates, received ${
        received(value)
      }`,
    );
  }
  if (value.length > MAX_NAMESPACE_ID_LENGTH) {
    throw new RangeError(
      `Cannot ${what}: 'namespaceId' must be at most ${MAX_NAMESPACE_ID_LENGTH} characters, received ${value.length}`,
    );
  }
  return value;
}

/**
 * Checks the times a run is created with: dates within years 1 to 9999
 * (what every backend stores), a delay of 0 to `MAX_DURATION_MS`. Checked
 * before the write is queued, so that a bad value fails its own call only.
 *
 * @throws {TypeError|RangeError} naming the parameter and the value.
 */
export function checkCreateRunTimes(params: CreateWorkflowRunParams): void {
  const what = "create workflow run";
  if (params.availableAt != null) {
    checkTime(params.availableAt, what, "availableAt");
  }
  if (params.deadlineAt != null) {
    checkTime(params.deadlineAt, what, "deadlineAt");
  }
  const afterMs = params.availableAfterMs;
  if (
    afterMs !== undefined &&
    !(typeof afterMs === "number" && afterMs >= 0 &&
      afterMs <= MAX_DURATION_MS)
  ) {
    throw new RangeError(
      `Cannot ${what}: 'availableAfterMs' must be a number of milliseconds from 0 to ${MAX_DURATION_MS}, received ${
        received(afterMs)
      }`,
    );
  }
}

/**
 * Checks the time a run is released until (years 1 to 9999).
 *
 * @throws {TypeError|RangeError} naming the parameter and the value.
 */
export function checkReleaseTime(params: ReleaseWorkflowRunParams): void {
  if (params.availableAt != null) {
    checkTime(params.availableAt, "release workflow run", "availableAt");
  }
}

/** A position in a newest-first listing. */
export interface Cursor {
  /**
   * The last row's creation time, in UTC, as
   * `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (up to microseconds, as Postgres keeps
   * it).
   */
  createdAt: string;
  /** The same time in epoch milliseconds (microseconds cut off). */
  createdAtMs: number;
  /** The last row's id. */
  id: string;
}

/** Encodes a listing position as an opaque string. */
export function encodeCursor(createdAt: string, id: string): string {
  return btoa(JSON.stringify([createdAt, id]))
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

const CURSOR_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The epoch milliseconds of a cursor time, or `null` when it is not one:
 * every field must be in range (no February 30th, no hour 24), so that
 * every backend refuses the same cursors.
 */
function cursorTimeMs(text: string): number | null {
  const match = CURSOR_TIME.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(
    Number,
  );
  if (year < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (
    date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day
  ) {
    return null;
  }
  const milliseconds = Number((match[7] ?? "").padEnd(3, "0").slice(0, 3));
  return date.setUTCHours(hour, minute, second, milliseconds);
}

/**
 * Decodes a cursor made by `encodeCursor`.
 *
 * @throws {TypeError} for anything else, a cursor whose time or id is
 * malformed included.
 */
export function decodeCursor(cursor: string): Cursor {
  try {
    const base64 = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const value = JSON.parse(atob(base64));
    if (
      Array.isArray(value) && value.length === 2 &&
      typeof value[0] === "string" && typeof value[1] === "string" &&
      UUID.test(value[1])
    ) {
      const createdAtMs = cursorTimeMs(value[0]);
      if (createdAtMs !== null) {
        return { createdAt: value[0], createdAtMs, id: value[1] };
      }
    }
  } catch {
    // Reported below.
  }
  throw new TypeError(
    `Cannot list runs: 'cursor' is not a cursor returned by a listing, received ${
      received(cursor)
    }`,
  );
}
