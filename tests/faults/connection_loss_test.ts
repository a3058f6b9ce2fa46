/**
 * What `result()` callers and the Postgres driver do when connections are
 * lost: the cases that currently break, each as a repro.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, delay, randomNamespace } from "../helpers.ts";
import { TcpProxy, terminationMessage } from "./tcp_proxy.ts";

Deno.test({
  // BUG: WorkflowRunHandle.result() (src/handle.ts, the
  // `this.#backend.getWorkflowRun()` call in its loop) does not survive a
  // transient database error: one failed poll rejects the whole wait with
  // the driver's error, although re-reading a run is always safe to retry.
  // The run finishes fine; the caller never learns its result.
  ignore: true,
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
