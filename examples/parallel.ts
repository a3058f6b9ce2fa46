/**
 * Parallel steps: `Promise.all` over `step.run()` runs them concurrently;
 * each is checkpointed on its own.
 *
 *   deno run -A examples/parallel.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/parallel.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stand-ins for a database and a billing API. */
const db = {
  users: { findOne: async () => (await wait(50), { id: "u-1", name: "Ada" }) },
  settings: { findOne: async () => (await wait(50), { theme: "dark" }) },
};
const stripe = {
  subscriptions: { retrieve: async () => (await wait(50), { plan: "pro" }) },
};

/** Runs the example on `backend` and returns the workflow's output. */
export async function main(backend: Backend): Promise<unknown> {
  const ow = new OpenWorkflow({ backend });

  const workflow = ow.defineWorkflow(
    { name: "parallel-example" },
    async ({ step }) => {
      const [user, settings, subscription] = await Promise.all([
        step.run({ name: "user" }, () => db.users.findOne()),
        step.run({ name: "settings" }, () => db.settings.findOne()),
        step.run(
          { name: "subscription" },
          () => stripe.subscriptions.retrieve(),
        ),
      ]);
      return { user, settings, subscription };
    },
  );

  const worker = ow.newWorker();
  await worker.start();
  try {
    const handle = await workflow.run();
    return await handle.result();
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
  } finally {
    await backend.stop();
  }
}
