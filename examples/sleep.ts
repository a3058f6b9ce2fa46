/**
 * Durable sleep and delayed start: a sleeping run holds no worker and
 * survives restarts; a run can also be started later.
 *
 *   deno run -A examples/sleep.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/sleep.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ statusWhileSleeping: string; result: string }> {
  const ow = new OpenWorkflow({ backend });
  const reminder = ow.defineWorkflow<{ user: string }, string>(
    { name: "trial-reminder" },
    async ({ input, step }) => {
      await step.run(
        { name: "welcome" },
        () => `welcome mail to ${input.user}`,
      );
      await step.sleep("wait-for-trial-to-end", "500ms"); // e.g. "14d" in real life
      await step.sleepUntil("wait-until", new Date(Date.now() - 1)); // a past date returns at once
      return await step.run(
        { name: "remind" },
        () => `reminder mail to ${input.user}`,
      );
    },
  );

  const worker = ow.newWorker({ pollIntervalMs: 20 });
  await worker.start();
  try {
    // Starts in 100 ms (a Date works too).
    const handle = await reminder.run({ user: "ada" }, {
      availableAt: "100ms",
    });
    let statusWhileSleeping = "";
    for (let i = 0; i < 50 && statusWhileSleeping !== "sleeping"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      statusWhileSleeping = (await handle.refresh()).status;
    }
    return {
      statusWhileSleeping,
      result: await handle.result({ timeoutMs: 30_000 }),
    };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { statusWhileSleeping: "sleeping", result: "reminder mail to ada" }
  } finally {
    await backend.stop();
  }
}
