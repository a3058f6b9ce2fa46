/**
 * A run canceled by another process, on backends with and without
 * notifications: the running step's signal aborts with
 * `WorkflowCanceledError` soon, not at the next heartbeat, and not with
 * `LeaseLostError`.
 */

import assert from "node:assert/strict";
import type { BackendSqlite } from "../../backend_sqlite.ts";
import {
  type Backend,
  OpenWorkflow,
  type WorkerOptions,
  WorkflowCanceledError,
  type WorkflowRunHandle,
} from "../../mod.ts";
import {
  type BackendTarget,
  postgresTarget,
  postgresUnlistenedTarget,
  sqliteFileTarget,
  testBackend,
  type TestStore,
} from "../helpers.ts";

const CANCEL_SCRIPT = new URL("../fixtures/cancel_run.ts", import.meta.url);

/**
 * How long a test waits for the step's signal before it fails. The leases
 * of the tests that wait for a status check are far longer (their first
 * heartbeat comes after 200 s).
 */
const ABORT_WAIT_MS = 10_000;

/** A worker executing one run whose step waits for its signal. */
interface Scene {
  handle: WorkflowRunHandle<void>;
  /** Resolves with the step signal's abort reason. */
  aborted: Promise<unknown>;
  /** Ends the step, aborted or not. */
  release: () => void;
  /** How often the step after the waiting one ran. */
  nextSteps: () => number;
  /** The errors of the worker's `lease-lost` events. */
  lost: unknown[];
  stop: () => Promise<void>;
}

async function startWaitingStep(
  backend: Backend,
  workerOptions: Omit<WorkerOptions, "backend" | "workflows">,
): Promise<Scene> {
  const ow = new OpenWorkflow({ backend });
  const inStep = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<unknown>();
  const released = Promise.withResolvers<void>();
  let nextSteps = 0;
  const wf = ow.defineWorkflow({ name: "waits" }, async ({ step }) => {
    await step.run({ name: "wait" }, ({ signal }) => {
      signal.addEventListener("abort", () => {
        aborted.resolve(signal.reason);
        released.resolve();
      }, { once: true });
      inStep.resolve();
      return released.promise;
    });
    await step.run({ name: "next" }, () => nextSteps++);
  });
  const handle = await wf.run();
  const worker = ow.newWorker(workerOptions);
  const lost: unknown[] = [];
  worker.addEventListener("lease-lost", (event) => lost.push(event.error));
  await worker.start();
  await inStep.promise;
  return {
    handle,
    aborted: aborted.promise,
    release: () => released.resolve(),
    nextSteps: () => nextSteps,
    lost,
    stop: () => worker.stop(),
  };
}

/** Settles like `promise`, or rejects once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`the step's signal was not aborted in ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the step's abort, then checks the run stopped as canceled. */
async function assertStoppedAsCanceled(scene: Scene): Promise<void> {
  try {
    const reason = await within(scene.aborted, ABORT_WAIT_MS);
    assert.ok(
      reason instanceof WorkflowCanceledError,
      `aborted with ${reason}`,
    );
    assert.equal(reason.workflowRunId, scene.handle.id);
  } finally {
    scene.release();
    await scene.stop();
  }
  assert.equal(scene.nextSteps(), 0);
  assert.equal((await scene.handle.refresh()).status, "canceled");
  assert.equal(scene.lost.length, 1);
  assert.ok(
    scene.lost[0] instanceof WorkflowCanceledError,
    `lease-lost with ${scene.lost[0]}`,
  );
}

/** A backend that lacks the optional `getWorkflowRunStatuses`. */
function withoutStatuses(backend: Backend): Backend {
  return new Proxy(backend, {
    get(target, property) {
      if (property === "getWorkflowRunStatuses") return undefined;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const everyKind: [BackendTarget, string, (b: Backend) => Backend][] = [
  [postgresTarget, "", (b) => b],
  [postgresUnlistenedTarget, "", (b) => b],
  [sqliteFileTarget, "", (b) => b],
  [sqliteFileTarget, " (no getWorkflowRunStatuses)", withoutStatuses],
];

/** Cancels the run through a client on a backend connected apart. */
async function cancelFromAnotherClient(
  store: TestStore,
  namespaceId: string,
  workflowRunId: string,
): Promise<void> {
  const remote = new OpenWorkflow({
    backend: await store.connect(namespaceId),
  });
  await remote.cancelRun(workflowRunId);
}

for (const [target, variant, wrap] of everyKind) {
  testBackend(
    target,
    `a run canceled by another client aborts its running step with WorkflowCanceledError before any heartbeat${variant}`,
    async ({ backend, store, namespaceId }) => {
      const scene = await startWaitingStep(wrap(backend), {
        leaseDurationMs: 600_000,
        pollIntervalMs: 20,
      });
      await cancelFromAnotherClient(store, namespaceId, scene.handle.id);
      await assertStoppedAsCanceled(scene);
    },
  );
}

for (const target of [postgresUnlistenedTarget, sqliteFileTarget]) {
  testBackend(
    target,
    "a heartbeat refused because the run was canceled aborts the step with WorkflowCanceledError",
    async ({ backend, store, namespaceId }) => {
      // Heartbeats every 300 ms; statuses read only every minute.
      const scene = await startWaitingStep(backend, {
        leaseDurationMs: 900,
        pollIntervalMs: 60_000,
      });
      await cancelFromAnotherClient(store, namespaceId, scene.handle.id);
      await assertStoppedAsCanceled(scene);
    },
  );
}

for (const target of [postgresUnlistenedTarget, sqliteFileTarget]) {
  testBackend(
    target,
    "a step write refused because the run was canceled reports lease-lost with WorkflowCanceledError",
    async ({ backend, store, namespaceId }) => {
      // No heartbeat, and no status read, before the step ends.
      const scene = await startWaitingStep(backend, {
        leaseDurationMs: 600_000,
        pollIntervalMs: 60_000,
      });
      await cancelFromAnotherClient(store, namespaceId, scene.handle.id);
      scene.release();
      await scene.stop(); // the execution ends with the refused write
      assert.equal(scene.nextSteps(), 0);
      assert.equal(scene.lost.length, 1);
      assert.ok(
        scene.lost[0] instanceof WorkflowCanceledError,
        `lease-lost with ${scene.lost[0]}`,
      );
    },
  );
}

testBackend(
  sqliteFileTarget,
  "a run canceled by another process aborts its running step with WorkflowCanceledError",
  async ({ backend, namespaceId }) => {
    const scene = await startWaitingStep(backend, {
      leaseDurationMs: 600_000,
      pollIntervalMs: 20,
    });
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        CANCEL_SCRIPT.href,
        (backend as BackendSqlite).path,
        namespaceId,
        scene.handle.id,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout).trim(), "canceled");
    await assertStoppedAsCanceled(scene);
  },
);
