/**
 * Flow control: at most one sync per customer at a time (other customers
 * go on meanwhile), higher-priority runs claimed first, and a rate limit
 * that spaces the starts of an API's calls instead of failing them. The
 * limits are held by the database, across every worker process.
 *
 *   deno run -A examples/flow_control.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/flow_control.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** When a run's step held its customer, and for whom. */
interface Span {
  customerId: string;
  startMs: number;
  endMs: number;
}

/** What the example observed. */
export interface FlowControlOutcome {
  /** Per-key concurrency (`limit: 1` per customer). */
  concurrency: {
    /** The concurrency key each run recorded, in the order started. */
    keys: string[];
    /** Whether no two runs of customer c-1 overlapped in time. */
    c1NeverOverlapped: boolean;
    /** Whether c-2's run overlapped one of c-1's (it did not wait). */
    c2RanAlongside: boolean;
  };
  /** Priorities, on a worker running one run at a time. */
  priority: {
    /** The priorities in the order the runs were started. */
    started: number[];
    /** The priorities in the order the runs executed. */
    executed: number[];
  };
  /** A rate limit of 2 first starts per 300 ms. */
  rateLimit: {
    /** How many of the 5 runs succeeded (none fail for the limit). */
    succeeded: number;
    /** Whether no 3 starts fell within one window of 300 ms. */
    spaced: boolean;
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether any two of `spans` overlap in time. */
function anyOverlap(spans: Span[]): boolean {
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs);
  return sorted.some((span, i) => i > 0 && span.startMs < sorted[i - 1].endMs);
}

/**
 * Runs the example on `backend` and returns what happened; `log` shows the
 * details that change from run to run (times).
 */
export async function main(
  backend: Backend,
  log: (...data: unknown[]) => void = () => {},
): Promise<FlowControlOutcome> {
  const ow = new OpenWorkflow({ backend });

  // At most one sync per customer at a time; the key is computed from the
  // input once, when the run starts, and stored with it.
  const syncCustomer = ow.defineWorkflow<{ customerId: string }, Span>({
    name: "sync-customer",
    concurrency: { limit: 1, key: (input) => input.customerId },
  }, async ({ input, step }) =>
    await step.run({ name: "sync" }, async () => {
      const startMs = Date.now();
      await delay(100); // Calls the customer's CRM, say.
      return { customerId: input.customerId, startMs, endMs: Date.now() };
    }));

  // Only the runs of this invocation are noted (the namespace may hold
  // runs left by an earlier, interrupted one).
  const batch = crypto.randomUUID();
  const executed: number[] = [];
  const ranked = ow.defineWorkflow<{ batch: string; priority: number }, null>(
    { name: "ranked" },
    async ({ input, step }) =>
      await step.run({ name: "note" }, () => {
        if (input.batch === batch) executed.push(input.priority);
        return null;
      }),
  );

  // At most 2 first starts per 300 ms per API; the others start later.
  const callApi = ow.defineWorkflow<{ api: string; n: number }, number>(
    {
      name: "call-api",
      rateLimit: { limit: 2, period: "300ms", key: (input) => input.api },
    },
    async ({ input, step }) => await step.run({ name: "call" }, () => input.n),
  );

  // Priorities: started low, high, middle; one run at a time, by hand.
  const started = [0, 10, 5];
  for (const priority of started) {
    await ranked.run({ batch, priority }, { priority });
  }
  const single = ow.newWorker({ concurrency: 1 });
  for (let i = 0; i < 100 && executed.length < started.length; i++) {
    await single.tick();
  }
  log("ranked: started", started, "executed", executed);

  // Three syncs for c-1, one for c-2, on a worker with 10 slots.
  const syncs = [];
  for (const customerId of ["c-1", "c-1", "c-1", "c-2"]) {
    syncs.push(await syncCustomer.run({ customerId }));
  }
  const calls = [];
  for (let n = 0; n < 5; n++) {
    calls.push(await callApi.run({ api: "crm", n }));
  }

  const worker = ow.newWorker({ concurrency: 10, pollIntervalMs: 20 });
  await worker.start();
  try {
    const spans = await Promise.all(
      syncs.map((handle) => handle.result({ timeoutMs: 30_000 })),
    );
    const keys = [];
    for (const handle of syncs) {
      keys.push((await handle.refresh()).concurrencyKey ?? "");
    }
    const base = Math.min(...spans.map((span) => span.startMs));
    for (const span of spans) {
      log(
        `  sync ${span.customerId}: ${span.startMs - base}-${
          span.endMs - base
        } ms`,
      );
    }
    const c1 = spans.filter((span) => span.customerId === "c-1");
    const c2 = spans.find((span) => span.customerId === "c-2")!;

    for (const handle of calls) await handle.result({ timeoutMs: 30_000 });
    const runs = [];
    for (const handle of calls) runs.push(await handle.refresh());
    const starts = runs.map((run) => run.startedAt!.getTime())
      .sort((a, b) => a - b);
    log(
      "call-api: started at",
      starts.map((ms) => `${ms - starts[0]} ms`),
      "key",
      runs[0].rateLimitKey,
    );

    return {
      concurrency: {
        keys,
        c1NeverOverlapped: !anyOverlap(c1),
        c2RanAlongside: c1.some((span) => anyOverlap([span, c2])),
      },
      priority: { started, executed },
      rateLimit: {
        succeeded: runs.filter((run) => run.status === "succeeded").length,
        spaced: starts.every((ms, i) => i < 2 || ms - starts[i - 2] >= 300),
      },
    };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend, console.log));
    // ranked: started [ 0, 10, 5 ] executed [ 10, 5, 0 ]
    //   sync c-1: 0-101 ms
    //   sync c-1: 118-219 ms
    //   sync c-1: 236-337 ms
    //   sync c-2: 1-102 ms
    // call-api: started at [ "0 ms", "2 ms", "304 ms", "306 ms", "612 ms" ] key crm
    // {
    //   concurrency: { keys: [ "c-1", "c-1", "c-1", "c-2" ], c1NeverOverlapped: true, c2RanAlongside: true },
    //   priority: { started: [ 0, 10, 5 ], executed: [ 10, 5, 0 ] },
    //   rateLimit: { succeeded: 5, spaced: true }
    // }
  } finally {
    await backend.stop();
  }
}
