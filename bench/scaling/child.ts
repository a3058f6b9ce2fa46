/**
 * The child processes of the scaling benchmarks. Not run by hand.
 *
 *   deno run -A bench/scaling/child.ts long   --backend B --location L --lease-ms N
 *   deno run -A bench/scaling/child.ts worker --location URL --concurrency N --max-connections N
 *
 * - `long`: a worker (concurrency 1) of the long workflow, printing
 *   `step <i>` as each step function starts; the parent kills it mid-run.
 * - `worker`: a worker of the four-step workflow on Postgres. Prints
 *   `ready` once started, and stops gracefully when stdin closes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { OpenWorkflow } from "../../mod.ts";
import type { BackendKind } from "./common.ts";
import { openBackend } from "./harness.ts";
import { defineFourSteps, defineLong } from "./workflows.ts";

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    backend: { type: "string", default: "postgres" },
    location: { type: "string" },
    "lease-ms": { type: "string", default: "2000" },
    concurrency: { type: "string", default: "100" },
    "max-connections": { type: "string", default: "6" },
  },
});

const role = positionals[0];
const location = values.location!;
const encoder = new TextEncoder();
const say = (line: string) =>
  Deno.stdout.writeSync(encoder.encode(`${line}\n`));

if (role === "long") {
  const backend = await openBackend(values.backend as BackendKind, location);
  const ow = new OpenWorkflow({ backend });
  defineLong(ow, (i) => say(`step ${i}`));
  const worker = ow.newWorker({
    concurrency: 1,
    leaseDurationMs: Number(values["lease-ms"]),
  });
  await worker.start();
  say("ready");
  // Runs until killed.
} else if (role === "worker") {
  const backend = await openBackend("postgres", location, {
    maxConnections: Number(values["max-connections"]),
  });
  const ow = new OpenWorkflow({ backend });
  defineFourSteps(ow);
  const worker = ow.newWorker({ concurrency: Number(values.concurrency) });
  await worker.start();
  say("ready");
  for await (const _ of Deno.stdin.readable) {
    // Until the parent closes stdin.
  }
  await worker.stop();
  await backend.stop();
} else {
  console.error(`unknown role ${JSON.stringify(role)}`);
  Deno.exit(2);
}
