/**
 * Wake-ups across processes on a SQLite file: a worker process polling
 * every 10 s claims a run another process created at once, and `result()`
 * polling every 10 s sees the run finished by the other process at once.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { OpenWorkflow } from "../../mod.ts";

const WORKER_SCRIPT = new URL(
  "../fixtures/sqlite_wakeup_worker.ts",
  import.meta.url,
);
const RARE_POLLS = { pollIntervalMs: 10_000, fallbackPollIntervalMs: 10_000 };

async function spawnWorker(path: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", WORKER_SCRIPT.href, path],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = Promise.withResolvers<void>();
  const reading = (async () => {
    let text = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      text += chunk;
      if (text.includes("ready\n")) ready.resolve();
    }
    ready.reject(new Error(`the worker exited before it was ready: ${text}`));
  })();
  await ready.promise;
  return {
    async stop() {
      await child.stdin.close();
      assert.equal((await child.status).code, 0);
      await reading;
    },
  };
}

Deno.test("a worker process wakes for a run created by another process, and result() hears it finish, well before their 10 s polls", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-wakeup-" });
  const path = `${dir}/workflows.db`;
  const backend = await BackendSqlite.connect(path);
  const worker = await spawnWorker(path);
  try {
    const ow = new OpenWorkflow({ backend });
    const ping = ow.defineWorkflow(
      { name: "ping" },
      async ({ step }) => await step.run({ name: "pong" }, () => "pong"),
    );
    // The worker has claimed once, found nothing, and idles.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 3; i++) {
      const startedAt = performance.now();
      const handle = await ping.run();
      assert.equal(
        await handle.result({ timeoutMs: 8_000, ...RARE_POLLS }),
        "pong",
      );
      const tookMs = performance.now() - startedAt;
      assert.ok(tookMs < 2_000, `run ${i} took ${tookMs} ms (polls: 10 s)`);
    }
  } finally {
    await worker.stop();
    await backend.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the commit watcher stops with the last backend on the file, and in memory there is none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-wakeup-" });
  const path = `${dir}/workflows.db`;
  const first = await BackendSqlite.connect(path);
  const second = await BackendSqlite.connect(path);
  const memory = await BackendSqlite.connect(":memory:");
  try {
    const heard: string[] = [];
    first.subscribe((n) => heard.push(n.kind));
    second.subscribe(() => {});
    assert.deepEqual(heard, ["listening"]);
    const none: string[] = [];
    memory.subscribe((n) => none.push(n.kind));
    // A commit by the other connection is heard; the backend's own are not.
    await first.createWorkflowRun({
      workflowName: "own",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: null,
      deadlineAt: null,
      idempotencyKey: null,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(heard, ["listening"]);
    await second.createWorkflowRun({
      workflowName: "other",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: null,
      deadlineAt: null,
      idempotencyKey: null,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(heard, ["listening", "changed"]);
    assert.deepEqual(none, []);
  } finally {
    // Stopping both ends the timer: the sanitizers would catch it.
    await first.stop();
    await second.stop();
    await memory.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
