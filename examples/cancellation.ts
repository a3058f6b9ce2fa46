/**
 * Cancellation and timeouts: canceling a running run aborts its step's
 * `signal` and stops it at the next step boundary; a step's `timeoutMs`
 * aborts a slow attempt.
 *
 *   deno run -A examples/cancellation.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/cancellation.ts
 */

import { type Backend, OpenWorkflow, WorkflowCanceledError } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ canceled: boolean; stepSaw: string; status: string }> {
  const ow = new OpenWorkflow({ backend });
  let stepSaw = "";
  const started = Promise.withResolvers<void>();
  const exportJob = ow.defineWorkflow(
    { name: "export-report" },
    async ({ step }) => {
      await step.run(
        { name: "render", timeoutMs: 60_000 },
        ({ signal }) =>
          new Promise<void>((resolve, reject) => {
            started.resolve();
            // A long task that honours its signal, as fetch() does.
            const timer = setTimeout(resolve, 60_000);
            signal.addEventListener("abort", () => {
              clearTimeout(timer);
              stepSaw = (signal.reason as Error).name;
              reject(signal.reason);
            });
          }),
      );
      await step.run({ name: "upload" }, () => "never reached");
    },
  );

  const worker = ow.newWorker({ pollIntervalMs: 20 });
  await worker.start();
  try {
    const handle = await exportJob.run();
    await started.promise;
    await handle.cancel(); // or: await ow.cancelRun(handle.id)
    const canceled = await handle.result().then(
      () => false,
      (e) => e instanceof WorkflowCanceledError,
    );
    return { canceled, stepSaw, status: (await handle.refresh()).status };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { canceled: true, stepSaw: "WorkflowCanceledError", status: "canceled" }
  } finally {
    await backend.stop();
  }
}
