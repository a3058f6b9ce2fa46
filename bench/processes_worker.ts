/**
 * The worker process of bench/processes.ts. Not run by hand.
 *
 *   deno run -A bench/processes_worker.ts URL NAMESPACE CONCURRENCY
 *
 * Starts a worker of the 4-step no-op workflow `bench-proc`, prints
 * `ready`, and stops gracefully when stdin closes.
 *
 * @module
 */

import { OpenWorkflow, type WorkflowDefinition } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";

/** Defines the benchmark's workflow: four no-op steps. */
export function defineBenchProc(
  ow: OpenWorkflow,
): WorkflowDefinition<number, number> {
  return ow.defineWorkflow<number, number>(
    { name: "bench-proc" },
    async ({ input, step }) => {
      let sum = input;
      for (let i = 0; i < 4; i++) {
        sum += await step.run({ name: `s${i}` }, () => i);
      }
      return sum;
    },
  );
}

if (import.meta.main) {
  const [url, namespaceId, concurrency] = Deno.args;
  const backend = await BackendPostgres.connect(url, { namespaceId });
  const ow = new OpenWorkflow({ backend });
  defineBenchProc(ow);
  const worker = ow.newWorker({ concurrency: Number(concurrency) });
  await worker.start();
  console.log("ready");
  for await (const _ of Deno.stdin.readable) {
    // until stdin closes
  }
  await worker.stop();
  await backend.stop();
}
