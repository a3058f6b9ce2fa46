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

async function claimAndExecute(
  backend: Backend,
  fn: WorkflowFunction<unknown, unknown>,
): Promise<ExecutionResult> {
  let run: WorkflowRun | null = null;
  for (let i = 0; i < 200 && run === null; i++) {
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
    // The estimate is as low as the round trip allows: the database's
    // clock (here the local one) reads up to UNCERTAINTY_MS more.
    clockOffsetMs: -UNCERTAINTY_MS,
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
