/**
 * A soak worker process. Usage:
 *   deno run -A tests/soak/worker.ts URL NAMESPACE WORKER_ID
 * Prints `ready`, and stops gracefully when its stdin closes; the soak
 * SIGKILLs the churning one now and then, and reads the resident memory of
 * the others from /proc.
 */

import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { defineSoak } from "./workflows.ts";

const [url, namespaceId, workerId] = Deno.args;
const backend = await BackendPostgres.connect(url, {
  namespaceId,
  maxConnections: 4,
});
const ow = new OpenWorkflow({ backend });
defineSoak(ow, workerId);
const worker = ow.newWorker({
  workerId,
  concurrency: 20,
  leaseDurationMs: 3_000,
});
await worker.start();
console.log("ready");
for await (const _ of Deno.stdin.readable) {
  // until stdin closes
}
await worker.stop();
await backend.stop();
