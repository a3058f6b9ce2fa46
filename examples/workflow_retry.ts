/**
 * Workflow-level retry (off by default): when the workflow function throws,
 * the whole run is retried after a backoff, with the worker free meanwhile.
 * The retry replays the run: completed steps return their stored results,
 * and a step that had failed for good is tried again with a fresh budget.
 *
 *   deno run -A examples/workflow_retry.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/workflow_retry.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(backend: Backend): Promise<{
  receipt: string;
  runAttempts: number;
  calls: { reserve: number; charge: number };
  steps: string[];
}> {
  const ow = new OpenWorkflow({ backend });
  const calls = { reserve: 0, charge: 0 };
  const placeOrder = ow.defineWorkflow<{ orderId: string }, string>(
    {
      name: "place-order",
      // Up to 3 runs of the workflow, about 200 ms and then 400 ms apart.
      retry: { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2 },
    },
    async ({ input, step }) => {
      const reservation = await step.run({ name: "reserve-stock" }, () => {
        calls.reserve++;
        return `reservation-${input.orderId}`;
      });
      // No step retries: the first failure fails the step, the workflow
      // function throws, and the run is retried as a whole.
      const payment = await step.run(
        { name: "charge-card", retry: { maxAttempts: 1 } },
        () => {
          if (++calls.charge === 1) {
            throw new Error("payment provider unavailable");
          }
          return `payment-${input.orderId}`;
        },
      );
      return `${reservation}, ${payment}`;
    },
  );

  const worker = ow.newWorker({ pollIntervalMs: 20 });
  await worker.start();
  try {
    const handle = await placeOrder.run({ orderId: "A-17" });
    const receipt = await handle.result({ timeoutMs: 30_000 });
    const run = await handle.refresh();
    const steps = (await handle.listStepAttempts()).map((attempt) =>
      `${attempt.stepName}: ${attempt.status}`
    );
    return { receipt, runAttempts: run.attempts, calls, steps };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    // { receipt: "reservation-A-17, payment-A-17", runAttempts: 2,
    //   calls: { reserve: 1, charge: 2 }, steps: [ "reserve-stock: succeeded",
    //   "charge-card: failed", "charge-card: succeeded" ] }
    console.log(await main(backend));
  } finally {
    await backend.stop();
  }
}
