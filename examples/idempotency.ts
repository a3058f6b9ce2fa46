/**
 * Idempotency: starting a workflow twice with the same key returns the same
 * run, also from concurrent callers in different processes.
 *
 *   deno run -A examples/idempotency.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/idempotency.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ distinctRuns: number; charges: number }> {
  const ow = new OpenWorkflow({ backend });
  let charges = 0;
  const charge = ow.defineWorkflow<{ orderId: string; cents: number }, string>(
    { name: "charge-order" },
    async ({ input, step }) =>
      await step.run(
        { name: "charge" },
        () => `charged ${input.cents} (#${++charges})`,
      ),
  );
  const orderId = `order-${crypto.randomUUID()}`;
  // A double-clicked button, a retried HTTP request, two servers at once:
  const handles = await Promise.all(
    Array.from(
      { length: 5 },
      () => charge.run({ orderId, cents: 1999 }, { idempotencyKey: orderId }),
    ),
  );
  const worker = ow.newWorker();
  await worker.tick();
  await Promise.all(handles.map((h) => h.result()));
  return { distinctRuns: new Set(handles.map((h) => h.id)).size, charges };
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { distinctRuns: 1, charges: 1 }
  } finally {
    await backend.stop();
  }
}
