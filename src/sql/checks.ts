/**
 * The argument checks both SQL backends make before they write: namespace
 * ids, the times a run is created or released with, and ids (every id the
 * backends make is a UUID).
 *
 * @module
 */

import type {
  CreateWorkflowRunParams,
  DeleteWorkflowRunsParams,
  ForkWorkflowRunParams,
  MaintenanceLockParams,
  MarkWorkflowRunSucceededWithStepsParams,
  ReleaseWorkflowRunParams,
  StepAttemptResult,
} from "../core/backend.ts";
import { TERMINAL_STATUSES } from "../core/backend.ts";
import { DEFAULT_NAMESPACE_ID } from "../core/defaults.ts";
import { MAX_DURATION_MS } from "../core/duration.ts";
import {
  checkName,
  checkTime,
  isWellFormed,
  received,
} from "../core/validate.ts";

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
 * Checks the parameters a run is created with: dates within years 1 to
 * 9999 (what every backend stores), a delay of 0 to `MAX_DURATION_MS`, a
 * parent id that is a UUID (stored in lower case, as every id). Checked
 * before the write is queued, so that a bad value fails its own call only.
 *
 * @returns The parameters, the parent id normalized.
 * @throws {TypeError|RangeError} naming the parameter and the value.
 */
export function checkCreateRunParams(
  params: CreateWorkflowRunParams,
): CreateWorkflowRunParams {
  const what = "create workflow run";
  const parentId = params.parentWorkflowRunId;
  if (parentId != null && !isUuid(parentId)) {
    throw new TypeError(
      `Cannot ${what}: 'parentWorkflowRunId' must be the id of a run, received ${
        received(parentId)
      }`,
    );
  }
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
  for (
    const [key, limit] of [
      ["concurrencyKey", "concurrencyLimit"],
      ["rateLimitKey", "rateLimit"],
    ] as const
  ) {
    if (params[key] == null) continue;
    const value = params[limit];
    if (!(Number.isInteger(value) && (value as number) > 0)) {
      throw new TypeError(
        `Cannot ${what}: '${limit}' must be a positive integer with '${key}', received ${
          received(value)
        }`,
      );
    }
  }
  if (
    params.rateLimitKey != null &&
    !(Number.isInteger(params.rateLimitPeriodMs) &&
      (params.rateLimitPeriodMs as number) > 0)
  ) {
    throw new TypeError(
      `Cannot ${what}: 'rateLimitPeriodMs' must be a positive integer with 'rateLimitKey', received ${
        received(params.rateLimitPeriodMs)
      }`,
    );
  }
  return parentId == null
    ? params
    : { ...params, parentWorkflowRunId: parentId.toLowerCase() };
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

/**
 * Checks the step attempts of `markWorkflowRunSucceededWithSteps`: an
 * array of objects, each with a `stepAttemptId`.
 *
 * @returns The attempts.
 * @throws {TypeError} naming the parameter and the value.
 */
export function checkStepResults(
  params: MarkWorkflowRunSucceededWithStepsParams,
): readonly StepAttemptResult[] {
  const what = "Cannot mark workflow run succeeded with steps";
  const steps: unknown = params.stepAttempts;
  if (!Array.isArray(steps)) {
    throw new TypeError(
      `${what}: 'stepAttempts' must be an array, received ${received(steps)}`,
    );
  }
  steps.forEach((step: unknown, i) => {
    const id = (step as { stepAttemptId?: unknown } | null)?.stepAttemptId;
    if (typeof id !== "string") {
      throw new TypeError(
        `${what}: 'stepAttempts[${i}].stepAttemptId' must be a string, received ${
          received(id)
        }`,
      );
    }
  });
  return steps;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID (every id the backends make is one). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/**
 * `value` in lower case if it is a UUID, else `null` (an id no backend
 * made, which matches no row).
 */
export function normalizeId(value: unknown): string | null {
  return isUuid(value) ? value.toLowerCase() : null;
}

/**
 * Checks the parameters of a fork: the new run's id is a UUID, `fromStep`
 * a step name or `null`.
 *
 * @throws {TypeError} naming the parameter and the value.
 */
export function checkForkRunParams(
  params: ForkWorkflowRunParams,
): ForkWorkflowRunParams {
  if (!isUuid(params.id)) {
    throw new TypeError(
      `Cannot fork workflow run: 'id' must be a UUID, received ${
        received(params.id)
      }`,
    );
  }
  if (params.fromStep !== null) {
    checkName(params.fromStep, "fork workflow run", "fromStep");
  }
  return { ...params, id: params.id.toLowerCase() };
}

/**
 * Checks which finished runs to delete: a valid `finishedBefore`, finished
 * statuses only, a workflow name or `null`, a positive integer `limit`.
 *
 * @throws {TypeError|RangeError} naming the parameter and the value.
 */
export function checkDeleteRunsParams(
  params: DeleteWorkflowRunsParams,
): DeleteWorkflowRunsParams {
  const what = "delete workflow runs";
  checkTime(params.finishedBefore, what, "finishedBefore");
  if (!Array.isArray(params.statuses) || params.statuses.length === 0) {
    throw new TypeError(
      `Cannot ${what}: 'statuses' must be a non-empty array of finished statuses, received ${
        received(params.statuses)
      }`,
    );
  }
  for (const status of params.statuses) {
    if (!(TERMINAL_STATUSES as readonly unknown[]).includes(status)) {
      throw new RangeError(
        `Cannot ${what}: 'statuses' may hold only finished statuses (${
          TERMINAL_STATUSES.join(", ")
        }), received ${received(status)}`,
      );
    }
  }
  if (params.workflowName != null) {
    checkName(params.workflowName, what, "workflowName");
  }
  if (!Number.isInteger(params.limit) || params.limit <= 0) {
    throw new RangeError(
      `Cannot ${what}: 'limit' must be a positive integer, received ${
        received(params.limit)
      }`,
    );
  }
  return params;
}

/**
 * Checks a maintenance lock's name, owner and duration.
 *
 * @throws {TypeError|RangeError} naming the parameter and the value.
 */
export function checkLockParams(params: MaintenanceLockParams): void {
  const what = "acquire maintenance lock";
  checkName(params.name, what, "name");
  checkName(params.ownerId, what, "ownerId");
  if (
    !Number.isInteger(params.durationMs) || params.durationMs <= 0 ||
    params.durationMs > MAX_DURATION_MS
  ) {
    throw new RangeError(
      `Cannot ${what}: 'durationMs' must be a positive integer of milliseconds, received ${
        received(params.durationMs)
      }`,
    );
  }
}
