/**
 * Details of the seed's API that no other test pins: the default values,
 * the default namespace, `await using` on the backends, a worker made with
 * `new Worker()`, and a step that outlasts its worker's lease.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import {
  BackendError,
  DEFAULT_CONCURRENCY,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_NAMESPACE_ID,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RESULT_POLL_INTERVAL_MS,
  DEFAULT_RESULT_TIMEOUT_MS,
  OpenWorkflow,
  Worker,
} from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
  testEachBackend,
} from "../helpers.ts";

const noPostgres = postgresTarget.unavailable !== null;

Deno.test("the six default constants have the seed's values", () => {
  assert.deepEqual(
    {
      DEFAULT_RESULT_POLL_INTERVAL_MS,
      DEFAULT_RESULT_TIMEOUT_MS,
      DEFAULT_LEASE_DURATION_MS,
      DEFAULT_POLL_INTERVAL_MS,
      DEFAULT_CONCURRENCY,
      DEFAULT_NAMESPACE_ID,
    },
    {
      DEFAULT_RESULT_POLL_INTERVAL_MS: 1000,
      DEFAULT_RESULT_TIMEOUT_MS: 300000,
      DEFAULT_LEASE_DURATION_MS: 30000,
      DEFAULT_POLL_INTERVAL_MS: 100,
      DEFAULT_CONCURRENCY: 1,
      DEFAULT_NAMESPACE_ID: "default",
    },
  );
});

Deno.test({
  name:
    'BackendPostgres stores runs in the namespace "default" unless told otherwise, invisible from other namespaces',
  ignore: noPostgres,
  async fn() {
    // A schema of its own, so that no other test's "default" runs are seen.
    const schema = `ow_test_${
      crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    }`;
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const options = { schema, maxConnections: 2, listen: false };
      await using implicit = await BackendPostgres.connect(
        DATABASE_URL,
        options,
      );
      await using named = await BackendPostgres.connect(DATABASE_URL, {
        ...options,
        namespaceId: "default",
      });
      await using other = await BackendPostgres.connect(DATABASE_URL, {
        ...options,
        namespaceId: "other",
      });
      assert.equal(implicit.namespaceId, "default");

      const ow = new OpenWorkflow({ backend: implicit });
      const wf = ow.defineWorkflow({ name: "where" }, () => "done");
      const handle = await wf.run();
      const [row] = await admin.unsafe(
        `SELECT namespace_id FROM ${schema}.workflow_runs WHERE id = $1`,
        [handle.id],
      );
      assert.equal(row.namespace_id, "default");
      assert.equal(
        (await named.getWorkflowRun({ workflowRunId: handle.id }))?.id,
        handle.id,
      );

      assert.equal(
        await other.getWorkflowRun({ workflowRunId: handle.id }),
        null,
      );
      assert.deepEqual((await other.listWorkflowRuns({ limit: 10 })).runs, []);
      const otherOw = new OpenWorkflow({ backend: other });
      otherOw.defineWorkflow({ name: "where" }, () => "taken");
      assert.equal(await otherOw.newWorker().tick(), 0);

      assert.equal(await ow.newWorker().tick(), 1);
      assert.equal(await handle.result(), "done");
    } finally {
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  },
});

Deno.test('BackendSqlite stores runs in the namespace "default" unless told otherwise, invisible from other namespaces', async () => {
  const uri =
    `file:openworkflow-${crypto.randomUUID()}?mode=memory&cache=shared`;
  await using implicit = await BackendSqlite.connect(uri);
  await using named = await BackendSqlite.connect(uri, {
    namespaceId: "default",
  });
  await using other = await BackendSqlite.connect(uri, {
    namespaceId: "other",
  });
  assert.equal(implicit.namespaceId, "default");
  const ow = new OpenWorkflow({ backend: implicit });
  const handle = await ow.defineWorkflow({ name: "where" }, () => "done").run();
  assert.equal(
    (await named.getWorkflowRun({ workflowRunId: handle.id }))?.id,
    handle.id,
  );
  assert.equal(await other.getWorkflowRun({ workflowRunId: handle.id }), null);
  assert.deepEqual((await other.listWorkflowRuns({ limit: 10 })).runs, []);
});

Deno.test({
  name: "await using closes a BackendPostgres at the end of its block",
  ignore: noPostgres,
  async fn() {
    let closed: BackendPostgres | undefined;
    {
      await using backend = await BackendPostgres.connect(DATABASE_URL, {
        namespaceId: randomNamespace(),
      });
      closed = backend;
      const id = crypto.randomUUID();
      assert.equal(await backend.getWorkflowRun({ workflowRunId: id }), null);
    }
    await assert.rejects(
      closed.getWorkflowRun({ workflowRunId: crypto.randomUUID() }),
      BackendError,
    );
  },
});

Deno.test("await using closes a BackendSqlite at the end of its block", async () => {
  let closed: BackendSqlite | undefined;
  {
    await using backend = await BackendSqlite.connect(":memory:");
    closed = backend;
    const id = crypto.randomUUID();
    assert.equal(await backend.getWorkflowRun({ workflowRunId: id }), null);
  }
  await assert.rejects(
    closed.getWorkflowRun({ workflowRunId: crypto.randomUUID() }),
    BackendError,
  );
});

testEachBackend(
  "a worker made with new Worker({ backend, workflows, concurrency }) executes runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const square = ow.defineWorkflow<number, number>(
      { name: "square" },
      async ({ input, step }) =>
        await step.run({ name: "square" }, () => input * input),
    );
    const worker = new Worker({
      backend,
      workflows: [square],
      concurrency: 2,
    });
    const handles = await Promise.all([2, 3, 4].map((n) => square.run(n)));
    // Two slots: one round claims two runs, the next the third.
    assert.equal(await worker.tick(), 2);
    assert.equal(await worker.tick(), 1);
    assert.deepEqual(
      await Promise.all(handles.map((h) => h.result())),
      [4, 9, 16],
    );
    await worker.start();
    try {
      const handle = await square.run(5);
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 25);
      assert.equal((await handle.refresh()).workerId, worker.id);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "heartbeats keep a step that outlasts the lease from being taken over",
  async ({ backend, store, namespaceId }) => {
    const leaseDurationMs = 1_000;
    let calls = 0;
    const started = Promise.withResolvers<void>();
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow(
        { name: "long-step" },
        async ({ step }) =>
          await step.run({ name: "slow" }, async () => {
            calls++;
            started.resolve();
            await delay(3 * leaseDurationMs);
            return "done";
          }),
      );
    const owA = new OpenWorkflow({ backend });
    const wf = define(owA);
    const workerA = owA.newWorker({ leaseDurationMs, pollIntervalMs: 20 });
    // A second worker, on a backend object of its own, polls all along
    // (lease expiries send no notification).
    const owB = new OpenWorkflow({ backend: await store.connect(namespaceId) });
    define(owB);
    const workerB = owB.newWorker({
      leaseDurationMs,
      pollIntervalMs: 20,
      fallbackPollIntervalMs: 20,
    });
    const handle = await wf.run();
    const tickA = workerA.tick();
    await started.promise;
    await workerB.start();
    try {
      assert.equal(await tickA, 1);
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "done");
    } finally {
      await workerB.stop();
    }
    assert.equal(calls, 1);
    const run = await handle.refresh();
    assert.equal(run.attempts, 1);
    assert.equal(run.workerId, workerA.id);
    const attempts = await handle.listStepAttempts();
    assert.deepEqual(attempts.map((a) => [a.stepName, a.status]), [
      ["slow", "succeeded"],
    ]);
  },
);
