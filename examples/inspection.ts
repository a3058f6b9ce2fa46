/**
 * Inspection: look runs up by id, list them with filters and cursor
 * pagination, and read their step attempts, as a CLI or dashboard would.
 *
 *   deno run -A examples/inspection.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/inspection.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what it found. */
export async function main(
  backend: Backend,
): Promise<{ listed: number; pages: number; steps: string[] }> {
  const ow = new OpenWorkflow({ backend });
  const resize = ow.defineWorkflow<{ image: number }, string>({
    name: "resize-image",
  }, async ({ input, step }) => {
    await step.run({ name: "download" }, () => `img-${input.image}`);
    return await step.run({ name: "resize" }, () => `img-${input.image}@2x`);
  });
  const since = new Date(Date.now() - 1000);
  const handles = await Promise.all(
    Array.from({ length: 5 }, (_, image) => resize.run({ image })),
  );
  await ow.newWorker({ concurrency: 5 }).tick();

  let cursor: string | null = null;
  let listed = 0;
  let pages = 0;
  do {
    const page: Awaited<ReturnType<typeof ow.listRuns>> = await ow.listRuns({
      workflowName: "resize-image",
      status: "succeeded",
      createdAfter: since,
      limit: 2,
      cursor,
    });
    listed += page.runs.length;
    pages++;
    cursor = page.nextCursor;
  } while (cursor !== null);

  const one = await ow.getRun(handles[0].id);
  const steps = (await ow.listStepAttempts(one!.id)).map((a) =>
    `${a.stepName}: ${a.status}`
  );
  return { listed, pages, steps };
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
  } finally {
    await backend.stop();
  }
}
