/**
 * What `result()` callers, backend calls and the Postgres driver do when
 * connections are lost.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
} from "../helpers.ts";
import { TcpProxy, terminationMessage } from "./tcp_proxy.ts";

Deno.test({
  ignore: postgresTarget.unavailable !== null,
  name: "result() waits through a database outage and returns the result",
  async fn() {
    const proxy = TcpProxy.start();
    const namespaceId = randomNamespace();
    // The caller reaches the database through the proxy; the worker does not.
    // Polling (no LISTEN), so that the wait reads the run during the outage.
    const callerBackend = await BackendPostgres.connect(proxy.url, {
      namespaceId,
      maxConnections: 2,
      listen: false,
    });
    const workerBackend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
      maxConnections: 2,
    });
    const define = (ow: OpenWorkflow) =>
      ow.defineWorkflow({ name: "outlive" }, async ({ step }) => {
        await step.run({ name: "slow" }, () => delay(1_500));
        return "done";
      });
    const caller = new OpenWorkflow({ backend: callerBackend });
    const wf = define(caller);
    const owWorker = new OpenWorkflow({ backend: workerBackend });
    define(owWorker);
    const worker = owWorker.newWorker({ pollIntervalMs: 20 });
    try {
      const handle = await wf.run();
      await worker.start();
      const result = handle.result({ timeoutMs: 20_000, pollIntervalMs: 100 })
        .then((value) => ({ value }), (error) => ({ error }));
      await delay(200);
      await proxy.outage(1_000, "refuse");
      assert.deepEqual(await result, { value: "done" });
    } finally {
      await worker.stop();
      await callerBackend.stop();
      await workerBackend.stop();
      await proxy.close();
    }
  },
});

Deno.test({
  // BUG: postgres.js 3.4.9 (npm:postgres@3.4.9, the default
  // `fetch_types: true`) discards the promise of its internal array-types
  // query (connection.js, `ReadyForQuery` -> `fetchArrayTypes()`): when a
  // new connection is terminated while it fetches the types, the error
  // escapes as an unhandled rejection, which ends a Deno or Node process.
  // Every worker process using BackendPostgres can die this way when the
  // server restarts or its connections are terminated while it reconnects
  // (the chaos harness saw it). Upstream: porsager/postgres#1192, #1205,
  // #1223. Fix in src/postgres/backend.ts (and notify.ts): pass
  // `fetch_types: false` to postgres() (then send arrays as JSON, e.g.
  // json_array_elements_text(...), since arrays need the fetched types),
  // or pin a postgres.js release with the fix.
  ignore: true,
  name:
    "a connection killed while the driver fetches types does not crash the process",
  async fn() {
    const unhandled: unknown[] = [];
    const onUnhandled = (event: PromiseRejectionEvent) => {
      event.preventDefault();
      unhandled.push(event.reason);
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    let killed = 0;
    const proxy = TcpProxy.start({
      // Kill the first connection as it asks for the array types, the way
      // pg_terminate_backend() or a restart would at that moment.
      onClientData: (chunk) => {
        if (
          killed === 0 && new TextDecoder().decode(chunk).includes("typarray")
        ) {
          killed++;
          return terminationMessage();
        }
        return undefined;
      },
    });
    try {
      const backend = await BackendPostgres.connect(proxy.url, {
        namespaceId: randomNamespace(),
        maxConnections: 1,
        listen: false,
      }).catch((error) => error);
      if (backend instanceof BackendPostgres) await backend.stop();
      await delay(100);
      assert.equal(killed, 1);
      assert.deepEqual(unhandled.map(String), []);
    } finally {
      await proxy.close();
      globalThis.removeEventListener("unhandledrejection", onUnhandled);
    }
  },
});

Deno.test({
  // BUG: backend calls can hang forever across a server restart. Calls in
  // flight while the server goes down (connections cut, then refused, then
  // answered "the database system is starting up" during crash recovery)
  // sometimes never settle, even long after the server is back, while new
  // calls succeed: postgres.js 3.4.9 with `fetch_types: true` (the
  // default, src/postgres/backend.ts) loses the query that was waiting on
  // a connection whose type fetch failed; with `fetch_types: false` plain
  // postgres.js loses none in the same scenario. BackendPostgres adds no
  // deadline of its own, so a lost heartbeat or step write blocks its
  // execution, and `worker.stop()`, for good; the full chaos run saw a
  // worker whose graceful stop never finished after a restart. Fix:
  // `fetch_types: false` (see above), and a deadline on every backend call
  // (reject with BackendError when it passes). The loss depends on timing:
  // each cycle below catches it about half of the time.
  ignore: true,
  name: "every backend call in flight through a server restart settles",
  async fn() {
    const proxy = TcpProxy.start();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId: randomNamespace(),
      maxConnections: 4,
      listen: false,
    });
    try {
      const wf = new OpenWorkflow({ backend }).defineWorkflow(
        { name: "restarted" },
        () => 1,
      );
      const { id } = await wf.run();
      for (let cycle = 0; cycle < 6; cycle++) {
        let stop = false;
        const pending = new Set<number>();
        let next = 0;
        const callers = Array.from({ length: 8 }, async () => {
          while (!stop) {
            const call = next++;
            pending.add(call);
            await backend.getWorkflowRun({ workflowRunId: id }).catch(() => {});
            pending.delete(call);
            await delay(10);
          }
        });
        await delay(200);
        // An immediate shutdown: connections cut, the port closed, then
        // crash recovery answering "starting up", then the server is back.
        await proxy.outage(1_000, "refuse");
        proxy.startingUp = true;
        await delay(1_000);
        proxy.startingUp = false;
        await delay(5_000);
        stop = true;
        const settled = await Promise.race([
          Promise.all(callers).then(() => true),
          delay(5_000).then(() => false),
        ]);
        assert.ok(
          settled,
          `cycle ${cycle}: ${pending.size} call(s) never settled`,
        );
      }
    } finally {
      await backend.stop();
      await proxy.close();
    }
  },
});
