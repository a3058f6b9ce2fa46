import assert from "node:assert/strict";
import { WorkflowFailedError } from "../mod.ts";
import { main as basic } from "../examples/basic.ts";
import { main as typed } from "../examples/typed.ts";
import { main as parallel } from "../examples/parallel.ts";
import { main as errorHandling } from "../examples/error_handling.ts";
import { main as retries } from "../examples/retries.ts";
import { main as sleep } from "../examples/sleep.ts";
import { main as cancellation } from "../examples/cancellation.ts";
import { main as idempotency } from "../examples/idempotency.ts";
import { main as versioning } from "../examples/versioning.ts";
import { main as inspection } from "../examples/inspection.ts";
import { testEachBackend } from "./helpers.ts";

testEachBackend("examples/basic.ts greets Alice", async ({ backend }) => {
  assert.deepEqual(await basic(backend), { greeting: "Hello, Alice!" });
});

testEachBackend("examples/typed.ts sends the email", async ({ backend }) => {
  const output = await typed(backend);
  assert.match(output.emailId, /^email-\d+$/);
  assert.ok(!Number.isNaN(Date.parse(output.sentAt)));
});

testEachBackend(
  "examples/parallel.ts gathers three results",
  async ({ backend }) => {
    assert.deepEqual(await parallel(backend), {
      user: { id: "u-1", name: "Ada" },
      settings: { theme: "dark" },
      subscription: { plan: "pro" },
    });
  },
);

testEachBackend(
  "examples/error_handling.ts logs, rethrows and fails the run",
  async ({ backend }) => {
    const outcome = await errorHandling(backend);
    assert.ok(outcome.error instanceof WorkflowFailedError);
    assert.equal((outcome.error.cause as Error).message, "service unavailable");
    assert.deepEqual(outcome.logged.slice(-1), ["Error: service unavailable"]);
    assert.equal(outcome.calls % 2, 0, "two attempts per run of the example");
  },
);

testEachBackend(
  "examples/retries.ts retries a flaky step and stops on NonRetryableError",
  async ({ backend }) => {
    assert.deepEqual(await retries(backend), {
      quote: "USD 42.5",
      validation: "rejected: currency not supported",
      attempts: 3,
    });
  },
);

testEachBackend(
  "examples/sleep.ts sleeps durably and resumes",
  async ({ backend }) => {
    assert.deepEqual(await sleep(backend), {
      statusWhileSleeping: "sleeping",
      result: "reminder mail to ada",
    });
  },
);

testEachBackend(
  "examples/cancellation.ts cancels a running run",
  async ({ backend }) => {
    assert.deepEqual(await cancellation(backend), {
      canceled: true,
      stepSaw: "WorkflowCanceledError",
      status: "canceled",
    });
  },
);

testEachBackend(
  "examples/idempotency.ts starts one run for five calls",
  async ({ backend }) => {
    assert.deepEqual(await idempotency(backend), {
      distinctRuns: 1,
      charges: 1,
    });
  },
);

testEachBackend(
  "examples/versioning.ts runs each version on its own workers",
  async ({ backend }) => {
    assert.deepEqual(await versioning(backend), {
      v1: "v1: email only",
      v2: "v2: email and sms",
      waitingFor: "1",
    });
  },
);

testEachBackend(
  "examples/inspection.ts lists and pages runs",
  async ({ backend }) => {
    assert.deepEqual(await inspection(backend), {
      listed: 5,
      pages: 3,
      steps: ["download: succeeded", "resize: succeeded"],
    });
  },
);
