/**
 * The Backend conformance suite: every case the engine relies on, run
 * against any `Backend` through any test runner.
 *
 * @module
 */

import type { Backend } from "../../core/backend.ts";
import { childConformance } from "./children.ts";
import { claimConformance } from "./claims.ts";
import {
  type BackendCapabilities,
  type CaseContext,
  type DefineCase,
  randomNamespace,
} from "./define.ts";
import { errorConformance } from "./errors.ts";
import { lifecycleConformance } from "./lifecycle.ts";
import { namespaceConformance } from "./namespaces.ts";
import { runConformance } from "./runs.ts";
import { scheduleConformance } from "./schedules.ts";
import { operationsConformance } from "./operations.ts";
import { inspectionConformance } from "./inspection.ts";
import { nextAvailableConformance } from "./next_available.ts";
import { unwindingConformance } from "./unwinding.ts";
import { signalConformance } from "./signals.ts";
import { stepConformance } from "./steps.ts";

export type { BackendCapabilities } from "./define.ts";

/** The options of {@linkcode runBackendConformance}. */
export interface BackendConformanceOptions {
  /** Shown in brackets before each case's name, e.g. `"postgres"`. */
  name: string;
  /**
   * Connects a backend in namespace `namespaceId`. Backends connected
   * during one run of the suite must share their data (one database), as
   * several worker processes do; each case works in fresh random
   * namespaces. The suite stops every backend it connected when its case
   * ends.
   */
  connect(params: { namespaceId: string }): Promise<Backend>;
  /**
   * The test runner's registration function, called once per case with the
   * case's name and body: `Deno.test`, `test` from `node:test` or
   * `bun:test`, vitest's `test`.
   */
  test(name: string, fn: () => Promise<void>): unknown;
  /**
   * What the backend can do beyond the required methods; the cases that
   * need a capability it lacks are not registered, and `onSkip` is told.
   *
   * @default {{ sharedStore: true, getWorkflowRunStatuses: true, signals: true, schedules: true, operations: true, inspection: true, nextAvailableAt: true, succeedWithSteps: true }}
   */
  capabilities?: BackendCapabilities;
  /** Told of each case not registered, with the reason. */
  onSkip?(name: string, reason: string): void;
}

const SKIP_REASONS: Record<keyof BackendCapabilities, string> = {
  sharedStore:
    "needs a second backend on the same data, and this backend's connections do not share it",
  getWorkflowRunStatuses:
    "needs the optional getWorkflowRunStatuses(), which this backend does not implement",
  signals:
    "needs the optional sendSignal() and receiveSignal(), which this backend does not implement",
  schedules:
    "needs the optional schedule methods (now(), createSchedule(), ..., fireSchedule()), which this backend does not implement",
  operations:
    "needs the optional operators' methods (retryWorkflowRun(), forkWorkflowRun(), deleteWorkflowRuns(), the maintenance locks), which this backend does not implement",
  inspection:
    "needs the optional countWorkflowRuns(), getQueueStatistics() and listSignals(), which this backend does not implement",
  nextAvailableAt:
    "needs the optional getNextAvailableAt(), which this backend does not implement",
  succeedWithSteps:
    "needs the optional markWorkflowRunSucceededWithSteps(), which this backend does not implement",
};

/**
 * Registers the Backend conformance suite: one test per case, each
 * asserting one rule of the `Backend` contract (claims are atomic, writes
 * are fenced to the lease holder, namespaces isolate, times come from the
 * backend's clock, ...) against backends made by `connect`. A third-party
 * backend proves itself with one call in its test file.
 *
 * @param options the backend's name, how to connect it, the runner's
 * registration function and what it can do.
 *
 * @example With Deno's test runner
 * ```ts ignore
 * import { runBackendConformance } from "@openworkflow/core/testing";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * const file = `${await Deno.makeTempDir()}/conformance.db`;
 * runBackendConformance({
 *   name: "sqlite",
 *   connect: ({ namespaceId }) => BackendSqlite.connect(file, { namespaceId }),
 *   test: Deno.test,
 * });
 * ```
 *
 * @example With node:test (or bun:test, or vitest)
 * ```ts ignore
 * import { test } from "node:test";
 * import { runBackendConformance } from "@openworkflow/core/testing";
 * import { MyBackend } from "./my_backend.ts";
 *
 * runBackendConformance({
 *   name: "my-backend",
 *   connect: ({ namespaceId }) => MyBackend.connect({ namespaceId }),
 *   test,
 * });
 * ```
 */
export function runBackendConformance(
  options: BackendConformanceOptions,
): void {
  const capabilities: Required<BackendCapabilities> = {
    sharedStore: true,
    getWorkflowRunStatuses: true,
    signals: true,
    schedules: true,
    operations: true,
    inspection: true,
    nextAvailableAt: true,
    succeedWithSteps: true,
    ...options.capabilities,
  };
  const define: DefineCase = (name, fn, needs = []) => {
    const missing = needs.find((need) => !capabilities[need]);
    if (missing !== undefined) {
      options.onSkip?.(`[${options.name}] ${name}`, SKIP_REASONS[missing]);
      return;
    }
    options.test(`[${options.name}] ${name}`, async () => {
      const connected: Backend[] = [];
      const connect = async (namespaceId: string) => {
        const backend = await options.connect({ namespaceId });
        connected.push(backend);
        return backend;
      };
      try {
        const namespaceId = randomNamespace();
        const backend = await connect(namespaceId);
        const context: CaseContext = { backend, namespaceId, connect };
        await fn(context);
      } finally {
        await Promise.allSettled(connected.map((backend) => backend.stop()));
      }
    });
  };
  runConformance(define);
  claimConformance(define);
  stepConformance(define);
  lifecycleConformance(define);
  namespaceConformance(define);
  errorConformance(define);
  signalConformance(define);
  childConformance(define);
  scheduleConformance(define);
  operationsConformance(define);
  unwindingConformance(define);
  inspectionConformance(define);
  nextAvailableConformance(define);
}
