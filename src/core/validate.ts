/**
 * Argument checks shared by the client, the worker and the backends.
 *
 * @module
 */

import { MAX_TIME_MS, MIN_TIME_MS } from "./duration.ts";
import type { Backend } from "./backend.ts";

/** The longest workflow or step name: 1,024 characters. */
export const MAX_NAME_LENGTH = 1024;

/** Describes a received value for an error message. */
export function received(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") {
    return value.length > 60
      ? `a string of ${value.length} characters`
      : JSON.stringify(value);
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  }
  return typeof value;
}

/**
 * Checks a workflow or step name.
 *
 * @throws {TypeError} for a non-string or empty name.
 * @throws {RangeError} for a name longer than `MAX_NAME_LENGTH`.
 */
export function checkName(
  value: unknown,
  what: string,
  argument: string,
): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must be a non-empty string, received ${
        received(value)
      }`,
    );
  }
  if (value.includes("\u0000") || !isWellFormed(value)) {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must not contain NUL characters or lone surrogates, received ${
        JSON.stringify(value.slice(0, 60))
      }`,
    );
  }
  if (value.length > MAX_NAME_LENGTH) {
    throw new RangeError(
      `Cannot ${what}: '${argument}' must be at most ${MAX_NAME_LENGTH} characters, received ${value.length}`,
    );
  }
  return value;
}

/**
 * Checks an optional `Date` argument.
 *
 * @throws {TypeError} for a non-`Date` or an invalid `Date`.
 */
export function checkDate(
  value: unknown,
  what: string,
  argument: string,
): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must be a valid Date, received ${
        received(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks a `Date` argument that the engine stores (a deadline, a start
 * time, the end of a sleep): a valid `Date` within years 1 to 9999, the
 * times every backend stores.
 *
 * @throws {TypeError} for a non-`Date` or an invalid `Date`.
 * @throws {RangeError} for a time outside years 1 to 9999.
 */
export function checkTime(
  value: unknown,
  what: string,
  argument: string,
): Date {
  const date = checkDate(value, what, argument);
  const ms = date.getTime();
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
    throw new RangeError(
      `Cannot ${what}: '${argument}' must be between 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, received ${
        received(date)
      }`,
    );
  }
  return date;
}

/**
 * Checks a positive integer argument.
 *
 * @throws {RangeError} for anything else.
 */
export function checkPositiveInteger(
  value: unknown,
  what: string,
  argument: string,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot ${what}: '${argument}' must be a positive integer, received ${
        received(value)
      }`,
    );
  }
  return value;
}

/**
 * The longest interval a setting may have: the longest `setTimeout` delay,
 * 2^31 - 1 ms (about 24.8 days). Longer ones would fire at once.
 */
export const MAX_INTERVAL_MS = 2_147_483_647;

/**
 * Checks a positive number of milliseconds that a timer waits for (a lease,
 * a poll interval, a timeout): at most {@linkcode MAX_INTERVAL_MS}.
 *
 * @throws {RangeError} for anything else.
 */
export function checkPositiveMs(
  value: unknown,
  what: string,
  argument: string,
): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value <= 0 ||
    value > MAX_INTERVAL_MS
  ) {
    throw new RangeError(
      `Cannot ${what}: '${argument}' must be a positive number of milliseconds, at most ${MAX_INTERVAL_MS} (about 24.8 days), received ${
        received(value)
      }`,
    );
  }
  return value;
}

/** Whether `text` is well-formed UTF-16 (no lone surrogates). */
export function isWellFormed(text: string): boolean {
  return !/\p{Surrogate}/u.test(text);
}

/**
 * Checks an optional options object: `undefined` becomes `{}`.
 *
 * @throws {TypeError} for anything but a plain object or `undefined`.
 */
export function checkOptions<T extends object>(
  value: T | undefined,
  what: string,
  argument = "options",
): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must be an object, received ${
        Array.isArray(value) ? "an array" : received(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks an optional `AbortSignal` argument.
 *
 * @throws {TypeError} for anything but an `AbortSignal` or `undefined`.
 */
export function checkSignal(
  value: unknown,
  what: string,
  argument = "signal",
): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new TypeError(
    `Cannot ${what}: '${argument}' must be an AbortSignal, received ${
      received(value)
    }`,
  );
}

/** The names of the methods a `Backend` may leave out. */
type OptionalMethod = {
  [K in keyof Backend]-?: undefined extends Backend[K] ? K : never;
}[keyof Backend];

/**
 * An optional method of `backend`, bound to it.
 *
 * @throws {TypeError} naming what could not be done and the method, when
 * the backend does not implement it.
 */
export function backendMethod<K extends OptionalMethod>(
  backend: Backend,
  name: K,
  what: string,
): NonNullable<Backend[K]> {
  const method = backend[name];
  if (typeof method !== "function") {
    throw new TypeError(
      `Cannot ${what}: the backend does not implement ${name}()`,
    );
  }
  return (method as (...args: unknown[]) => unknown).bind(
    backend,
  ) as NonNullable<Backend[K]>;
}
