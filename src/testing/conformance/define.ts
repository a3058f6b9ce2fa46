/**
 * How the conformance cases are declared: each gets a backend in a fresh
 * random namespace, a way to connect more, and states the capabilities it
 * needs beyond the required `Backend` methods.
 *
 * @module
 */

import type { Backend } from "../../core/backend.ts";

/** What a backend can do beyond the required methods of `Backend`. */
export interface BackendCapabilities {
  /**
   * Backends connected one after another share their data, as every
   * server-backed store does. Not so for SQLite's `":memory:"`, where each
   * connection is a database of its own.
   *
   * @default {true}
   */
  sharedStore?: boolean;
  /**
   * The backend implements the optional `getWorkflowRunStatuses()`.
   *
   * @default {true}
   */
  getWorkflowRunStatuses?: boolean;
  /**
   * The backend implements the optional `sendSignal()` and
   * `receiveSignal()`.
   *
   * @default {true}
   */
  signals?: boolean;
  /**
   * The backend implements the optional schedule methods: `now()`,
   * `createSchedule()`, `getSchedule()`, `listSchedules()`,
   * `updateSchedule()`, `deleteSchedule()`, `listDueSchedules()` and
   * `fireSchedule()`.
   *
   * @default {true}
   */
  schedules?: boolean;
  /**
   * The backend implements the optional operators' methods:
   * `retryWorkflowRun()`, `forkWorkflowRun()`, `deleteWorkflowRuns()`,
   * `acquireMaintenanceLock()` and `releaseMaintenanceLock()`.
   *
   * @default {true}
   */
  operations?: boolean;
  /**
   * The backend implements the optional read-only methods for operators:
   * `countWorkflowRuns()`, `getQueueStatistics()` and `listSignals()`.
   *
   * @default {true}
   */
  inspection?: boolean;
  /**
   * The backend implements the optional `getNextAvailableAt()`.
   *
   * @default {true}
   */
  nextAvailableAt?: boolean;
  /**
   * The backend implements the optional
   * `markWorkflowRunSucceededWithSteps()`.
   *
   * @default {true}
   */
  succeedWithSteps?: boolean;
}

/** What a conformance case receives. */
export interface CaseContext {
  /** A backend in a fresh random namespace. */
  backend: Backend;
  /** The backend's namespace. */
  namespaceId: string;
  /** Connects another backend on the same store, stopped after the case. */
  connect(namespaceId: string): Promise<Backend>;
}

/** Declares one case, with the capabilities it needs. */
export type DefineCase = (
  name: string,
  fn: (context: CaseContext) => Promise<void>,
  needs?: readonly (keyof BackendCapabilities)[],
) => void;

/** A random namespace id for one case. */
export function randomNamespace(): string {
  return `conformance-${crypto.randomUUID()}`;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
