/**
 * Versioning: a run records the version it started on, and only workers
 * that have that version execute it; the others leave it visibly pending.
 *
 *   deno run -A examples/versioning.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/versioning.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ v1: string; v2: string; waitingFor: string | null }> {
  // An old deployment and a new one, side by side during a rollout.
  const oldDeploy = new OpenWorkflow({ backend });
  const newDeploy = new OpenWorkflow({ backend });
  const signupV1 = oldDeploy.defineWorkflow(
    { name: "signup", version: "1" },
    () => "v1: email only",
  );
  const signupV2 = newDeploy.defineWorkflow(
    { name: "signup", version: "2" },
    () => "v2: email and sms",
  );

  const started1 = await signupV1.run();
  const started2 = await signupV2.run();
  await newDeploy.newWorker().tick(); // executes only the v2 run
  const v2 = await started2.result();
  const waiting = await started1.refresh();
  const waitingFor = waiting.status === "pending" ? waiting.version : null;
  await oldDeploy.newWorker().tick(); // an old worker drains the v1 run
  return { v1: await started1.result(), v2, waitingFor };
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { v1: "v1: email only", v2: "v2: email and sms", waitingFor: "1" }
  } finally {
    await backend.stop();
  }
}
