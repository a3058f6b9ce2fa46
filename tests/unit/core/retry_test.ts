import assert from "node:assert/strict";
import {
  DEFAULT_STEP_RETRY_POLICY,
  DEFAULT_WORKFLOW_RETRY_POLICY,
  isNonRetryable,
  resolveRetryPolicy,
  retryDelayMs,
  type RetryPolicy,
} from "../../../src/core/retry.ts";
import { MAX_DURATION_MS } from "../../../src/core/duration.ts";
import {
  DuplicateStepNameError,
  NonRetryableError,
  OpenWorkflowError,
  StepTimeoutError,
} from "../../../src/core/errors.ts";
import { deserializeError, serializeError } from "../../../src/core/json.ts";

const POLICY: Required<RetryPolicy> = {
  maxAttempts: 5,
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maxIntervalMs: 60_000,
  jitter: 0.2,
  maxInterruptions: 10,
};

const SEEDS = Array.from({ length: 200 }, (_, i) => `attempt-${i}`);

Deno.test("retryDelayMs() is the same for the same seed, call after call", () => {
  for (const seed of SEEDS.slice(0, 20)) {
    const first = retryDelayMs(POLICY, 2, seed);
    for (let i = 0; i < 3; i++) {
      assert.equal(retryDelayMs({ ...POLICY }, 2, seed), first);
    }
  }
});

Deno.test("retryDelayMs() spreads waits within ±jitter across seeds", () => {
  const waits = SEEDS.map((seed) => retryDelayMs(POLICY, 1, seed));
  for (const wait of waits) {
    assert.ok(wait >= 800 && wait <= 1200, `${wait}`);
    assert.ok(Number.isInteger(wait));
  }
  assert.ok(new Set(waits).size > 100, "seeds give different waits");
  assert.ok(Math.min(...waits) < 850 && Math.max(...waits) > 1150);
});

Deno.test("retryDelayMs() grows by backoffCoefficient with the same jitter per seed", () => {
  for (const seed of SEEDS.slice(0, 20)) {
    const first = retryDelayMs(POLICY, 1, seed);
    const third = retryDelayMs(POLICY, 3, seed);
    assert.ok(Math.abs(third - 4 * first) <= 2, `${first} then ${third}`);
  }
});

Deno.test("retryDelayMs() without jitter is initialIntervalMs × coefficient^(failures-1)", () => {
  const policy = { ...POLICY, jitter: 0, backoffCoefficient: 3 };
  assert.deepEqual(
    [1, 2, 3, 4].map((failures) => retryDelayMs(policy, failures, "s")),
    [1000, 3000, 9000, 27_000],
  );
});

Deno.test("retryDelayMs() caps the wait at maxIntervalMs before jitter", () => {
  for (const seed of SEEDS.slice(0, 50)) {
    for (const failures of [7, 8, 50, 5000]) {
      const wait = retryDelayMs(POLICY, failures, seed);
      assert.ok(wait >= 48_000 && wait <= 72_000, `${failures}: ${wait}`);
    }
  }
  const exact = { ...POLICY, jitter: 0 };
  assert.equal(retryDelayMs(exact, 1e9, "s"), 60_000);
});

Deno.test("retryDelayMs() with initialIntervalMs 0 is 0", () => {
  const policy = { ...POLICY, initialIntervalMs: 0, jitter: 1 };
  for (const failures of [1, 2, 100]) {
    assert.equal(retryDelayMs(policy, failures, "seed"), 0);
  }
});

Deno.test("retryDelayMs() derives its jitter from the FNV-1a hash of the seed", () => {
  // With jitter 1 and a wait of 2^31, the wait is 2^32 × the seed's unit
  // number: the 32-bit FNV-1a hash itself (published test vectors).
  const policy: Required<RetryPolicy> = {
    maxAttempts: 2,
    initialIntervalMs: 2 ** 31,
    maxIntervalMs: 2 ** 31,
    backoffCoefficient: 2,
    jitter: 1,
    maxInterruptions: 10,
  };
  assert.equal(retryDelayMs(policy, 1, ""), 0x811c9dc5);
  assert.equal(retryDelayMs(policy, 1, "a"), 0xe40c292c);
  assert.equal(retryDelayMs(policy, 1, "foobar"), 0xbf9cf968);
});

