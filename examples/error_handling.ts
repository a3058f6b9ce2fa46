/**
 * Error handling: a step that fails for good rejects into the workflow,
 * which may catch it, record it in another step, and rethrow it to fail the
 * run. `result()` then rejects with `WorkflowFailedError`.
 *
 *   deno run -A examples/error_handling.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/error_handling.ts
 */

import { type Backend, OpenWorkflow, WorkflowFailedError } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** A stand-in for an unreliable API, and a log of what was handled. */
const riskyAPI = {
  calls: 0,
  call(): Promise<string> {
    this.calls++;
    return Promise.reject(new Error("service unavailable"));
  },
};
const logger = {
  lines: [] as string[],
  error(error: unknown): Promise<void> {
    this.lines.push(String(error));
    return Promise.resolve();
  },
};

/** What the example observed. */
export interface ErrorHandlingOutcome {
  /** The error `result()` rejected with. */
  error: WorkflowFailedError;
  /** What the workflow logged. */
  logged: string[];
  /** How often the risky step was tried (its retry policy allows 2). */
  calls: number;
}

/** Runs the example on `backend`. */
export async function main(backend: Backend): Promise<ErrorHandlingOutcome> {
  const ow = new OpenWorkflow({ backend });

  const workflow = ow.defineWorkflow(
    { name: "with-error-handling" },
    async ({ step }) => {
      try {
        const result = await step.run(
          {
            name: "risky-operation",
            retry: { maxAttempts: 2, initialIntervalMs: 100 },
          },
          async () => {
            return await riskyAPI.call();
          },
        );
        return { success: true, result };
      } catch (error) {
        // Handle the error
        await step.run({ name: "log-error" }, async () => {
          await logger.error(error);
        });
        throw error; // Re-throw to mark workflow as failed
      }
    },
  );

  const worker = ow.newWorker({ pollIntervalMs: 20 });
  await worker.start();
  try {
    const handle = await workflow.run();
    try {
      await handle.result();
      throw new Error("the workflow was expected to fail");
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      return { error, logged: logger.lines, calls: riskyAPI.calls };
    }
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    const { error, logged, calls } = await main(backend);
    console.log(
      `run failed as designed after ${calls} attempts: ${error.message}`,
    );
    console.log("logged:", logged);
  } finally {
    await backend.stop();
  }
}
