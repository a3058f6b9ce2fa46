/**
 * Retries: a flaky step is retried with exponential backoff (the worker is
 * free while the run waits); a `NonRetryableError` stops at once.
 *
 *   deno run -A examples/retries.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/retries.ts
 */

import { type Backend, NonRetryableError, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ quote: string; attempts: number; validation: string }> {
  const ow = new OpenWorkflow({ backend });
  let calls = 0;
  const quote = ow.defineWorkflow({ name: "fetch-quote" }, async ({ step }) => {
    const price = await step.run(
      {
        name: "call-flaky-api",
        retry: {
          maxAttempts: 5,
          initialIntervalMs: 100,
          backoffCoefficient: 2,
        },
      },
      ({ attempt }) => {
        calls++;
        if (attempt < 3) {
          throw new Error(`upstream timeout (attempt ${attempt})`);
        }
        return 42.5;
      },
    );
    let validation = "accepted";
    try {
      await step.run({ name: "validate", retry: { maxAttempts: 5 } }, () => {
        throw new NonRetryableError("currency not supported");
      });
    } catch (error) {
      validation = `rejected: ${(error as Error).message}`;
    }
    return { quote: `USD ${price}`, validation };
  });

  const worker = ow.newWorker({ pollIntervalMs: 20 });
  await worker.start();
  try {
    const handle = await quote.run();
    const result = await handle.result({ timeoutMs: 30_000 });
    return { ...result, attempts: calls };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { quote: "USD 42.5", validation: "rejected: …", attempts: 3 }
  } finally {
    await backend.stop();
  }
}
