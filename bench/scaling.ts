/**
 * How the cost of @openworkflow/core grows with the work. Each part
 * prints its tables and one JSON line on stdout (progress on stderr):
 *
 * - `history`: run → result, per-step and claim latency with 1M finished
 *   runs (4M step attempts) and 100k unfinished runs, against an empty
 *   database measured in alternating blocks; the plan of the engine's own
 *   claim statement (Postgres: `EXPLAIN ANALYZE`; SQLite: `EXPLAIN QUERY
 *   PLAN` and its time).
 * - `long`: a 1,000-step run, last 100 steps against the first 100; a run
 *   resumed after its worker process was SIGKILLed at step 500.
 * - `fanout`: 1,000 sleeping runs held by one worker, then 1,000 handles
 *   awaiting `result()`: memory, sockets, database load.
 * - `idle`: an idle worker and one waiting `result()`, with LISTEN and
 *   with `listen: false`: transactions per second.
 * - `workers`: 1, 2 and 4 worker processes on one Postgres.
 * - `backlog`: 1,000, 20,000 and 100,000 runs of 4 steps waiting before a
 *   worker starts, then drained (Postgres): rates, and per run the tuples
 *   read, transactions, server and worker CPU.
 *
 *   deno task bench:scaling                          # every part
 *   deno task bench:scaling history --backend postgres
 *   deno task bench:scaling long|fanout|idle|workers [--backend sqlite]
 *   deno task bench:scaling backlog --backlog-sizes 1000,20000,100000
 *
 * Options: `--backend postgres|sqlite|both` (history, long, fanout, idle),
 * `--database-url URL` (default `DATABASE_URL`, else the test server),
 * `--finished-runs`, `--steps-per-run`, `--unfinished-runs`,
 * `--latency-runs` (per database and stage), `--steps`, `--kill-at`,
 * `--runs`, `--sleep-s`, `--window-s`, `--workers 1,2,4`, `--concurrency`,
 * `--trials`, `--max-connections` (per worker process), `--backlog-sizes`.
 *
 * Postgres parts create `owbench_scale_*` databases and drop them; those
 * of a run cut short (killed, or its server restarted) are dropped by the
 * next run. SQLite parts use temporary files. The task passes `--v8-flags=--expose-gc`, so that
 * memory is read after a full collection. The machine may be shared:
 * compare the ratios of one run, never absolute numbers across runs.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type BackendKind,
  DEFAULT_DATABASE_URL,
  dropStaleScratchDatabases,
  noteDisturbance,
} from "./scaling/common.ts";
import { runHistory } from "./scaling/history.ts";
import { runLong } from "./scaling/long.ts";
import { runFanout } from "./scaling/fanout.ts";
import { runIdle } from "./scaling/idle.ts";
import { runWorkers } from "./scaling/workers.ts";
import { runBacklog } from "./scaling/backlog.ts";

const PARTS = [
  "history",
  "long",
  "fanout",
  "idle",
  "workers",
  "backlog",
] as const;

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    backend: { type: "string", default: "both" },
    "database-url": { type: "string" },
    "finished-runs": { type: "string", default: "1000000" },
    "steps-per-run": { type: "string", default: "4" },
    "unfinished-runs": { type: "string", default: "100000" },
    "latency-runs": { type: "string", default: "100" },
    steps: { type: "string", default: "1000" },
    "kill-at": { type: "string", default: "500" },
    runs: { type: "string", default: "1000" },
    "sleep-s": { type: "string", default: "45" },
    "window-s": { type: "string", default: "10" },
    workers: { type: "string", default: "1,2,4" },
    concurrency: { type: "string", default: "100" },
    trials: { type: "string", default: "3" },
    "max-connections": { type: "string", default: "6" },
    "backlog-sizes": { type: "string", default: "1000,20000,100000" },
  },
});

const databaseUrl = values["database-url"] ?? Deno.env.get("DATABASE_URL") ??
  DEFAULT_DATABASE_URL;
const backends: BackendKind[] = values.backend === "both"
  ? ["postgres", "sqlite"]
  : [values.backend as BackendKind];
const log = (line: string) => console.error(`[scaling] ${line}`);

// Other test runs on a shared server restart it now and then: a dropped
// connection must not end the run. The measurement it disturbed is taken
// again (see retryOnRestart).
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  noteDisturbance(event.reason);
});
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  noteDisturbance(event.error);
});

const part = positionals[0] ?? "all";
if (part !== "all" && !(PARTS as readonly string[]).includes(part)) {
  console.error(
    `Unknown part ${JSON.stringify(part)}: expected all, ${PARTS.join(", ")}`,
  );
  Deno.exit(2);
}
const wanted = (name: string) => part === "all" || part === name;

/**
 * Runs one part; a part that fails ends the run with its error and exit
 * code 1 (the handlers above would otherwise swallow it).
 */
async function runPart(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    console.error(`[scaling] ${name} failed:`, error);
    Deno.exit(1);
  }
}

if (backends.includes("postgres") || wanted("workers") || wanted("backlog")) {
  for (const name of await dropStaleScratchDatabases(databaseUrl)) {
    log(`dropped ${name}, left behind by a run that was cut short`);
  }
}

if (wanted("history")) {
  await runPart("history", () =>
    runHistory({
      databaseUrl,
      backends,
      finishedRuns: Number(values["finished-runs"]),
      stepsPerRun: Number(values["steps-per-run"]),
      unfinishedRuns: Number(values["unfinished-runs"]),
      latency: {
        runs: Number(values["latency-runs"]),
        maxRunsMs: 12_000,
        steps: 50,
        probes: 40,
      },
      log,
    }));
}

if (wanted("long")) {
  await runPart("long", () =>
    runLong({
      databaseUrl,
      backends,
      steps: Number(values.steps),
      killAt: Number(values["kill-at"]),
      leaseMs: 2000,
      log,
    }));
}

if (wanted("fanout")) {
  await runPart("fanout", () =>
    runFanout({
      databaseUrl,
      backends,
      runs: Number(values.runs),
      sleepSeconds: Number(values["sleep-s"]),
      windowMs: Number(values["window-s"]) * 1000,
      log,
    }));
}

if (wanted("idle")) {
  await runPart("idle", () =>
    runIdle({
      databaseUrl,
      backends,
      windowMs: Number(values["window-s"]) * 1000,
      log,
    }));
}

if (wanted("workers")) {
  await runPart("workers", () =>
    runWorkers({
      databaseUrl,
      counts: values.workers!.split(",").map(Number),
      runs: Number(values.runs),
      concurrency: Number(values.concurrency),
      trials: Number(values.trials),
      maxConnections: Number(values["max-connections"]),
      log,
    }));
}

if (wanted("backlog")) {
  await runPart("backlog", () =>
    runBacklog({
      databaseUrl,
      sizes: values["backlog-sizes"]!.split(",").map(Number),
      concurrency: Number(values.concurrency),
      log,
    }));
}
