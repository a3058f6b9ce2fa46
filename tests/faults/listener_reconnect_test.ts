/**
 * When the Postgres LISTEN connection is lost, workers and result() poll
 * at the normal interval until it is back; LISTEN is issued again until it
 * holds; when it does, workers re-check what they may have missed, and runs
 * they are executing must go on.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { delay, randomNamespace } from "../helpers.ts";
import { withLogRecords } from "../log_records.ts";
import { statementErrorMessage, TcpProxy } from "./tcp_proxy.ts";

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

/**
 * Two backends on one namespace through a proxy (sharing the process's
 * listening connection): runs started on the client side reach the worker
 * side, and their results come back, only by notification or by polling.
 * While `failListen` is set, the proxy answers every LISTEN as a standby
 * does, on a connection that stays open.
 */
async function listenerPair() {
  let failListen = false;
  let listenRejections = 0;
  const proxy = TcpProxy.start({
    onClientData: (chunk) => {
      if (!failListen) return undefined;
      if (!/listen "/i.test(new TextDecoder().decode(chunk))) return undefined;
      listenRejections++;
      return {
        reply: statementErrorMessage(
          "25006",
          "cannot execute LISTEN during recovery",
        ),
      };
    },
  });
  const namespaceId = randomNamespace();
  const workerBackend = await BackendPostgres.connect(proxy.url, {
    namespaceId,
  });
  const clientBackend = await BackendPostgres.connect(proxy.url, {
    namespaceId,
  });
  /** Every `listening` notification of the worker side, in order. */
  const listening: boolean[] = [];
  const unsubscribe = workerBackend.subscribe((notification) => {
    if (notification.kind === "listening") {
      listening.push(notification.listening);
    }
  });
  const define = (ow: OpenWorkflow) =>
    ow.defineWorkflow(
      { name: "ping" },
      async ({ step }) => await step.run({ name: "pong" }, () => "pong"),
    );
  const workerSide = new OpenWorkflow({ backend: workerBackend });
  define(workerSide);
  const client = new OpenWorkflow({ backend: clientBackend });
  await until(() => listening.at(-1) === true, "listening at first");
  return {
    proxy,
    listening,
    ping: define(client),
    workerSide,
    get listenRejections() {
      return listenRejections;
    },
    set failListen(value: boolean) {
      failListen = value;
    },
    async close() {
      unsubscribe();
      await workerBackend.stop();
      await clientBackend.stop();
      await proxy.close();
    },
  };
}

/** Waits until `condition` holds, failing after a generous 10 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (const start = performance.now(); !condition();) {
    assert.ok(performance.now() - start < 10_000, `timed out: ${what}`);
    await delay(10);
  }
}

Deno.test({
  name:
    "a dropped listening connection is reported at once, and waiters poll until LISTEN holds again",
  async fn() {
    const pair = await listenerPair();
    // Idle workers and result() sleep for the fallback interval while
    // notifications are live: so long that only polling at the normal
    // interval can finish in time once they are not.
    const worker = pair.workerSide.newWorker({
      pollIntervalMs: 50,
      fallbackPollIntervalMs: 60_000,
    });
    try {
      await worker.start();
      await delay(200); // the worker has polled once and is asleep
      pair.failListen = true;
      const from = pair.listening.length;
      pair.proxy.cut();
      await until(() => pair.listening.length > from, "a listening event");
      assert.deepEqual(pair.listening.slice(from), [false]);
      const handle = await pair.ping.run();
      assert.equal(
        await handle.result({
          timeoutMs: 10_000,
          pollIntervalMs: 50,
          fallbackPollIntervalMs: 60_000,
        }),
        "pong",
      );
      // LISTEN was issued again meanwhile, and is still rejected.
      assert.ok(pair.listenRejections >= 1);
      assert.deepEqual(pair.listening.slice(from), [false]);
    } finally {
      await worker.stop();
      await pair.close();
    }
  },
});

Deno.test({
  name:
    "a LISTEN rejected after a reconnect is issued again, with a backoff, until it holds",
  async fn() {
    await withLogRecords(async (records) => {
      const pair = await listenerPair();
      try {
        pair.failListen = true;
        const from = pair.listening.length;
        pair.proxy.cut();
        await until(() => pair.listenRejections >= 3, "3 LISTEN attempts");
        // Spaced out: at most 5 more in the next second.
        const rejections = pair.listenRejections;
        await delay(1_000);
        assert.ok(
          pair.listenRejections - rejections <= 5,
          `${pair.listenRejections - rejections} LISTEN attempts in 1 s`,
        );
        assert.deepEqual(pair.listening.slice(from), [false]);
        pair.failListen = false;
        await until(() => pair.listening.at(-1) === true, "listening again");
        assert.deepEqual(pair.listening.slice(from), [false, true]);
        await notificationsWake(pair);
        // Logged under ["openworkflow", "postgres"]: the drop as a warning,
        // each rejected LISTEN and the LISTEN that held at debug level.
        const logged = records.map((r) => [r.level, String(r.rawMessage)]);
        const dropAt = logged.findIndex(([level, message]) =>
          level === "warning" && /listening connection .* closed/.test(message)
        );
        assert.ok(dropAt >= 0, "the drop is logged");
        const after = logged.slice(dropAt + 1);
        assert.ok(
          after.filter(([, m]) => /^LISTEN on .* failed/.test(m)).length >= 3,
        );
        assert.deepEqual(after.at(-1), ["debug", "Listening on {channel}"]);
      } finally {
        await pair.close();
      }
    }, ["openworkflow", "postgres"]);
  },
});

Deno.test({
  name:
    "a listening connection refused for a moment after a drop listens again",
  async fn() {
    const pair = await listenerPair();
    try {
      const from = pair.listening.length;
      await pair.proxy.outage(1_000, "refuse");
      // The drop was reported, and nothing listened while refused.
      assert.deepEqual(pair.listening.slice(from), [false]);
      await until(() => pair.listening.at(-1) === true, "listening again");
      assert.deepEqual(pair.listening.slice(from), [false, true]);
      await notificationsWake(pair);
    } finally {
      await pair.close();
    }
  },
});

/**
 * Runs a ping with a worker and result() polling so rarely that only
 * notifications can finish it in time.
 */
async function notificationsWake(
  pair: Awaited<ReturnType<typeof listenerPair>>,
): Promise<void> {
  const rarely = { pollIntervalMs: 60_000, fallbackPollIntervalMs: 60_000 };
  const worker = pair.workerSide.newWorker(rarely);
  try {
    await worker.start();
    await delay(200); // the worker has polled once and is asleep
    const handle = await pair.ping.run();
    assert.equal(
      await handle.result({ timeoutMs: 10_000, ...rarely }),
      "pong",
    );
  } finally {
    await worker.stop();
  }
}
