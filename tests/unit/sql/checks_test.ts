import assert from "node:assert/strict";
import {
  checkCreateRunParams,
  checkNamespaceId,
  checkReleaseTime,
  isUuid,
  MAX_NAMESPACE_ID_LENGTH,
  normalizeId,
} from "../../../src/sql/checks.ts";
import type {
  CreateWorkflowRunParams,
  ReleaseWorkflowRunParams,
} from "../../../src/core/backend.ts";
import { DEFAULT_NAMESPACE_ID } from "../../../src/core/defaults.ts";
import {
  MAX_DURATION_MS,
  MAX_TIME_MS,
  MIN_TIME_MS,
} from "../../../src/core/duration.ts";

// checkNamespaceId

Deno.test("checkNamespaceId() defaults undefined to DEFAULT_NAMESPACE_ID", () => {
  assert.equal(checkNamespaceId(undefined, "connect"), DEFAULT_NAMESPACE_ID);
  assert.equal(DEFAULT_NAMESPACE_ID, "default");
});

Deno.test("checkNamespaceId() returns a valid id unchanged", () => {
  for (
    const id of [
      "a",
      "tenant-42",
      " spaced ",
      "ünïcödé 😀",
      "x".repeat(MAX_NAMESPACE_ID_LENGTH),
    ]
  ) {
    assert.equal(checkNamespaceId(id, "connect"), id);
  }
});

Deno.test("checkNamespaceId() rejects a non-string, empty or ill-formed id with TypeError", () => {
  const cases: [unknown, string][] = [
    [null, "received null"],
    [42, "received 42"],
    [{}, "received object"],
    ["", 'received ""'],
    ["a\u0000b", "received"],
    ["lone \ud800 surrogate", "received"],
    ["\udc00", "received"],
  ];
  for (const [value, text] of cases) {
    assert.throws(
      () => checkNamespaceId(value, "connect to SQLite"),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith(
          "Cannot connect to SQLite: 'namespaceId' must be a non-empty string",
        ) &&
        error.message.includes(text),
      JSON.stringify(value),
    );
  }
});

Deno.test("checkNamespaceId() rejects an id over 255 characters with RangeError", () => {
  assert.throws(
    () => checkNamespaceId("x".repeat(256), "connect"),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot connect: 'namespaceId' must be at most 255 characters, received 256",
  );
  // Counted in UTF-16 code units: 128 emoji are 256.
  assert.throws(
    () => checkNamespaceId("😀".repeat(128), "connect"),
    RangeError,
  );
  assert.equal(checkNamespaceId("😀".repeat(127), "connect").length, 254);
});

// checkCreateRunParams

const CREATE: CreateWorkflowRunParams = {
  workflowName: "w",
  version: null,
  config: {},
  context: null,
  input: null,
  availableAt: null,
  deadlineAt: null,
  idempotencyKey: null,
};

Deno.test("checkCreateRunParams() accepts no times, and times within years 1 to 9999", () => {
  checkCreateRunParams(CREATE);
  checkCreateRunParams({
    ...CREATE,
    availableAt: undefined as unknown as null,
  });
  checkCreateRunParams({
    ...CREATE,
    availableAt: new Date(MIN_TIME_MS),
    deadlineAt: new Date(MAX_TIME_MS),
  });
  for (const availableAfterMs of [0, 1.5, MAX_DURATION_MS, undefined]) {
    checkCreateRunParams({ ...CREATE, availableAfterMs });
  }
});

Deno.test("checkCreateRunParams() rejects a time that is no valid Date with TypeError", () => {
  const bad: unknown[] = [new Date(NaN), "2024-01-01", Date.now()];
  for (const field of ["availableAt", "deadlineAt"] as const) {
    for (const value of bad) {
      assert.throws(
        () => checkCreateRunParams({ ...CREATE, [field]: value as Date }),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.startsWith(
            `Cannot create workflow run: '${field}' must be a valid Date`,
          ),
        `${field}: ${String(value)}`,
      );
    }
  }
});

