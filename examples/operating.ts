/**
 * Operating runs: a run fails because of a bug; once it is fixed, retry it
 * (its completed steps are kept, the failed step runs again); fork a run
 * from one of its steps; and keep the tables small, by hand and with a
 * worker's retention.
 *
 *   deno run -A examples/operating.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/operating.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** What the example observed. */
export interface OperatingOutcome {
  /** The failed run, retried after the fix. */
  retried: { firstError: string; result: string; reserveCalls: number };
  /** A fork of the run from its `charge` step. */
  forked: { result: string; forkedFrom: boolean; reserveCalls: number };
  /** How many finished runs `deleteRuns()` removed. */
  deleted: number;
}

/** Runs the example on `backend`. */
export async function main(backend: Backend): Promise<OperatingOutcome> {
  const ow = new OpenWorkflow({ backend });
  let reserveCalls = 0;
  let cardServiceUp = false;
  const order = ow.defineWorkflow<{ id: string }, string>(
    { name: "operating-order", retry: { maxAttempts: 1 } },
    async ({ input, step }) => {
      await step.run({ name: "reserve" }, () => reserveCalls++);
      const receipt = await step.run(
        { name: "charge", retry: { maxAttempts: 2, initialIntervalMs: 10 } },
        () => {
          if (!cardServiceUp) throw new Error("card service down");
          return `receipt-${input.id}`;
        },
      );
      return `shipped with ${receipt}`;
    },
  );
  const worker = ow.newWorker();
  await worker.start();
  try {
    const handle = await order.run({ id: "o-1" });
    const firstError = await handle.result().then(
      () => "none",
      (error: Error) => (error.cause as Error).message,
    );
    // The bug is fixed: the same run continues, "reserve" is not redone.
    cardServiceUp = true;
    await ow.retryRun(handle.id);
    const result = await handle.result();
    const retried = { firstError, result, reserveCalls };

    // A new run from the "charge" step: "reserve" is copied, not redone.
    const fork = await ow.forkRun<string>(handle.id, { fromStep: "charge" });
    const forked = {
      result: await fork.result(),
      forkedFrom: fork.workflowRun.forkedFromWorkflowRunId === handle.id,
      reserveCalls,
    };

    // Delete the runs of this workflow that finished (both).
    const deleted = await ow.deleteRuns({
      finishedBefore: new Date(Date.now() + 1_000),
      status: ["succeeded"],
      workflowName: "operating-order",
    });
    return { retried, forked, deleted };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
    // {
    //   retried: { firstError: "card service down", result: "shipped with receipt-o-1", reserveCalls: 1 },
    //   forked: { result: "shipped with receipt-o-1", forkedFrom: true, reserveCalls: 1 },
    //   deleted: 2
    // }
  } finally {
    await backend.stop();
  }
}
