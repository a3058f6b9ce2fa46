/**
 * Retry policies: how often a failing step is tried and how long the run
 * waits between tries.
 *
 * @module
 */

import { backoffMs } from "./backoff.ts";
import { MAX_DURATION_MS } from "./duration.ts";
import { DuplicateStepNameError, NonRetryableError } from "./errors.ts";
import type { JsonValue } from "./json.ts";

/**
 * A retry policy. Attempt `n` (counting from 1) that fails is retried after
 * `min(initialIntervalMs * backoffCoefficient^(n-1), maxIntervalMs)`
 * milliseconds, spread by up to ±`jitter` of that, until `maxAttempts`
 * attempts have failed. A `NonRetryableError` stops retrying at once.
 * An attempt cut off by a crash or a lost lease counts as failed too.
 *
 * A policy is checked where it is given (`step.run`, `defineWorkflow`):
 * an unknown field (a misspelling such as `maxAtempts`) is a `TypeError`;
 * the intervals must be finite and at most `MAX_DURATION_MS` (100 years).
 * An omitted field takes its value from {@linkcode DEFAULT_STEP_RETRY_POLICY}
 * (for a step) or {@linkcode DEFAULT_WORKFLOW_RETRY_POLICY} (for a
 * workflow), which differ only in `maxAttempts`.
 *
 * @example Ten attempts, waiting 0.5 s, 1 s, 2 s, 4 s, then 5 s each (±20%)
 * ```ts
 * import type { RetryPolicy } from "@openworkflow/core";
 *
 * const patient: RetryPolicy = {
 *   maxAttempts: 10,
 *   initialIntervalMs: 500, // doubled each time (the default backoffCoefficient)
 *   maxIntervalMs: 5_000,
 * };
 * ```
 */
export interface RetryPolicy {
  /**
   * How many attempts in all, the first included; `1` means no retry.
   * `1` by default for a workflow.
   * @default {3}
   */
  maxAttempts?: number;
  /**
   * The wait before the first retry, in milliseconds.
   * @default {1000}
   */
  initialIntervalMs?: number;
  /**
   * The factor each further wait grows by.
   * @default {2}
   */
  backoffCoefficient?: number;
  /**
   * The longest wait, in milliseconds.
   * @default {60000}
   */
  maxIntervalMs?: number;
  /**
   * The fraction (0 to 1) by which each wait is randomly spread, so that
   * many failing runs do not retry in lockstep.
   * @default {0.2}
   */
  jitter?: number;
  /**
   * Steps only (a workflow's policy ignores it): how many attempts of the
   * step may be cut off by its worker crashing or losing the run's lease (a
   * deploy, a database outage, a frozen process) before the step fails for
   * good with `StepInterruptedTooOftenError`. Such attempts are retried at
   * once and do not count against `maxAttempts`, which is left to the
   * step's own errors.
   * @default {10}
   */
  maxInterruptions?: number;
}

/**
 * The retry policy of a step that sets none, and the values of the fields a
 * step's policy omits: 3 attempts, waiting about 1 s and then 2 s; up to
 * 10 attempts cut off by a crash or a lost lease, besides.
 */
export const DEFAULT_STEP_RETRY_POLICY: Readonly<Required<RetryPolicy>> = Object
  .freeze({
    maxAttempts: 3,
    initialIntervalMs: 1000,
    backoffCoefficient: 2,
    maxIntervalMs: 60_000,
    jitter: 0.2,
    maxInterruptions: 10,
  });

/**
 * The policy of a workflow that sets none: one attempt (a failed run is not
 * retried as a whole). A workflow policy's omitted fields take its values.
 */
export const DEFAULT_WORKFLOW_RETRY_POLICY: Readonly<Required<RetryPolicy>> =
  Object.freeze({ ...DEFAULT_STEP_RETRY_POLICY, maxAttempts: 1 });

/**
 * Fills in defaults and checks a policy.
 *
 * @throws {TypeError|RangeError} naming `subject` and the bad field.
 */
