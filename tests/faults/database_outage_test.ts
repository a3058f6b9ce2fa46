/**
 * Postgres unreachable at `connect()`, or going away mid-operation: typed
 * errors, automatic recovery where it is safe, no half-written state. The
 * outages come from a breakable TCP proxy in front of the test server, so
 * the shared server itself is never disturbed.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { BackendError, OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
} from "../helpers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

const ignore = postgresTarget.unavailable !== null;

/** A local port with nothing listening on it. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = "127.0.0.1";
  parsed.port = String(port);
  return parsed.toString();
}

Deno.test({
  name:
    "BackendPostgres.connect() rejects with BackendError when nothing listens",
  ignore,
  async fn() {
    const startedAt = performance.now();
    const error = await BackendPostgres.connect(
      withPort(DATABASE_URL, closedPort()),
      { namespaceId: randomNamespace() },
    ).then(() => null, (e) => e);
    assert.ok(error instanceof BackendError, `got ${error}`);
    assert.ok(error.cause !== undefined);
    assert.ok(performance.now() - startedAt < 5_000, "fails fast");
  },
});

Deno.test({
  // BUG: BackendPostgres.connect() never settles when the server accepts
  // TCP connections and closes them at once (a proxy, pgbouncer or
  // port-forward whose database is down): postgres.js reconnects in a
  // tight loop (hundreds of connections a second) and its connect_timeout
  // covers only one attempt, so `migrate()` in connect()
  // (src/postgres/backend.ts) waits forever. Fix: bound connect() by its
  // own deadline (e.g. race migrate() against connect_timeout, then
  // `sql.end()` and throw BackendError).
  ignore: true,
  name:
    "BackendPostgres.connect() rejects with BackendError when the server hangs up at once",
  async fn() {
    const proxy = TcpProxy.start();
    proxy.down = true;
    const connecting = BackendPostgres.connect(proxy.url, {
      namespaceId: randomNamespace(),
    }).then((backend) => backend.stop().then(() => null), (e) => e);
    try {
      const error = await Promise.race([connecting, delay(15_000)]);
      assert.ok(error instanceof BackendError, `got ${error}`);
      assert.ok(proxy.accepted < 100, `${proxy.accepted} connection attempts`);
    } finally {
      await proxy.close(); // makes a pending connect() fail at last
      await connecting;
    }
  },
});

Deno.test({
  name:
    "BackendPostgres.connect() rejects with BackendError for a missing database or host",
  ignore,
  async fn() {
    const missing = new URL(DATABASE_URL);
    missing.pathname = `/owchaos_missing_${crypto.randomUUID().slice(0, 8)}`;
    for (
      const url of [
        missing.toString(),
        "postgresql://postgres@nohost.invalid:5432/test",
      ]
    ) {
      const error = await BackendPostgres.connect(url).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof BackendError, `${url}: got ${error}`);
      assert.ok(error.cause !== undefined);
    }
  },
});

Deno.test({
  name: "a backend whose idle connections were cut reconnects on its next call",
  ignore,
  async fn() {
    const proxy = TcpProxy.start();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId: randomNamespace(),
      maxConnections: 2,
    });
    try {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "idle-cut" }, () => 1);
      const handle = await wf.run();
      proxy.cut();
      await delay(50);
      const run = await backend.getWorkflowRun({ workflowRunId: handle.id });
      assert.equal(run?.id, handle.id);
      assert.equal((await wf.run()).workflowRun.status, "pending");
    } finally {
      await backend.stop();
      await proxy.close();
    }
  },
});

Deno.test({
  name: "a worker keeps going through a database outage and finishes every run",
  ignore,
  async fn() {
    const proxy = TcpProxy.start();
    const namespaceId = randomNamespace();
    // The worker reaches the database through the proxy; the client does not.
    const workerBackend = await BackendPostgres.connect(proxy.url, {
      namespaceId,
      maxConnections: 4,
    });
    const clientBackend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
      maxConnections: 2,
    });
    const calls = new Map<string, number>();
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow<number, number>(
        { name: "outage" },
        async ({ input, step, run }) => {
          let total = input;
          for (let i = 0; i < 6; i++) {
            total = await step.run({
              name: `add-${i}`,
              retry: { maxAttempts: 20, initialIntervalMs: 50 },
            }, async () => {
              const key = `${run.id}:add-${i}`;
              calls.set(key, (calls.get(key) ?? 0) + 1);
              await delay(60);
              return total + i;
            });
          }
          return total;
        },
      );
    const worker = new OpenWorkflow({ backend: workerBackend });
    define(worker);
    const client = new OpenWorkflow({ backend: clientBackend });
    const wf = define(client);
    const w = worker.newWorker({
      concurrency: 10,
      leaseDurationMs: 1_000,
      pollIntervalMs: 50,
    });
    try {
      const handles = await Promise.all(
        Array.from({ length: 10 }, (_, i) => wf.run(i * 100)),
      );
      await w.start();
      await delay(300);
      await proxy.outage(1_000, "refuse");
      await delay(200);
      await proxy.outage(1_000, "hang-up");
      const results = await Promise.all(
        handles.map((h) =>
          h.result({ timeoutMs: 30_000, pollIntervalMs: 100 })
        ),
      );
      assert.deepEqual(results, handles.map((_, i) => i * 100 + 15));
      for (const handle of handles) {
        const attempts = await handle.listStepAttempts();
        for (let i = 0; i < 6; i++) {
          const mine = attempts.filter((a) => a.stepName === `add-${i}`);
          const succeeded = mine.findIndex((a) => a.status === "succeeded");
          assert.ok(succeeded >= 0, `add-${i} succeeded`);
          assert.equal(
            mine.length - 1,
            succeeded,
            `add-${i} was not attempted again after it succeeded`,
          );
          assert.equal(mine.filter((a) => a.status === "succeeded").length, 1);
        }
      }
      assert.ok(proxy.accepted > 4, "the worker reconnected");
    } finally {
      await w.stop();
      await workerBackend.stop();
      await clientBackend.stop();
      await proxy.close();
    }
  },
});

Deno.test({
  name:
    "a run started while its response is lost is not duplicated by a retry with the same idempotency key",
  ignore,
  async fn() {
    const proxy = TcpProxy.start();
    const namespaceId = randomNamespace();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId,
      maxConnections: 1,
      listen: false,
    });
    const observer = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
      maxConnections: 1,
      listen: false,
    });
    try {
      const wf = new OpenWorkflow({ backend }).defineWorkflow(
        { name: "lost-response" },
        () => 1,
      );
      const observed = new OpenWorkflow({ backend: observer });
      // The same statement once before, so that the connection has it
      // prepared and sends it whole without waiting for the server.
      const warmUp = await wf.run({ n: 0 }, { idempotencyKey: "order-0" });
      proxy.swallowResponses = true;
      const first = wf.run({ n: 1 }, { idempotencyKey: "order-1" }).then(
        () => null,
        (e) => e,
      );
      // The server commits; the client never hears of it.
      for (let i = 0; i < 100; i++) {
        if ((await observed.listRuns()).runs.length > 1) break;
        await delay(20);
      }
      assert.equal((await observed.listRuns()).runs.length, 2);
      proxy.cut();
      proxy.swallowResponses = false;
      const error = await first;
      assert.ok(error !== null, "the lost call rejects");
      const again = await wf.run({ n: 1 }, { idempotencyKey: "order-1" });
      const runs = (await observed.listRuns()).runs;
      assert.deepEqual(
        runs.map((r) => r.id).sort(),
        [again.id, warmUp.id].sort(),
      );
      assert.deepEqual(again.workflowRun.input, { n: 1 });
    } finally {
      await backend.stop();
      await observer.stop();
      await proxy.close();
    }
  },
});

Deno.test({
  ignore,
  name:
    "a backend call that loses its connection mid-operation rejects with BackendError and changes nothing",
  async fn() {
    const proxy = TcpProxy.start();
    const namespaceId = randomNamespace();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId,
      maxConnections: 1,
      listen: false,
    });
    const locker = postgres(DATABASE_URL, {
      max: 1,
      onnotice: () => {},
      fetch_types: false,
    });
    try {
      const ow = new OpenWorkflow({ backend });
      const handle = await ow.defineWorkflow({ name: "locked" }, () => 1).run();
      const locked = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      // Another session holds the run's row, so the cancel below waits in
      // the database with its connection open.
      const holding = locker.begin(async (tx) => {
        await tx`SELECT 1 FROM openworkflow.workflow_runs
          WHERE id = ${handle.id} FOR UPDATE`;
        locked.resolve();
        await release.promise;
        throw new Error("roll back");
      }).catch(() => {});
      await locked.promise;
      const cancel = backend.cancelWorkflowRun({
        workflowRunId: handle.id,
        error: { name: "Error", message: "canceled" },
      }).then(() => null, (e) => e);
      await delay(200);
      proxy.cut();
      const error = await cancel;
      release.resolve();
      await holding;
      assert.ok(error instanceof BackendError, `got ${error?.name}: ${error}`);
      assert.ok(error.cause !== undefined);
      // One statement: the run is either untouched or fully canceled.
      const run = await backend.getWorkflowRun({ workflowRunId: handle.id });
      assert.ok(
        run?.status === "pending" ||
          (run?.status === "canceled" && run.error !== null &&
            run.completedAt !== null),
      );
    } finally {
      await backend.stop();
      await locker.end({ timeout: 1 });
      await proxy.close();
    }
  },
});
