/**
 * The Postgres wake-up paths: notifications wake workers and `result()`
 * across processes, and when notifications are off or their connection
 * drops, polling still completes every run.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
} from "../helpers.ts";
import { viewOf } from "../unit/worker/backends.ts";

const ignore = postgresTarget.unavailable !== null;

async function pair(listen: boolean) {
  const namespaceId = randomNamespace();
  const workerBackend = await BackendPostgres.connect(DATABASE_URL, {
    namespaceId,
    listen,
  });
  const clientBackend = await BackendPostgres.connect(DATABASE_URL, {
    namespaceId,
    listen,
  });
  const define = (ow: OpenWorkflow) =>
    ow.defineWorkflow(
      { name: "ping" },
      async ({ step }) => await step.run({ name: "pong" }, () => "pong"),
    );
  const workerSide = new OpenWorkflow({ backend: workerBackend });
  define(workerSide);
  const client = new OpenWorkflow({ backend: clientBackend });
  return {
    client,
    ping: define(client),
    workerSide,
    async close() {
      await workerBackend.stop();
      await clientBackend.stop();
    },
  };
}

Deno.test({
  name: "notifications wake a worker and result() in another process at once",
  ignore,
  async fn() {
    const { ping, workerSide, close } = await pair(true);
    // Polls so rare that only a notification can finish in time.
    const worker = workerSide.newWorker({
      pollIntervalMs: 60_000,
      fallbackPollIntervalMs: 60_000,
    });
    await worker.start();
    try {
      await delay(200); // the worker has polled once and is idle
      const handle = await ping.run();
      assert.equal(
        await handle.result({
          timeoutMs: 10_000,
          pollIntervalMs: 60_000,
          fallbackPollIntervalMs: 60_000,
        }),
        "pong",
      );
    } finally {
      await worker.stop();
      await close();
    }
  },
});

Deno.test({
  name: "without notifications, polling completes runs and results",
  ignore,
  async fn() {
    const { ping, workerSide, close } = await pair(false);
    const worker = workerSide.newWorker({ pollIntervalMs: 50 });
    await worker.start();
    try {
      const handles = await Promise.all([ping.run(), ping.run(), ping.run()]);
      for (const handle of handles) {
        assert.equal(
          await handle.result({ timeoutMs: 10_000, pollIntervalMs: 100 }),
          "pong",
        );
      }
    } finally {
      await worker.stop();
      await close();
    }
  },
});

Deno.test({
  name: "a dropped listening connection falls back to polling, then reconnects",
  ignore,
  async fn() {
    const { ping, workerSide, close } = await pair(true);
    const worker = workerSide.newWorker({
      pollIntervalMs: 50,
      fallbackPollIntervalMs: 300,
    });
    await worker.start();
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      assert.equal(
        await (await ping.run()).result({ timeoutMs: 10_000 }),
        "pong",
      );
      const killed = await admin`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'openworkflow-listener' AND pid <> pg_backend_pid()`;
      assert.ok(killed.length >= 1);
      // Runs started while the listener is gone or reconnecting still finish.
      const handles = await Promise.all([ping.run(), ping.run()]);
      for (const handle of handles) {
        assert.equal(
          await handle.result({
            timeoutMs: 15_000,
            pollIntervalMs: 100,
            fallbackPollIntervalMs: 300,
          }),
          "pong",
        );
      }
      // And the listener comes back.
      let back = false;
      for (let i = 0; i < 100 && !back; i++) {
        const rows = await admin`
          SELECT 1 FROM pg_stat_activity WHERE application_name = 'openworkflow-listener'`;
        back = rows.length > 0;
        if (!back) await delay(100);
      }
      assert.ok(back, "the listening connection reconnected");
      assert.equal(
        await (await ping.run()).result({ timeoutMs: 10_000 }),
        "pong",
      );
    } finally {
      await admin.end();
      await worker.stop();
      await close();
    }
  },
});

Deno.test({
  name:
    "under light load, a worker claims once per run announced: a run that ends sends no claim",
  ignore,
  async fn() {
    const { ping, workerSide, close } = await pair(true);
    // The worker's backend, counting its calls.
    const { backend: counted, calls } = viewOf(workerSide.backend);
    const counting = new OpenWorkflow({ backend: counted });
    counting.defineWorkflow(
      { name: "ping" },
      async ({ step }) => await step.run({ name: "pong" }, () => "pong"),
    );
    // Polls so rare that every claim answers a notification or a run's end.
    const worker = counting.newWorker({
      concurrency: 10,
      pollIntervalMs: 60_000,
      fallbackPollIntervalMs: 60_000,
    });
    await worker.start();
    try {
      await delay(200); // the worker has claimed once and is idle
      const claims = () => calls.get("claimWorkflowRuns")?.length ?? 0;
      const before = claims();
      const runs = 8;
      for (let i = 0; i < runs; i++) {
        const handle = await ping.run();
        assert.equal(await handle.result({ timeoutMs: 10_000 }), "pong");
      }
      await delay(200); // a claim after the last run's end would be made now
      const made = claims() - before;
      // One per run; a notification that arrives while a claim is in flight
      // may add one. A claim per run that ended would make it twice as many.
      assert.ok(made >= runs, `${made} claims for ${runs} runs`);
      assert.ok(made <= runs + 2, `${made} claims for ${runs} runs`);
    } finally {
      await worker.stop();
      await close();
    }
  },
});
