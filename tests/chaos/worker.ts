/**
 * A chaos worker process: connects a backend, registers the chaos
 * workflows and executes runs until SIGTERM (graceful stop) or SIGKILL.
 *
 *   deno run -A tests/chaos/worker.ts --backend postgres \
 *     --engine-url postgresql://…/owchaos_x --effects-url postgresql://… \
 *     --namespace chaos-x --worker-id w1
 *
 * It reports on stdout, one JSON object a line:
 * - `{"event":"ready"}` once the worker is started;
 * - `{"event":"stopped","activeCount":0,"stopMs":…}` after a graceful stop.
 *
 * `--skew-ms` shifts this process's `Date.now()` by that much, to show that
 * nothing that decides ownership or timing trusts the local clock.
 */

import { parseArgs } from "node:util";
import { type Backend, OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { type EffectLedger, postgresLedger, sqliteLedger } from "./effects.ts";
import { defineChaosWorkflows } from "./workflows.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string" },
    "engine-url": { type: "string" },
    "effects-url": { type: "string" },
    namespace: { type: "string" },
    "worker-id": { type: "string" },
    "lease-ms": { type: "string", default: "1500" },
    "poll-ms": { type: "string", default: "50" },
    concurrency: { type: "string", default: "16" },
    "skew-ms": { type: "string", default: "0" },
  },
});

function required(name: keyof typeof values): string {
  const value = values[name];
  if (typeof value !== "string" || value === "") {
    console.error(`chaos worker: --${name} is required`);
    Deno.exit(2);
  }
  return value;
}

const kind = required("backend");
const engineUrl = required("engine-url");
const namespaceId = required("namespace");
const workerId = required("worker-id");
const skewMs = Number(values["skew-ms"]);

if (skewMs !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + skewMs;
}

function emit(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

let backend: Backend;
let ledger: EffectLedger;
if (kind === "postgres") {
  backend = await BackendPostgres.connect(engineUrl, {
    namespaceId,
    maxConnections: 4,
  });
  ledger = postgresLedger(
    values["effects-url"] ?? engineUrl,
    namespaceId,
    workerId,
  );
} else if (kind === "sqlite") {
  backend = await BackendSqlite.connect(engineUrl, { namespaceId });
  ledger = sqliteLedger(engineUrl, namespaceId, workerId);
} else {
  console.error(`chaos worker: unknown --backend ${kind}`);
  Deno.exit(2);
}

const ow = new OpenWorkflow({ backend });
defineChaosWorkflows(ow, ledger);
const worker = ow.newWorker({
  workerId,
  concurrency: Number(values.concurrency),
  leaseDurationMs: Number(values["lease-ms"]),
  pollIntervalMs: Number(values["poll-ms"]),
});

// Backend errors and lost leases go to stderr, where the harness keeps the
// last lines of a worker it reports on.
for (const type of ["error", "lease-lost"] as const) {
  worker.addEventListener(type, (event) => {
    const error = event.error;
    console.error(JSON.stringify({
      event: type,
      at: new Date().toISOString(),
      run: event.workflowRunId,
      error: error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error),
    }));
  });
}

// What happened to each run here, for the report on a graceful stop.
const history = new Map<string, string[]>();
for (
  const type of [
    "run-claimed",
    "run-succeeded",
    "run-failed",
    "run-released",
    "lease-lost",
    "error",
  ] as const
) {
  worker.addEventListener(type, (event) => {
    if (event.workflowRunId === null) return;
    const events = history.get(event.workflowRunId) ?? [];
    events.push(type);
    history.set(event.workflowRunId, events.slice(-8));
  });
}

let stopping = false;
Deno.addSignalListener("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  const startedAt = performance.now();
  // Two overlapping stops, then a third on the stopped worker: all must
  // resolve, and only once every run in flight has finished or parked.
  await Promise.all([worker.stop(), worker.stop()]);
  const activeCount = worker.activeCount;
  await worker.stop();
  // Runs this worker still holds: there must be none.
  const held = (await ow.listRuns({ status: "running", limit: 1000 })).runs
    .filter((run) => run.workerId === workerId)
    .map((run) => ({ id: run.id, events: history.get(run.id) ?? [] }));
  emit({
    event: "stopped",
    activeCount,
    held,
    stopMs: Math.round(performance.now() - startedAt),
  });
  await ledger.close();
  await backend.stop();
  Deno.exit(0);
});

await worker.start();
emit({ event: "ready", workerId, pid: Deno.pid });
