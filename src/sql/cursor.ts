/**
 * Listing pages: the opaque cursor of a newest-first listing (the last
 * row's creation time and id), and the slicing of a page out of the rows a
 * backend read (one more than the limit, to know whether a next page
 * exists).
 *
 * @module
 */

import type { WorkflowRun, WorkflowRunPage } from "../core/backend.ts";
import { received } from "../core/validate.ts";
import { isUuid } from "./checks.ts";

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
      isUuid(value[1])
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

/**
 * The page of `rows`, read with a limit of `limit + 1`: at most `limit`
 * runs, and a cursor to the next page when there is one.
 *
 * @param cursorOf the creation time (UTC, as `encodeCursor` takes it) and id
 * of a row.
 */
export function toPage<R>(
  rows: R[],
  limit: number,
  toRun: (row: R) => WorkflowRun,
  cursorOf: (row: R) => [createdAt: string, id: string],
): WorkflowRunPage {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    runs: page.map(toRun),
    nextCursor: rows.length > limit && last !== undefined
      ? encodeCursor(...cursorOf(last))
      : null,
  };
}