Deno.test("resolveRetryPolicy() of undefined is a copy of the defaults", () => {
  const resolved = resolveRetryPolicy(
    undefined,
    DEFAULT_STEP_RETRY_POLICY,
    "step 'a'",
  );
  assert.deepEqual(resolved, DEFAULT_STEP_RETRY_POLICY);
  assert.notEqual(resolved, DEFAULT_STEP_RETRY_POLICY);
  resolved.maxAttempts = 99;
  assert.equal(DEFAULT_STEP_RETRY_POLICY.maxAttempts, 3);
});

Deno.test("resolveRetryPolicy() fills in the fields left out or undefined", () => {
  assert.deepEqual(
    resolveRetryPolicy(
      { maxAttempts: 7, jitter: undefined },
      DEFAULT_WORKFLOW_RETRY_POLICY,
      "workflow 'w'",
    ),
    { ...DEFAULT_WORKFLOW_RETRY_POLICY, maxAttempts: 7 },
  );
  assert.deepEqual(
    resolveRetryPolicy({}, DEFAULT_WORKFLOW_RETRY_POLICY, "workflow 'w'"),
    DEFAULT_WORKFLOW_RETRY_POLICY,
  );
});

Deno.test("resolveRetryPolicy() accepts the bounds of each field", () => {
  const policy: RetryPolicy = {
    maxAttempts: 1,
    initialIntervalMs: 0,
    backoffCoefficient: 1,
    maxIntervalMs: MAX_DURATION_MS,
    jitter: 1,
    maxInterruptions: 0,
  };
  assert.deepEqual(
    resolveRetryPolicy(policy, DEFAULT_STEP_RETRY_POLICY, "s"),
    policy,
  );
  assert.equal(
    resolveRetryPolicy(
      {
        initialIntervalMs: MAX_DURATION_MS,
        maxIntervalMs: MAX_DURATION_MS,
        jitter: 0,
      },
      DEFAULT_STEP_RETRY_POLICY,
      "s",
    ).initialIntervalMs,
    MAX_DURATION_MS,
  );
});

Deno.test("resolveRetryPolicy() rejects a policy that is no object with TypeError", () => {
  const cases: [unknown, string][] = [
    [null, "received null"],
    [[], "received an array"],
    ["3", "received string"],
    [3, "received number"],
  ];
  for (const [policy, text] of cases) {
    assert.throws(
      () =>
        resolveRetryPolicy(
          policy as RetryPolicy,
          DEFAULT_STEP_RETRY_POLICY,
          "step 'x'",
        ),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.includes("Invalid retry policy of step 'x'") &&
        error.message.includes(text),
    );
  }
});

Deno.test("resolveRetryPolicy() rejects an unknown field with TypeError naming it", () => {
  assert.throws(
    () =>
      resolveRetryPolicy(
        { maxAtempts: 5 } as RetryPolicy,
        DEFAULT_STEP_RETRY_POLICY,
        "step 'charge'",
      ),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.includes("step 'charge'") &&
      error.message.includes("unknown field 'maxAtempts' (received 5)") &&
      error.message.includes("maxAttempts, initialIntervalMs"),
  );
  // Even one set to undefined, and whatever its value.
  for (const value of [undefined, "x".repeat(100), { a: 1 }, [1]]) {
    assert.throws(
      () =>
        resolveRetryPolicy(
          { timeoutMs: value } as RetryPolicy,
          DEFAULT_STEP_RETRY_POLICY,
          "s",
        ),
      TypeError,
    );
  }
});

Deno.test("resolveRetryPolicy() rejects a non-number field with TypeError", () => {
  const cases: [RetryPolicy, string][] = [
    [{ maxAttempts: "3" as unknown as number }, "'maxAttempts'"],
    [{ jitter: null as unknown as number }, "'jitter'"],
    [{ initialIntervalMs: NaN }, "'initialIntervalMs'"],
    [{ backoffCoefficient: NaN }, "'backoffCoefficient'"],
    [{ maxIntervalMs: true as unknown as number }, "'maxIntervalMs'"],
  ];
  for (const [policy, field] of cases) {
    assert.throws(
      () => resolveRetryPolicy(policy, DEFAULT_STEP_RETRY_POLICY, "s"),
      (error: unknown) =>
        error instanceof TypeError && !(error instanceof RangeError) &&
        error.message.includes(`${field} must be a number`),
      JSON.stringify(policy),
    );
  }
});

