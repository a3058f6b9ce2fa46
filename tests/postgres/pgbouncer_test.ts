/**
 * Postgres through PgBouncer in transaction pooling mode, as people commonly
 * configure it: `connect()` finds the pooler by itself (it refuses the
 * session settings, or drops them when told to ignore them), sends one
 * statement at a time with no named prepared statements, LISTENs only over
 * `listenUrl`, and every feature works. (The whole engine suite and a chaos
 * run also run through PgBouncer: the `postgres via pgbouncer` target.)
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, postgresPgbouncerTarget } from "../helpers.ts";
import { pgbouncerUrl, startPgbouncer } from "../pgbouncer.ts";

const ignore = postgresPgbouncerTarget.unavailable !== null;

/** A multi-step workflow with a sleep, a signal and a child. */
function defineShop(ow: OpenWorkflow) {
  const child = ow.defineWorkflow<number, number>(
    { name: "pgb-child" },
    async ({ input, step }) =>
      await step.run({ name: "double" }, () => input * 2),
  );
  const parent = ow.defineWorkflow<number, string>(
    { name: "pgb-parent" },
    async ({ input, step }) => {
      const a = await step.run({ name: "a" }, () => input);
      await step.sleep("nap", 20);
      const doubled = await step.runWorkflow(child, a);
      const signal = await step.waitForSignal<string>({
        signal: "go",
        timeout: "10s",
      });
      return `${doubled}:${signal?.data ?? "none"}`;
    },
  );
  return { child, parent };
}

Deno.test({
  name:
    "[postgres via pgbouncer] two workers sharing 40 runs through PgBouncer finish them all, with signals, sleeps and children",
  ignore,
  async fn() {
    const url = await pgbouncerUrl();
    const namespaceId = `pgb-${crypto.randomUUID()}`;
    // As a new user would: the pooler's URL, no options.
    const backends = await Promise.all(
      [0, 1].map(() => BackendPostgres.connect(url, { namespaceId })),
    );
    try {
      const clients = backends.map((backend) => new OpenWorkflow({ backend }));
      const shops = clients.map(defineShop);
      const workers = clients.map((ow) =>
        ow.newWorker({ concurrency: 10, pollIntervalMs: 20 })
      );
      await Promise.all(workers.map((w) => w.start()));
      try {
        const handles = await Promise.all(
          Array.from({ length: 40 }, (_, i) => shops[i % 2].parent.run(i)),
        );
        // Each run gets its signal (kept until it waits for it).
        for (const handle of handles) await handle.sendSignal("go", "yes");
        const results = await Promise.all(
          handles.map((h) => h.result({ timeoutMs: 30_000 })),
        );
        assert.deepEqual(
          results,
          Array.from({ length: 40 }, (_, i) => `${i * 2}:yes`),
        );
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
      // Without a direct connection named, nothing LISTENs through the
      // pooler (notifications would be lost there): the backends poll.
      assert.equal(await backends[0].probeNotifications(500), false);
    } finally {
      await Promise.all(backends.map((b) => b.stop()));
    }
  },
});

Deno.test({
  name:
    "[postgres via pgbouncer] with listenUrl, notifications go over the direct connection and wake waiters at once",
  ignore,
  async fn() {
    const url = await pgbouncerUrl();
    const backend = await BackendPostgres.connect(url, {
      namespaceId: `pgb-${crypto.randomUUID()}`,
      pooler: "transaction",
      listenUrl: DATABASE_URL,
    });
    try {
      assert.equal(await backend.probeNotifications(), true);
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "pgb-quick" }, () => "ok");
      // A slow poll: only a notification wakes the worker quickly.
      const worker = ow.newWorker({ pollIntervalMs: 10_000 });
      await worker.start();
      try {
        const started = performance.now();
        assert.equal(await (await wf.run()).result({ timeoutMs: 5_000 }), "ok");
        assert.ok(performance.now() - started < 5_000);
      } finally {
        await worker.stop();
      }
    } finally {
      await backend.stop();
    }
  },
});

Deno.test({
  name:
    "[postgres via pgbouncer] a pooler told to ignore the session settings is found by the settings it dropped",
  ignore,
  async fn() {
    // Set up "by hand" as the error message suggests to some users.
    const url = await startPgbouncer([
      "extra_float_digits",
      "jit",
      "plan_cache_mode",
    ]);
    const backend = await BackendPostgres.connect(url, {
      namespaceId: `pgb-${crypto.randomUUID()}`,
    });
    try {
      const ow = new OpenWorkflow({ backend });
      const { parent } = defineShop(ow);
      const worker = ow.newWorker({ concurrency: 20, pollIntervalMs: 20 });
      await worker.start();
      try {
        const handles = await Promise.all(
          Array.from({ length: 20 }, (_, i) => parent.run(i)),
        );
        await Promise.all(handles.map((h) => h.sendSignal("go", "ok")));
        const results = await Promise.all(
          handles.map((h) => h.result({ timeoutMs: 30_000 })),
        );
        assert.deepEqual(
          results,
          Array.from({ length: 20 }, (_, i) => `${i * 2}:ok`),
        );
      } finally {
        await worker.stop();
      }
    } finally {
      await backend.stop();
    }
  },
});

Deno.test({
  name:
    "[postgres via pgbouncer] a bad pooler or listenUrl option is a TypeError, before anything connects",
  ignore,
  async fn() {
    const url = await pgbouncerUrl();
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      BackendPostgres.connect(url, { pooler: "session" as any }),
      /'pooler' must be "transaction"/,
    );
    await assert.rejects(
      BackendPostgres.connect(url, { listenUrl: "mysql://elsewhere/db" }),
      /'listenUrl' must be a postgres:\/\/ or postgresql:\/\/ URL/,
    );
  },
});
