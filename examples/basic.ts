/**
 * The basic workflow: one step, one result.
 *
 *   deno run -A examples/basic.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/basic.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns the workflow's output. */
export async function main(backend: Backend): Promise<{ greeting: string }> {
  const ow = new OpenWorkflow({ backend });

  const greet = ow.defineWorkflow<{ name: string }, { greeting: string }>(
    { name: "greet" },
    async ({ input, step }) => {
      const greeting = await step.run({ name: "generate" }, () => {
        return `Hello, ${input.name}!`;
      });
      return { greeting };
    },
  );

  const worker = ow.newWorker();
  await worker.start();
  try {
    const handle = await greet.run({ name: "Alice" });
    return await handle.result();
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { greeting: "Hello, Alice!" }
  } finally {
    await backend.stop();
  }
}
