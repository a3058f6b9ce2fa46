/**
 * The worker estimates the database clock around each claim, within half
 * the claim's round trip. A run woken when a retry or a sleep the engine
 * set is due must go on, whichever way the estimate errs, instead of being
 * put back to sleep for a few milliseconds.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import type { Backend, WorkflowRun } from "../../mod.ts";
import {
  Execution,
  type ExecutionResult,
} from "../../src/execution/execution.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../../src/core/limits.ts";
import { DEFAULT_WORKFLOW_RETRY_POLICY } from "../../src/core/retry.ts";
import type { WorkflowFunction } from "../../src/core/workflow.ts";
import { delay } from "../helpers.ts";

/** Half of a 60 ms claim round trip whose answer came late. */
const UNCERTAINTY_MS = 30;

/** Starts a run of `workflowName`, due at once. */
async function start(backend: Backend, workflowName: string): Promise<void> {
  await backend.createWorkflowRun({
    workflowName,
    version: null,
    idempotencyKey: null,
    config: {},
    context: null,
    input: null,
    availableAt: null,
    deadlineAt: null,
  });
}

/**
 * Claims the run (trying up to `tries` times, 5 ms apart) and executes it
 * with a clock estimate that errs by `errMs`: negative runs late (the
 * database's clock, here the local one, reads up to UNCERTAINTY_MS more),
 * positive runs early (it reads up to UNCERTAINTY_MS less).
 */
async function claimAndExecute(
  backend: Backend,
  fn: WorkflowFunction<unknown, unknown>,
  { errMs = -UNCERTAINTY_MS, tries = 200 } = {},
): Promise<ExecutionResult> {
  let run: WorkflowRun | null = null;
  for (let i = 0; i < tries && run === null; i++) {
    run = await backend.claimWorkflowRun({
      workerId: "worker",
      leaseDurationMs: 30_000,
    });
    if (run === null) await delay(5);
  }
  assert.ok(run !== null, "the run became claimable");
  return await new Execution({
    backend,
    workerId: "worker",
    run,
    fn,
    retry: DEFAULT_WORKFLOW_RETRY_POLICY,
    leaseDurationMs: 30_000,
    clockOffsetMs: errMs,
    clockUncertaintyMs: UNCERTAINTY_MS,
    signal: new AbortController().signal,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  }).execute();
}

Deno.test("a run woken for a step's retry retries it, though the clock estimate runs late", async () => {
  await using backend = await BackendSqlite.connect(":memory:");
  let calls = 0;
  let bodies = 0;
  const fn: WorkflowFunction<unknown, unknown> = async ({ step }) => {
    bodies++;
    return await step.run(
      { name: "flaky", retry: { maxAttempts: 2, initialIntervalMs: 10 } },
      () => {
        if (++calls === 1) throw new Error("temporarily unavailable");
        return "ok";
      },
    );
  };
  await start(backend, "flaky");
  assert.equal((await claimAndExecute(backend, fn)).status, "released");
  assert.deepEqual(await claimAndExecute(backend, fn), {
    status: "succeeded",
    output: "ok",
  });
  assert.deepEqual({ bodies, calls }, { bodies: 2, calls: 2 });
});

Deno.test("a run woken at the end of its sleep goes on, though the clock estimate runs late", async () => {
  await using backend = await BackendSqlite.connect(":memory:");
  let bodies = 0;
  const fn: WorkflowFunction<unknown, unknown> = async ({ step }) => {
    bodies++;
    await step.sleep("nap", "10ms");
    return "awake";
  };
  await start(backend, "napper");
  assert.equal((await claimAndExecute(backend, fn)).status, "released");
  assert.deepEqual(await claimAndExecute(backend, fn), {
    status: "succeeded",
    output: "awake",
  });
  assert.equal(bodies, 2);
});

Deno.test("a step's retry due at once is claimable at once, though the clock estimate runs early", async () => {
  await using backend = await BackendSqlite.connect(":memory:");
  let calls = 0;
  const fn: WorkflowFunction<unknown, unknown> = async ({ step }) => {
    return await step.run(
      { name: "flaky", retry: { maxAttempts: 3, initialIntervalMs: 0 } },
      () => {
        if (++calls < 3) throw new Error("temporarily unavailable");
        return "ok";
      },
    );
  };
  await start(backend, "flaky");
  // The estimate is as high as the round trip allows: parked from the
  // latest the clock may read, the run would wait 2 * UNCERTAINTY_MS.
  const early = { errMs: UNCERTAINTY_MS, tries: 1 };
  assert.equal((await claimAndExecute(backend, fn, early)).status, "released");
  assert.equal((await claimAndExecute(backend, fn, early)).status, "released");
  assert.deepEqual(await claimAndExecute(backend, fn, early), {
    status: "succeeded",
    output: "ok",
  });
  assert.equal(calls, 3);
});
