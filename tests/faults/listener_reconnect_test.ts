/**
 * When the Postgres LISTEN connection is lost and comes back, workers
 * re-check what they may have missed; runs they are executing must go on.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { delay, randomNamespace } from "../helpers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

Deno.test({
  // When the process's LISTEN connection reconnects, everyone re-checks;
  // a running run that was not canceled must go on undisturbed.
  name: "a LISTEN connection that reconnects does not abort the runs in flight",
  async fn() {
    const proxy = TcpProxy.start();
    const backend = await BackendPostgres.connect(proxy.url, {
      namespaceId: randomNamespace(),
      maxConnections: 2,
    });
    const ow = new OpenWorkflow({ backend });
    let abortReason: unknown = null;
    let calls = 0;
    const wf = ow.defineWorkflow({ name: "listening" }, async ({ step }) => {
      await step.run({ name: "long" }, async ({ signal }) => {
        calls++;
        signal.addEventListener("abort", () => abortReason = signal.reason);
        await delay(2_000);
      });
      return "done";
    });
    const lost: unknown[] = [];
    const worker = ow.newWorker({ leaseDurationMs: 5_000, pollIntervalMs: 20 });
    worker.addEventListener("lease-lost", (event) => lost.push(event.error));
    try {
      const handle = await wf.run();
      await worker.start();
      // Mid-step, with no write in flight (the next heartbeat is due at a
      // third of the lease), every connection through the proxy drops, the
      // listener's too; they come back at once.
      await delay(700);
      proxy.cut();
      assert.equal(
        await handle.result({ timeoutMs: 20_000, pollIntervalMs: 50 }),
        "done",
      );
      assert.deepEqual(lost.map(String), []);
      assert.equal(abortReason, null, `step aborted: ${abortReason}`);
      assert.equal(calls, 1);
      assert.equal((await handle.refresh()).attempts, 1);
    } finally {
      await worker.stop();
      await backend.stop();
      await proxy.close();
    }
  },
});
