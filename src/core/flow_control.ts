/**
 * Flow control: per-key concurrency limits, rate limits of first starts,
 * and priorities. A workflow declares its limits; each run's keys (and its
 * priority) are computed once, when it is started, and stored with it; the
 * backend's claim keeps to them across every worker.
 *
 * @module
 */

import type { CreateWorkflowRunParams } from "./backend_params.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { received } from "./validate.ts";

/** A workflow's concurrency limit (`defineWorkflow({ concurrency })`). */
export interface ConcurrencyConfig<Input = never> {
  /** At most this many runs with the same key execute at once. */
  limit: number;
  /**
   * The key of a run, from its input (computed once, when it starts).
   * @default {undefined} (one key: the limit is workflow-wide)
   */
  key?: (input: Input) => string;
}

/** A workflow's rate limit (`defineWorkflow({ rateLimit })`). */
export interface RateLimitConfig<Input = never> {
  /** At most this many runs with the same key start in any `period`. */
  limit: number;
  /** The window, e.g. `"1s"` or `60_000`. */
  period: Duration;
  /**
   * The key of a run, from its input (computed once, when it starts).
   * @default {undefined} (one key: the limit is workflow-wide)
   */
  key?: (input: Input) => string;
}

/** A workflow's flow control, checked. */
export interface FlowControl {
  /** The concurrency limit, or `null`. */
  concurrency: { limit: number; key?: (input: unknown) => string } | null;
  /** The rate limit (its period in milliseconds), or `null`. */
  rateLimit: {
    limit: number;
    periodMs: number;
    key?: (input: unknown) => string;
  } | null;
}

/** The most a limit or a priority may be: a 32-bit signed integer. */
const MAX_INT = 2 ** 31 - 1;

function checkLimit(value: unknown, what: string, name: string): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${what}: '${name}' must be a positive integer, received ${
        received(value)
      }`,
    );
  }
  if (!Number.isInteger(value) || value < 1 || value > MAX_INT) {
    throw new RangeError(
      `Cannot ${what}: '${name}' must be a positive integer of at most ${MAX_INT}, received ${value}`,
    );
  }
  return value;
}

function checkKey(
  value: unknown,
  what: string,
  name: string,
): ((input: unknown) => string) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(
      `Cannot ${what}: '${name}' must be a function of the input, received ${
        received(value)
      }`,
    );
  }
  return value as (input: unknown) => string;
}

/**
 * Checks a workflow's `concurrency` and `rateLimit` options.
 *
 * @throws {TypeError|RangeError} naming the option.
 */
export function checkFlowControl(
  config: { concurrency?: unknown; rateLimit?: unknown },
  what: string,
): FlowControl {
  const flow: FlowControl = { concurrency: null, rateLimit: null };
  if (config.concurrency != null) {
    const c = config.concurrency as Partial<ConcurrencyConfig<unknown>>;
    if (typeof c !== "object") {
      throw new TypeError(
        `Cannot ${what}: 'concurrency' must be an object with a 'limit', received ${
          received(c)
        }`,
      );
    }
    flow.concurrency = {
      limit: checkLimit(c.limit, what, "concurrency.limit"),
      key: checkKey(c.key, what, "concurrency.key"),
    };
  }
  if (config.rateLimit != null) {
    const r = config.rateLimit as Partial<RateLimitConfig<unknown>>;
    if (typeof r !== "object") {
      throw new TypeError(
        `Cannot ${what}: 'rateLimit' must be an object with a 'limit' and a 'period', received ${
          received(r)
        }`,
      );
    }
    const periodMs = parseDuration(r.period as Duration, "rateLimit.period");
    if (periodMs <= 0) {
      throw new RangeError(
        `Cannot ${what}: 'rateLimit.period' must be longer than 0 ms, received ${
          received(r.period)
        }`,
      );
    }
    flow.rateLimit = {
      limit: checkLimit(r.limit, what, "rateLimit.limit"),
      periodMs,
      key: checkKey(r.key, what, "rateLimit.key"),
    };
  }
  return flow;
}

function keyOf(
  key: ((input: unknown) => string) | undefined,
  input: unknown,
  what: string,
  name: string,
): string {
  if (key === undefined) return "";
  let value: unknown;
  try {
    value = key(input);
  } catch (error) {
    throw new TypeError(`Cannot ${what}: '${name}' threw: ${error}`, {
      cause: error,
    });
  }
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot ${what}: '${name}' must return a string, returned ${
        received(value)
      }`,
    );
  }
  return value;
}

/**
 * The flow-control parameters of a run: its priority and, when its
 * workflow has limits, its keys (`""`: workflow-wide) and the limits.
 *
 * @throws {TypeError|RangeError} for a bad priority, or a key function that
 * throws or returns something other than a string.
 */
export function flowParams(
  flow: FlowControl | null | undefined,
  input: unknown,
  priority: unknown,
  what: string,
): Pick<
  CreateWorkflowRunParams,
  | "priority"
  | "concurrencyKey"
  | "concurrencyLimit"
  | "rateLimitKey"
  | "rateLimit"
  | "rateLimitPeriodMs"
> {
  if (priority !== undefined) {
    if (typeof priority !== "number") {
      throw new TypeError(
        `Cannot ${what}: 'priority' must be an integer, received ${
          received(priority)
        }`,
      );
    }
    if (!Number.isInteger(priority) || Math.abs(priority) > MAX_INT) {
      throw new RangeError(
        `Cannot ${what}: 'priority' must be an integer from -${MAX_INT} to ${MAX_INT}, received ${priority}`,
      );
    }
  }
  const c = flow?.concurrency ?? null;
  const r = flow?.rateLimit ?? null;
  return {
    priority: (priority as number | undefined) ?? 0,
    concurrencyKey: c === null
      ? null
      : keyOf(c.key, input, what, "concurrency.key"),
    concurrencyLimit: c?.limit ?? null,
    rateLimitKey: r === null
      ? null
      : keyOf(r.key, input, what, "rateLimit.key"),
    rateLimit: r?.limit ?? null,
    rateLimitPeriodMs: r?.periodMs ?? null,
  };
}