export function resolveRetryPolicy(
  policy: RetryPolicy | undefined,
  defaults: Readonly<Required<RetryPolicy>>,
  subject: string,
): Required<RetryPolicy> {
  if (policy === undefined) return { ...defaults };
  if (policy === null || typeof policy !== "object" || Array.isArray(policy)) {
    throw new TypeError(
      `Invalid retry policy of ${subject}: must be an object, received ${
        policy === null
          ? "null"
          : Array.isArray(policy)
          ? "an array"
          : typeof policy
      }`,
    );
  }
  for (const field of Object.keys(policy)) {
    if (!Object.hasOwn(DEFAULT_STEP_RETRY_POLICY, field)) {
      throw new TypeError(
        `Invalid retry policy of ${subject}: unknown field '${field}' (received ${
          describe((policy as Record<string, unknown>)[field])
        }); the fields are ${
          Object.keys(DEFAULT_STEP_RETRY_POLICY).join(", ")
        }`,
      );
    }
  }
  const resolved = { ...defaults, ...definedOnly(policy) };
  const check = (
    field: keyof RetryPolicy,
    ok: (value: number) => boolean,
    rule: string,
  ) => {
    const value = resolved[field];
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw new TypeError(
        `Invalid retry policy of ${subject}: '${field}' must be a number, received ${
          typeof value === "number" ? value : typeof value
        }`,
      );
    }
    if (!ok(value)) {
      throw new RangeError(
        `Invalid retry policy of ${subject}: '${field}' must be ${rule}, received ${value}`,
      );
    }
  };
  check(
    "maxAttempts",
    (v) => Number.isInteger(v) && v >= 1,
    "an integer of at least 1",
  );
  check(
    "initialIntervalMs",
    (v) => v >= 0 && v <= MAX_DURATION_MS,
    `between 0 and ${MAX_DURATION_MS} (100 years)`,
  );
  check(
    "backoffCoefficient",
    (v) => Number.isFinite(v) && v >= 1,
    "a finite number of at least 1",
  );
  check(
    "maxIntervalMs",
    (v) => v >= resolved.initialIntervalMs && v <= MAX_DURATION_MS,
    `between initialIntervalMs (${resolved.initialIntervalMs}) and ${MAX_DURATION_MS} (100 years)`,
  );
  check("jitter", (v) => v >= 0 && v <= 1, "between 0 and 1");
  check(
    "maxInterruptions",
    (v) => Number.isInteger(v) && v >= 0,
    "an integer of at least 0",
  );
  return resolved;
}

function describe(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 60
      ? `a string of ${value.length} characters`
      : JSON.stringify(value);
  }
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

function definedOnly(policy: RetryPolicy): RetryPolicy {
  return Object.fromEntries(
    Object.entries(policy).filter(([, value]) => value !== undefined),
  );
}

/**
 * The wait after the `failures`-th failed attempt. The jitter is derived
 * from `seed` (an attempt id), so every worker computes the same wait.
 */
export function retryDelayMs(
  policy: Required<RetryPolicy>,
  failures: number,
  seed: string,
): number {
  const waitMs = backoffMs(failures - 1, {
    initialMs: policy.initialIntervalMs,
    maxMs: policy.maxIntervalMs,
    factor: policy.backoffCoefficient,
    jitter: policy.jitter,
  }, hashUnit(seed));
  return Math.max(0, Math.round(waitMs));
}

/** A stable number in [0, 1) from a string (FNV-1a). */
function hashUnit(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}

/**
 * Whether a failure must not be retried: a `NonRetryableError` (or a
 * subclass), or a stored or rehydrated error marked `nonRetryable` (as the
 * engine marks failures that would recur on every attempt) or named
 * `NonRetryableError`. The same test decides for a step's retries and for
 * the workflow-level retry of a run failed by such an error.
 */
export function isNonRetryable(error: unknown): boolean {
  // A reused step name fails every attempt alike.
  if (
    error instanceof NonRetryableError ||
    error instanceof DuplicateStepNameError
  ) return true;
  if (error === null || typeof error !== "object") return false;
  const fields = error as { [key: string]: JsonValue | undefined };
  return fields.nonRetryable === true || fields.name === "NonRetryableError";
}
