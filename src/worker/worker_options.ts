/**
 * The checks of a `Worker`'s options, and the configuration they make:
 * the options validated, with the defaults filled in.
 *
 * @module
 */

import type { Backend, WorkflowSelector } from "../core/backend.ts";
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_FALLBACK_POLL_INTERVAL_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_POLL_INTERVAL_MS,
} from "../core/defaults.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../core/limits.ts";
import {
  DEFAULT_WORKFLOW_RETRY_POLICY,
  resolveRetryPolicy,
  type RetryPolicy,
} from "../core/retry.ts";
import {
  checkName,
  checkPositiveInteger,
  checkPositiveMs,
  received,
} from "../core/validate.ts";
import type { WorkerOptions, WorkerWorkflow } from "./worker.ts";

/** A workflow the worker executes, its retry policy resolved. */
export interface RegisteredWorkflow {
  fn: WorkerWorkflow["fn"];
  retry: Required<RetryPolicy>;
}

/** A worker's options, checked, with the defaults filled in. */
export interface WorkerConfig {
  backend: Backend;
  /** The workflows by {@linkcode workflowKey}. */
  workflows: Map<string, RegisteredWorkflow>;
  /** The workflows, as the claim names them. */
  selectors: WorkflowSelector[];
  concurrency: number;
  leaseDurationMs: number;
  pollIntervalMs: number;
  fallbackPollIntervalMs: number;
  maxPayloadBytes: number;
  workerId: string;
}

/**
 * Checks the options of the `Worker` constructor and fills in the
 * defaults.
 *
 * @throws {TypeError} for a missing backend or workflows.
 * @throws {RangeError} for a non-positive-integer `concurrency` or other
 * invalid numbers.
 */
export function resolveWorkerOptions(options: WorkerOptions): WorkerConfig {
  const what = "create worker";
  if (options?.backend === null || typeof options?.backend !== "object") {
    throw new TypeError(
      `Cannot ${what}: 'backend' must be a Backend, received ${
        received(options?.backend)
      }`,
    );
  }
  if (!Array.isArray(options.workflows)) {
    throw new TypeError(
      `Cannot ${what}: 'workflows' must be an array of workflow definitions, received ${
        received(options.workflows)
      }`,
    );
  }
  const workflows = new Map<string, RegisteredWorkflow>();
  for (const [index, workflow] of options.workflows.entries()) {
    checkWorkerWorkflow(workflow, index, what);
    if (workflows.has(workflowKey(workflow.name, workflow.version ?? null))) {
      throw new TypeError(
        `Cannot ${what}: 'workflows' lists workflow '${workflow.name}'${
          workflow.version == null ? "" : ` version '${workflow.version}'`
        } twice`,
      );
    }
    workflows.set(workflowKey(workflow.name, workflow.version ?? null), {
      fn: workflow.fn,
      retry: resolveRetryPolicy(
        workflow.retry,
        DEFAULT_WORKFLOW_RETRY_POLICY,
        `workflow '${workflow.name}'`,
      ),
    });
  }
  return {
    backend: options.backend,
    workflows,
    selectors: options.workflows.map(({ name, version }) => ({
      name,
      version: version ?? null,
    })),
    concurrency: options.concurrency === undefined
      ? DEFAULT_CONCURRENCY
      : checkPositiveInteger(options.concurrency, what, "concurrency"),
    leaseDurationMs: options.leaseDurationMs === undefined
      ? DEFAULT_LEASE_DURATION_MS
      : checkPositiveMs(options.leaseDurationMs, what, "leaseDurationMs"),
    pollIntervalMs: options.pollIntervalMs === undefined
      ? DEFAULT_POLL_INTERVAL_MS
      : checkPositiveMs(options.pollIntervalMs, what, "pollIntervalMs"),
    fallbackPollIntervalMs: options.fallbackPollIntervalMs === undefined
      ? DEFAULT_FALLBACK_POLL_INTERVAL_MS
      : checkPositiveMs(
        options.fallbackPollIntervalMs,
        what,
        "fallbackPollIntervalMs",
      ),
    maxPayloadBytes: options.maxPayloadBytes === undefined
      ? DEFAULT_MAX_PAYLOAD_BYTES
      : checkPositiveInteger(options.maxPayloadBytes, what, "maxPayloadBytes"),
    workerId: options.workerId === undefined
      ? crypto.randomUUID()
      : checkName(options.workerId, what, "workerId"),
  };
}

/** Checks one entry of `workflows`: a definition or its likeness. */
function checkWorkerWorkflow(
  workflow: WorkerWorkflow,
  index: number,
  what: string,
): void {
  const argument = `workflows[${index}]`;
  if (workflow === null || typeof workflow !== "object") {
    throw new TypeError(
      `Cannot ${what}: '${argument}' must be a workflow definition, received ${
        received(workflow)
      }`,
    );
  }
  checkName(workflow.name, what, `${argument}.name`);
  if (typeof workflow.fn !== "function") {
    throw new TypeError(
      `Cannot ${what}: '${argument}.fn' must be a function, received ${
        received(workflow.fn)
      }`,
    );
  }
  if (workflow.version != null && typeof workflow.version !== "string") {
    throw new TypeError(
      `Cannot ${what}: '${argument}.version' must be a string, null or undefined, received ${
        received(workflow.version)
      }`,
    );
  }
}

/** The key of a workflow (and version) among a worker's workflows. */
export function workflowKey(name: string, version: string | null): string {
  return version === null ? name : `${name}\u0000${version}`;
}
