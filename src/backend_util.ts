/**
 * Helpers shared by the backend implementations.
 *
 * @module
 */

import { DEFAULT_NAMESPACE_ID } from "./constants.ts";
import { isWellFormed, received } from "./validate.ts";

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

/** A position in a newest-first listing. */
export interface Cursor {
  /** The last row's creation time, as the database wrote it. */
  createdAt: string;
  /** The last row's id. */
  id: string;
}

/** Encodes a listing position as an opaque string. */
export function encodeCursor(createdAt: string, id: string): string {
  return btoa(JSON.stringify([createdAt, id]))
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * Decodes a cursor made by `encodeCursor`.
 *
 * @throws {TypeError} for anything else.
 */
export function decodeCursor(cursor: string): Cursor {
  try {
    const base64 = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const value = JSON.parse(atob(base64));
    if (
      Array.isArray(value) && value.length === 2 &&
      typeof value[0] === "string" && /^\d{4}-\d{2}-\d{2}/.test(value[0]) &&
      typeof value[1] === "string" && /^[0-9a-f-]{36}$/i.test(value[1])
    ) {
      return { createdAt: value[0], id: value[1] };
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
