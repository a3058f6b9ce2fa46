/**
 * What `result()` callers, backend calls and the Postgres driver do when
 * connections are lost.
 */

import assert from "node:assert/strict";
import { OpenWorkflow, ResultTimeoutError } from "../../mod.ts";
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
  // A regression test: postgres.js 3.4.9 with `fetch_types: true` let the
  // error of a connection terminated while it fetched array types escape
  // as an unhandled rejection (porsager/postgres#1192, #1223), which ended
  // worker processes when connections were dropped.
  ignore: postgresTarget.unavailable !== null,
  name:
    "a connection terminated during its first statements does not crash the process",
  async fn() {
    const unhandled: unknown[] = [];
    const onUnhandled = (event: PromiseRejectionEvent) => {
      event.preventDefault();
      unhandled.push(event.reason);
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    let chunks = 0;
    let killed = 0;
    const proxy = TcpProxy.start({
      // The first connection's startup goes through; its next message (the
      // type lookup, or the first query) is answered the way
      // pg_terminate_backend() answers, and the connection closed.
      onClientData: () => {
        if (++chunks === 2) {
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
  // Calls in flight while the server restarts (connections cut, then
  // refused, then answered "starting up") all settle soon after it is back:
  // none waits out a reconnect backoff of up to 20 s that postgres.js fixed
  // during the outage (see src/postgres/reconnect.ts).
  ignore: postgresTarget.unavailable !== null,
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
        let timer: ReturnType<typeof setTimeout> | undefined;
        const settled = await Promise.race([
          Promise.all(callers).then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), 5_000);
          }),
        ]);
        clearTimeout(timer);
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

Deno.test({
  ignore: postgresTarget.unavailable !== null,
  name:
    "result() keeps to its timeout and its signal while a read of the run hangs",
  async fn() {
    const proxy = TcpProxy.start();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId: randomNamespace(),
      maxConnections: 2,
      listen: false,
    });
    try {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "never-run" }, () => null);
      const handle = await wf.run();
      proxy.swallowResponses = true; // every read from now on hangs
      const timedOut = performance.now();
      await assert.rejects(
        handle.result({ timeoutMs: 300 }),
        ResultTimeoutError,
      );
      // The backend's own call timeout is 20 s: the wait did not sit it out.
      assert.ok(performance.now() - timedOut < 10_000);
      const aborted = performance.now();
      const reason = new Error("caller gave up");
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 300);
      await assert.rejects(
        handle.result({ timeoutMs: 60_000, signal: controller.signal }),
        (error) => error === reason,
      );
      assert.ok(performance.now() - aborted < 10_000);
    } finally {
      proxy.swallowResponses = false;
      proxy.cut();
      await backend.stop();
      await proxy.close();
    }
  },
});
