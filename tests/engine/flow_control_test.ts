import assert from "node:assert/strict";
import { OpenWorkflow, type WorkflowRunHandle } from "../../mod.ts";
import { DATABASE_URL, delay, testEachBackend } from "../helpers.ts";
import { definePerKey, type Span } from "../fixtures/flow_workflow.ts";

/** Whether two spans of one key overlap in time. */
function overlaps(spans: Span[]): [Span, Span] | null {
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs);
  for (let i = 1; i < sorted.length; i++) {
    if (
      sorted[i].key === sorted[i - 1].key &&
      sorted[i].startMs < sorted[i - 1].endMs
    ) return [sorted[i - 1], sorted[i]];
  }
  return null;
}

testEachBackend(
  "higher priority runs are claimed first",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const order: number[] = [];
    const wf = ow.defineWorkflow<number, number>(
      { name: "ranked" },
      async ({ input, step }) =>
        await step.run({ name: "note" }, () => {
          order.push(input);
          return input;
        }),
    );
    for (const priority of [0, 10, -5, 5, 10]) {
      await wf.run(priority, { priority });
    }
    const worker = ow.newWorker({ concurrency: 1 });
    for (let i = 0; i < 5; i++) assert.equal(await worker.tick(), 1);
    assert.deepEqual(order, [10, 10, 5, 0, -5]);
    const runs = (await ow.listRuns({ workflowName: "ranked" })).runs;
    assert.deepEqual(
      runs.map((run) => run.priority).sort((a, b) => a - b),
      [-5, 0, 5, 10, 10],
    );
  },
);

testEachBackend(
  "at most `limit` runs of a key execute at once; a busy key holds up no other key; runs of a key start in order",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const perKey = definePerKey(ow);
    const busy: WorkflowRunHandle<Span>[] = [];
    for (let i = 0; i < 4; i++) {
      busy.push(await perKey.run({ key: "busy", holdMs: 150 }));
    }
    const other = await perKey.run({ key: "other", holdMs: 10 });
    const worker = ow.newWorker({ concurrency: 10, pollIntervalMs: 20 });
    await worker.start();
    try {
      const otherSpan = await other.result({ timeoutMs: 10_000 });
      const spans = await Promise.all(
        busy.map((h) => h.result({ timeoutMs: 20_000 })),
      );
      assert.equal(overlaps([...spans, otherSpan]), null);
      assert.ok(
        otherSpan.endMs < spans[1].startMs,
        "the other key ran while the busy key worked through its backlog",
      );
      for (let i = 1; i < spans.length; i++) {
        assert.ok(spans[i].startMs >= spans[i - 1].endMs, "in order");
      }
      assert.equal((await busy[0].refresh()).concurrencyKey, "busy");
      assert.equal((await other.refresh()).concurrencyKey, "other");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a parked run holds no concurrency slot",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow<{ wait: boolean }, string>({
      name: "one-at-a-time",
      concurrency: { limit: 1 },
    }, async ({ input, step }) => {
      if (input.wait) {
        await step.waitForSignal({ signal: "go" });
        return "waited";
      }
      return "ran";
    });
    const waiting = await wf.run({ wait: true });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      for (let i = 0; i < 500; i++) {
        if ((await waiting.refresh()).status === "sleeping") break;
        await delay(10);
      }
      const second = await wf.run({ wait: false });
      assert.equal(await second.result({ timeoutMs: 10_000 }), "ran");
      await waiting.sendSignal("go");
      assert.equal(await waiting.result({ timeoutMs: 10_000 }), "waited");
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a rate limit spaces first starts: at most `limit` in any window of `period`, none fail",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow<{ api: string }, string>(
      {
        name: "call-api",
        rateLimit: { limit: 2, period: "500ms", key: (input) => input.api },
      },
      async ({ input, step }) =>
        await step.run({ name: "call" }, () => input.api),
    );
    const handles = [];
    for (let i = 0; i < 5; i++) handles.push(await wf.run({ api: "a" }));
    handles.push(await wf.run({ api: "b" }));
    const worker = ow.newWorker({ concurrency: 10, pollIntervalMs: 20 });
    await worker.start();
    try {
      for (const handle of handles) {
        await handle.result({ timeoutMs: 10_000 });
      }
    } finally {
      await worker.stop();
    }
    const runs = (await ow.listRuns({ workflowName: "call-api" })).runs;
    assert.equal(runs.filter((run) => run.status === "succeeded").length, 6);
    const starts = runs.filter((run) => run.rateLimitKey === "a")
      .map((run) => run.startedAt!.getTime()).sort((x, y) => x - y);
    for (let i = 2; i < starts.length; i++) {
      assert.ok(
        starts[i] - starts[i - 2] >= 500,
        `3 starts within ${starts[i] - starts[i - 2]} ms`,
      );
    }
  },
);

