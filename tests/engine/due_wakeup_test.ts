/**
 * A worker that starts learns when the runs created before it fall due
 * (`Backend.getNextAvailableAt`), and wakes then rather than at its next
 * poll; notifications coming back make it ask again.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import type { Backend, BackendNotification } from "../../backend.ts";
import { delay, testEachBackend } from "../helpers.ts";

/** Polls so rare that only a known due time explains a timely claim. */
const RARE_POLLS = { pollIntervalMs: 10_000, fallbackPollIntervalMs: 10_000 };

testEachBackend(
  "a worker started after a delayed run was created claims it at its due time, not its next poll",
  async ({ backend, store, namespaceId }) => {
    const client = new OpenWorkflow({ backend });
    const later = client.defineWorkflow({ name: "later" }, () => "done");
    const handle = await later.run(undefined, { availableAt: "1.5s" });
    const dueMs = handle.workflowRun.availableAt.getTime();
    const workerBackend = await store.connect(namespaceId);
    const workerSide = new OpenWorkflow({ backend: workerBackend });
    workerSide.defineWorkflow({ name: "later" }, () => "done");
    const worker = workerSide.newWorker(RARE_POLLS);
    let claimedAt = 0;
    worker.addEventListener("run-claimed", () => claimedAt = Date.now());
    await worker.start();
    try {
      assert.equal(
        await handle.result({ timeoutMs: 8_000, pollIntervalMs: 100 }),
        "done",
      );
      const lateMs = claimedAt - dueMs;
      assert.ok(
        lateMs < 2_000,
        `claimed ${lateMs} ms after its due time (polls every 10 s)`,
      );
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a worker asks when runs fall due once at start, not on every idle round",
  async ({ backend }) => {
    let asked = 0;
    const counting = new Proxy(backend, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (key === "getNextAvailableAt") {
          return (...args: unknown[]) => {
            asked++;
            return value.apply(target, args);
          };
        }
        return value.bind(target);
      },
    }) as Backend;
    const ow = new OpenWorkflow({ backend: counting });
    ow.defineWorkflow({ name: "idle" }, () => null);
    const worker = ow.newWorker({
      pollIntervalMs: 50,
      fallbackPollIntervalMs: 60_000,
    });
    await worker.start();
    try {
      await delay(600);
      // Without live notifications the poll covers due times: one ask at
      // start; with them, the 60 s fallback interval has not passed.
      assert.equal(asked, 1);
    } finally {
      await worker.stop();
    }
  },
);

Deno.test("a worker asks again when notifications come back after a gap", async () => {
  const { BackendSqlite } = await import("../../backend_sqlite.ts");
  const inner = await BackendSqlite.connect(":memory:");
  const listeners = new Set<(n: BackendNotification) => void>();
  let asked = 0;
  const backend = new Proxy(inner, {
    get(target, key) {
      if (key === "subscribe") {
        return (listener: (n: BackendNotification) => void) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        };
      }
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key === "getNextAvailableAt") {
        return (...args: unknown[]) => {
          asked++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  }) as Backend;
  const emit = (n: BackendNotification) => {
    for (const listener of [...listeners]) listener(n);
  };
  const ow = new OpenWorkflow({ backend });
  ow.defineWorkflow({ name: "later" }, () => "done");
  const worker = ow.newWorker(RARE_POLLS);
  try {
    emit({ kind: "listening", listening: true });
    await worker.start();
    await delay(200);
    assert.equal(asked, 1);
    emit({ kind: "listening", listening: false });
    // Created while notifications are down, as if by another process (no
    // wake-up in this one): only asking again finds it.
    const run = await inner.createWorkflowRun({
      workflowName: "later",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: new Date(Date.now() + 500),
      deadlineAt: null,
      idempotencyKey: null,
    });
    emit({ kind: "listening", listening: true });
    let status = "pending";
    const until = Date.now() + 3_000;
    while (status !== "succeeded" && Date.now() < until) {
      await delay(50);
      status = (await inner.getWorkflowRun({ workflowRunId: run.id }))!.status;
    }
    assert.equal(status, "succeeded");
    assert.ok(asked >= 2, `asked ${asked} times`);
  } finally {
    await worker.stop();
    await inner.stop();
  }
});