Deno.test("resolveRetryPolicy() rejects an out-of-range field with RangeError", () => {
  const cases: [RetryPolicy, string][] = [
    [{ maxAttempts: 0 }, "'maxAttempts' must be an integer of at least 1"],
    [
      { maxInterruptions: -1 },
      "'maxInterruptions' must be an integer of at least 0",
    ],
    [{ maxInterruptions: 2.5 }, "'maxInterruptions'"],
    [{ maxAttempts: 1.5 }, "'maxAttempts'"],
    [{ maxAttempts: Infinity }, "'maxAttempts'"],
    [{ initialIntervalMs: -1 }, "'initialIntervalMs'"],
    [
      { initialIntervalMs: MAX_DURATION_MS + 1 },
      "'initialIntervalMs'",
    ],
    [{ initialIntervalMs: Infinity }, "'initialIntervalMs'"],
    [{ backoffCoefficient: 0.5 }, "'backoffCoefficient'"],
    [{ backoffCoefficient: Infinity }, "'backoffCoefficient'"],
    [{ maxIntervalMs: MAX_DURATION_MS + 1 }, "'maxIntervalMs'"],
    [
      { initialIntervalMs: 500, maxIntervalMs: 499 },
      "between initialIntervalMs (500)",
    ],
    [{ jitter: -0.01 }, "'jitter' must be between 0 and 1"],
    [{ jitter: 1.01 }, "'jitter'"],
  ];
  for (const [policy, text] of cases) {
    assert.throws(
      () => resolveRetryPolicy(policy, DEFAULT_STEP_RETRY_POLICY, "step 'x'"),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.includes("Invalid retry policy of step 'x'") &&
        error.message.includes(text),
      JSON.stringify(policy),
    );
  }
});

Deno.test("resolveRetryPolicy() checks maxIntervalMs against the default it did not set", () => {
  // An initial interval above the default maxIntervalMs (60 s) needs a
  // maxIntervalMs of its own.
  assert.throws(
    () =>
      resolveRetryPolicy(
        { initialIntervalMs: 120_000 },
        DEFAULT_STEP_RETRY_POLICY,
        "s",
      ),
    RangeError,
  );
  assert.equal(
    resolveRetryPolicy(
      { initialIntervalMs: 120_000, maxIntervalMs: 120_000 },
      DEFAULT_STEP_RETRY_POLICY,
      "s",
    ).maxIntervalMs,
    120_000,
  );
});

Deno.test("DEFAULT_STEP_RETRY_POLICY and DEFAULT_WORKFLOW_RETRY_POLICY are frozen", () => {
  assert.ok(Object.isFrozen(DEFAULT_STEP_RETRY_POLICY));
  assert.ok(Object.isFrozen(DEFAULT_WORKFLOW_RETRY_POLICY));
  assert.equal(DEFAULT_WORKFLOW_RETRY_POLICY.maxAttempts, 1);
  assert.equal(
    DEFAULT_WORKFLOW_RETRY_POLICY.initialIntervalMs,
    DEFAULT_STEP_RETRY_POLICY.initialIntervalMs,
  );
});

Deno.test("isNonRetryable() holds for NonRetryableError, its subclasses and DuplicateStepNameError", () => {
  class PaymentDeclined extends NonRetryableError {}
  assert.equal(isNonRetryable(new NonRetryableError("no")), true);
  assert.equal(isNonRetryable(new PaymentDeclined("no")), true);
  assert.equal(isNonRetryable(new DuplicateStepNameError("r", "s")), true);
});

Deno.test("isNonRetryable() holds for stored errors marked or named so", () => {
  assert.equal(
    isNonRetryable(
      deserializeError(serializeError(new NonRetryableError("x"))),
    ),
    true,
  );
  assert.equal(
    isNonRetryable({ name: "NonRetryableError", message: "" }),
    true,
  );
  assert.equal(isNonRetryable({ nonRetryable: true }), true);
  const marked = Object.assign(new Error("x"), { nonRetryable: true });
  assert.equal(isNonRetryable(marked), true);
});

Deno.test("isNonRetryable() is false for other errors and values", () => {
  const values: unknown[] = [
    new Error("x"),
    new TypeError("x"),
    new OpenWorkflowError("x"),
    new StepTimeoutError("s", 5),
    { nonRetryable: "yes" },
    { nonRetryable: 1 },
    { name: "nonretryableerror" },
    null,
    undefined,
    "NonRetryableError",
    42,
  ];
  for (const value of values) assert.equal(isNonRetryable(value), false);
});