testEachBackend(
  "the key is computed once, when the run starts; bad limits, priorities and keys are typed errors that store nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const wf = ow.defineWorkflow<{ k: unknown }, null>({
      name: "keyed",
      concurrency: {
        limit: 1,
        key: (input) => {
          calls++;
          if (input.k === "throw") throw new Error("no key");
          return input.k as string;
        },
      },
    }, () => null);
    const handle = await wf.run({ k: "a" });
    await ow.newWorker().tick();
    await handle.result();
    assert.equal(calls, 1);
    await assert.rejects(
      wf.run({ k: "throw" }),
      (e) =>
        e instanceof TypeError && /'concurrency.key' threw/.test(e.message),
    );
    await assert.rejects(
      wf.run({ k: 7 }),
      (e) => e instanceof TypeError && /must return a string/.test(e.message),
    );
    for (const priority of [1.5, 2 ** 31]) {
      await assert.rejects(
        wf.run({ k: "a" }, { priority }),
        (e) => e instanceof RangeError && /'priority'/.test(e.message),
      );
    }
    await assert.rejects(
      wf.run({ k: "a" }, { priority: "high" as unknown as number }),
      (e) => e instanceof TypeError && /'priority'/.test(e.message),
    );
    assert.equal((await ow.listRuns({ workflowName: "keyed" })).runs.length, 1);
    const define = (config: object) => () =>
      ow.defineWorkflow(
        { name: `bad-${crypto.randomUUID()}`, ...config },
        () => null,
      );
    assert.throws(
      define({ concurrency: { limit: 0 } }),
      (e) => e instanceof RangeError && /'concurrency.limit'/.test(e.message),
    );
    assert.throws(
      define({ concurrency: { limit: "1" } }),
      (e) => e instanceof TypeError && /'concurrency.limit'/.test(e.message),
    );
    assert.throws(
      define({ concurrency: { limit: 1, key: "customerId" } }),
      (e) => e instanceof TypeError && /'concurrency.key'/.test(e.message),
    );
    assert.throws(
      define({ rateLimit: { limit: 10, period: "soon" } }),
      (e) => e instanceof TypeError && /rateLimit.period/.test(e.message),
    );
    assert.throws(
      define({ rateLimit: { limit: 10, period: 0 } }),
      (e) => e instanceof RangeError && /'rateLimit.period'/.test(e.message),
    );
    assert.throws(
      define({ rateLimit: { limit: -1, period: "1s" } }),
      (e) => e instanceof RangeError && /'rateLimit.limit'/.test(e.message),
    );
  },
);

/** Starts a worker process of `tests/fixtures/flow_worker.ts`. */
async function flowWorker(
  backend: object,
  namespaceId: string,
  leaseMs: number,
): Promise<Deno.ChildProcess> {
  const kind = "path" in backend ? "sqlite" : "postgres";
  const location = "path" in backend
    ? (backend as { path: string }).path
    : DATABASE_URL;
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../fixtures/flow_worker.ts", import.meta.url).pathname,
      kind,
      location,
      namespaceId,
      String(leaseMs),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
  reader.releaseLock();
  return process;
}

async function stopWorker(process: Deno.ChildProcess): Promise<void> {
  await process.stdin.close().catch(() => {});
  await process.stdout.cancel().catch(() => {});
  await process.status;
}

testEachBackend(
  "concurrency limits hold across two worker processes",
  async ({ backend, namespaceId }) => {
    const workers = [
      await flowWorker(backend, namespaceId, 30_000),
      await flowWorker(backend, namespaceId, 30_000),
    ];
    try {
      const ow = new OpenWorkflow({ backend });
      const perKey = definePerKey(ow);
      const handles = [];
      for (let i = 0; i < 12; i++) {
        handles.push(
          await perKey.run({ key: `k${i % 3}`, holdMs: 60 }),
        );
      }
      const spans = await Promise.all(
        handles.map((h) => h.result({ timeoutMs: 30_000 })),
      );
      assert.equal(overlaps(spans), null, "never two runs of a key at once");
      // The three keys ran side by side.
      const firstEnds = ["k0", "k1", "k2"].map((key) =>
        Math.min(...spans.filter((s) => s.key === key).map((s) => s.startMs))
      );
      assert.ok(Math.max(...firstEnds) - Math.min(...firstEnds) < 1_000);
    } finally {
      for (const worker of workers) await stopWorker(worker);
    }
  },
);