Deno.test("checkCreateRunParams() rejects a time outside years 1 to 9999 with RangeError", () => {
  for (const field of ["availableAt", "deadlineAt"] as const) {
    for (const ms of [MIN_TIME_MS - 1, MAX_TIME_MS + 1, 8.64e15]) {
      assert.throws(
        () => checkCreateRunParams({ ...CREATE, [field]: new Date(ms) }),
        (error: unknown) =>
          error instanceof RangeError &&
          error.message.includes(`'${field}' must be between`) &&
          error.message.includes(new Date(ms).toISOString()),
        `${field}: ${ms}`,
      );
    }
  }
});

Deno.test("checkCreateRunParams() rejects an availableAfterMs out of range with RangeError", () => {
  const cases: [unknown, string][] = [
    [-1, "received -1"],
    [MAX_DURATION_MS + 1, `received ${MAX_DURATION_MS + 1}`],
    [Infinity, "received Infinity"],
    [NaN, "received NaN"],
    ["5", 'received "5"'],
    [null, "received null"],
  ];
  for (const [availableAfterMs, text] of cases) {
    assert.throws(
      () =>
        checkCreateRunParams({
          ...CREATE,
          availableAfterMs: availableAfterMs as number,
        }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(
          `Cannot create workflow run: 'availableAfterMs' must be a number of milliseconds from 0 to ${MAX_DURATION_MS}`,
        ) &&
        error.message.endsWith(text),
      String(availableAfterMs),
    );
  }
});

// checkReleaseTime

const RELEASE: ReleaseWorkflowRunParams = {
  workflowRunId: "00000000-0000-0000-0000-000000000000",
  workerId: "w",
  status: "pending",
  availableAt: null,
};

Deno.test("checkReleaseTime() accepts now (null) and times within years 1 to 9999", () => {
  checkReleaseTime(RELEASE);
  checkReleaseTime({ ...RELEASE, availableAt: new Date(MAX_TIME_MS) });
  checkReleaseTime({ ...RELEASE, availableAt: new Date(MIN_TIME_MS) });
});

Deno.test("checkReleaseTime() rejects an invalid or out-of-range availableAt", () => {
  assert.throws(
    () => checkReleaseTime({ ...RELEASE, availableAt: new Date(NaN) }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        "Cannot release workflow run: 'availableAt' must be a valid Date, received Invalid Date",
  );
  assert.throws(
    () =>
      checkReleaseTime({ ...RELEASE, availableAt: new Date(MAX_TIME_MS + 1) }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message.startsWith("Cannot release workflow run: 'availableAt'"),
  );
});

// isUuid and normalizeId

const UUID = "0190f4a2-7b1c-7def-8a01-23456789abcd";

Deno.test("isUuid() accepts UUIDs in either case", () => {
  for (
    const value of [
      UUID,
      UUID.toUpperCase(),
      "00000000-0000-0000-0000-000000000000",
      "FFFFFFFF-ffff-FfFf-ffff-ffffffffffff",
    ]
  ) {
    assert.equal(isUuid(value), true, value);
  }
});

Deno.test("isUuid() rejects anything else", () => {
  const values: unknown[] = [
    "",
    "run-1",
    UUID.replaceAll("-", ""),
    `{${UUID}}`,
    ` ${UUID}`,
    `${UUID}\n`,
    `urn:uuid:${UUID}`,
    UUID.slice(0, -1),
    `${UUID}0`,
    UUID.replace("a", "g"),
    "0190f4a27-b1c-7def-8a01-23456789abcd",
    null,
    undefined,
    42,
    { toString: () => UUID },
  ];
  for (const value of values) assert.equal(isUuid(value), false, String(value));
});

Deno.test("normalizeId() lower-cases a UUID, and is null for anything else", () => {
  assert.equal(normalizeId(UUID.toUpperCase()), UUID);
  assert.equal(normalizeId(UUID), UUID);
  assert.equal(normalizeId("run-1"), null);
  assert.equal(normalizeId(""), null);
  assert.equal(normalizeId(7), null);
  assert.equal(normalizeId(null), null);
});
