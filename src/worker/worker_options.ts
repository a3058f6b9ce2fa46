/**
 * A `Worker`'s options, their checks, and the configuration they make:
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
import type { ScheduleConfig, WorkflowFunction } from "../core/workflow.ts";
import type { FlowControl } from "../core/flow_control.ts";

import {
  resolveRetention,
  type RetentionConfig,
  type RetentionOptions,
} from "./retention.ts";
/**
 * A workflow a worker can execute: what `OpenWorkflow.defineWorkflow()`
 * returns.
 *
 * @example
 * ```ts
 * import { OpenWorkflow, Worker, type WorkerWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const greet = ow.defineWorkflow({ name: "greet" }, () => "hello");
 * const workflows: WorkerWorkflow[] = [greet];
 * const worker = new Worker({ backend, workflows });
 * console.log(worker.activeCount); // 0
 * ```
 */
export interface WorkerWorkflow {
  /** The workflow's name. */
  readonly name: string;
  /** The workflow's version, or `null`. */
  readonly version: string | null;
  /** The workflow function. */
  readonly fn: WorkflowFunction<never, unknown>;
  /**
   * The workflow-level retry policy.
   * @default {DEFAULT_WORKFLOW_RETRY_POLICY}
   */
  readonly retry?: RetryPolicy;
  /**
   * A cron schedule the worker creates (or updates) when it starts, with
   * the workflow's name as its id.
   * @default {null}
   */
  readonly schedule?: ScheduleConfig | null;
  /**
   * The workflow's concurrency and rate limits, which the runs its
   * schedule starts keep to.
   * @default {undefined}
   */
  readonly flowControl?: FlowControl;
}

/**
 * Options of the {@linkcode Worker} constructor.
 */
export interface WorkerOptions {
  /** The backend to claim runs from. */
  backend: Backend;
  /** The workflows to execute; runs of other workflows are left alone. */
  workflows: readonly WorkerWorkflow[];
  /**
   * How many runs to execute at once.
   * @default {DEFAULT_CONCURRENCY}
   */
  concurrency?: number;
  /**
   * How long a claim lasts without a heartbeat; heartbeats renew it every
   * third of this.
   * @default {DEFAULT_LEASE_DURATION_MS}
   */
  leaseDurationMs?: number;
  /**
   * How often an idle worker looks for work when nothing wakes it sooner.
   * Without live notifications (SQLite, or Postgres with `listen: false`),
   * the worker also reads the status of the runs it holds, to stop those
   * canceled by another process, every this often but at most once a
   * second.
   * @default {DEFAULT_POLL_INTERVAL_MS}
   */
  pollIntervalMs?: number;
  /**
   * How often an idle worker looks for work while the backend's
   * notifications are live (they wake it at once; this is the safety net).
   * @default {DEFAULT_FALLBACK_POLL_INTERVAL_MS}
   */
  fallbackPollIntervalMs?: number;
  /**
   * The largest JSON text stored for an output or step result.
   * @default {DEFAULT_MAX_PAYLOAD_BYTES}
   */
  maxPayloadBytes?: number;
  /**
   * The worker's id, recorded on the runs it claims. It must be unique among
   * the workers sharing a database: writes to a run are fenced by the id of
   * the worker holding its lease, so two workers with one id could renew
   * and finish each other's runs. Leave it unset unless you need a stable,
   * unique name (e.g. `${hostname}-${pid}`).
   * @default {crypto.randomUUID()}
   */
  workerId?: string;
  /**
   * Deletes finished runs once they are older than a duration per status
   * (with their steps, signals and links), sweeping every `sweepEvery`;
   * one worker of the namespace sweeps at a time. Unfinished runs are never
   * deleted; a status without a duration is kept forever.
   * @default {undefined}
   */
  retention?: RetentionOptions;
}

/** A workflow the worker executes, its retry policy resolved. */
export interface RegisteredWorkflow {
  fn: WorkerWorkflow["fn"];
  retry: Required<RetryPolicy>;
  flowControl?: FlowControl;
}

/** A worker's options, checked, with the defaults filled in. */
export interface WorkerConfig {
  backend: Backend;
  /** The workflows by {@linkcode workflowKey}. */
  workflows: Map<string, RegisteredWorkflow>;
  /** The workflows, as the claim names them. */
  selectors: WorkflowSelector[];
  /** The schedules the workflows declare. */
  schedules: {
    name: string;
    version: string | null;
    schedule: ScheduleConfig;
  }[];
  concurrency: number;
  leaseDurationMs: number;
  pollIntervalMs: number;
  fallbackPollIntervalMs: number;
  maxPayloadBytes: number;
  workerId: string;
  retention: RetentionConfig | null;
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
      flowControl: workflow.flowControl,
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
    schedules: options.workflows.flatMap(({ name, version, schedule }) =>
      schedule == null ? [] : [{ name, version: version ?? null, schedule }]
    ),
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
    retention: resolveRetention(options.retention, what),
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