testEachBackend(
  "a worker SIGKILLed while it holds a concurrency slot gives the slot back when its lease lapses",
  async ({ backend, namespaceId }) => {
    const doomed = await flowWorker(backend, namespaceId, 1_000);
    const ow = new OpenWorkflow({ backend });
    const perKey = definePerKey(ow);
    let killed = false;
    try {
      const first = await perKey.run({ key: "slot", holdMs: 60_000 });
      // The doomed worker holds the slot: the first run's step is running.
      for (let i = 0; i < 1000; i++) {
        const attempts = await first.listStepAttempts();
        if (attempts.some((a) => a.status === "running")) break;
        await delay(10);
      }
      const second = await perKey.run({ key: "slot", holdMs: 10 });
      doomed.kill("SIGKILL");
      killed = true;
      await doomed.status;
      const worker = ow.newWorker({
        concurrency: 10,
        pollIntervalMs: 20,
        leaseDurationMs: 1_000,
      });
      await worker.start();
      try {
        // The slot comes back once the dead worker's lease lapses: both
        // runs finish (the first one's step again, at once), one at a time.
        const span = await second.result({ timeoutMs: 20_000 });
        assert.equal(span.key, "slot");
        const firstSpan = await first.result({ timeoutMs: 20_000 });
        assert.equal(
          overlaps([span, firstSpan]),
          null,
          "the first run did not run beside the second",
        );
      } finally {
        await worker.stop();
      }
    } finally {
      if (!killed) doomed.kill("SIGKILL");
      await stopWorker(doomed);
    }
  },
);

testEachBackend(
  "the runs a schedule starts keep to their workflow's limits",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    ow.defineWorkflow<{ k: string }, string>({
      name: "scheduled-keyed",
      concurrency: { limit: 1, key: (input) => input.k },
    }, ({ input }) => input.k);
    await ow.createSchedule({
      id: "keyed",
      workflow: "scheduled-keyed",
      cron: "0 0 1 1 *",
      input: { k: "x" },
    });
    await backend.updateSchedule!({
      id: "keyed",
      paused: false,
      nextRunAt: new Date("2020-01-01T00:00:00Z"),
    });
    await ow.newWorker().tick();
    const [run] = (await ow.listRuns({ workflowName: "scheduled-keyed" })).runs;
    assert.equal(run.concurrencyKey, "x");
    assert.equal(run.status, "succeeded");
  },
);

testEachBackend(
  "a claim that takes a run of one key starts none of another key that is full",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const perKey = definePerKey(ow);
    const worker = ow.newWorker({ concurrency: 10, pollIntervalMs: 20 });
    await worker.start();
    try {
      const a1 = await perKey.run({ key: "a", holdMs: 100 });
      const b1 = await perKey.run({ key: "b", holdMs: 800 });
      for (let i = 0; i < 500; i++) {
        const running = await Promise.all([a1, b1].map((h) => h.refresh()));
        if (running.every((run) => run.status === "running")) break;
        await delay(10);
      }
      // Queued behind full keys; when a1 ends, a claim takes a2 and must
      // leave b2 waiting for b1.
      const a2 = await perKey.run({ key: "a", holdMs: 10 });
      const b2 = await perKey.run({ key: "b", holdMs: 10 });
      const spans = await Promise.all(
        [a1, b1, a2, b2].map((h) => h.result({ timeoutMs: 20_000 })),
      );
      assert.equal(overlaps(spans), null);
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "a claim over more keys than it takes runs takes the best runs across all of them, at most each key's room",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow<{ k: string }, null>({
      name: "many-keys",
      concurrency: { limit: 2, key: (input) => input.k },
    }, () => Promise.resolve(null));
    // 30 keys with three runs each; priorities spread so that the best
    // runs are neither the first keys nor one run per key.
    const priorityOf = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        const priority = (i * 7 + round * 11) % 23;
        const handle = await wf.run({ k: `k${i}` }, { priority });
        priorityOf.set(handle.workflowRun.id, priority);
      }
    }
    // Rank what a perfect claim takes: best priority first (ties in
    // creation order), at most two runs of a key.
    const all = [...priorityOf].map(([id, priority], created) => ({
      id,
      priority,
      created,
      key: `k${created % 30}`,
    })).sort((a, b) => b.priority - a.priority || a.created - b.created);
    const perKey = new Map<string, number>();
    const expected: string[] = [];
    for (const run of all) {
      if (expected.length === 12) break;
      if ((perKey.get(run.key) ?? 0) >= 2) continue;
      perKey.set(run.key, (perKey.get(run.key) ?? 0) + 1);
      expected.push(run.id);
    }
    const claimed = await backend.claimWorkflowRuns({
      workerId: "w",
      leaseDurationMs: 60_000,
      workflows: [{ name: "many-keys", version: null }],
      limit: 12,
    });
    assert.deepEqual(
      claimed.map((run) => run.id).sort(),
      [...expected].sort(),
    );
  },
);
