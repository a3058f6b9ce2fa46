/**
 * How `BackendPostgres` reports a failed or unanswered call: as a
 * `BackendError` naming what failed.
 *
 * @module
 */

import { BackendError, OpenWorkflowError } from "../core/errors.ts";

/**
 * How long a batch of calls may wait for the database before they reject
 * with `BackendError`: a connection lost without the driver noticing must
 * not hold a worker for good.
 */
export const CALL_TIMEOUT_MS = 20_000;

/** The error of a batch the database did not answer in time. */
export function unanswered(action: string): BackendError {
  return new BackendError(
    `${action}: the database did not answer within ${CALL_TIMEOUT_MS} ms`,
  );
}

/**
 * Turns a driver error into a `BackendError` naming what failed; errors of
 * this library (a lost lease) pass through.
 */
export async function guard<T>(action: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof OpenWorkflowError || error instanceof TypeError) {
      throw error;
    }
    throw new BackendError(action, { cause: error });
  }
}
