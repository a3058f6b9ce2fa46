/**
 * The floor under throughput on Postgres: what the engine's own backend
 * calls for each run cost with nothing of the worker and the execution
 * around them, measured beside the engine, alternating, in one invocation.
 *
 * Both sides run the backlog workload of `bench/core.ts` in a process of
 * their own, on a fresh database each: 1,000 runs of the four-step
 * workflow started by a client, then the worker started, every `result()`
 * awaited. The engine's side is `ow.newWorker({ concurrency: 100 })`
 * (`core.ts backlog`); the floor's is a loop over `BackendPostgres` alone
 * (`core.ts floor`) that makes the calls the engine's worker makes, in the
 * same order and batches, and nothing else.
 *
 * Per side: workflows/s; the process's CPU per run (client and worker);
 * the server's (the whole cluster's, background processes included); their
 * sum, the CPU a run costs on this machine; and the rate that sum allows
 * with every core busy all the time (cores × 1,000 ms / CPU per run), a
 * bound neither side reaches, since each waits on round trips and commits.
 * The gap between the sides is what the worker and the execution add; the
 * floor is what the statements, the driver and the client cost.
 *
 *   deno run -A bench/throughput_floor.ts [--database-url URL]
 *     [--runs 1000] [--rounds 5]
 *
 * Prints a table and one JSON line. Each round's databases
 * (`owbench_scale_tfloor*`) are dropped after it; those of a run cut short
 * are dropped by the next.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  createScratchDatabase,
  DEFAULT_DATABASE_URL,
  dropStaleScratchDatabases,
  percentile,
  printTable,
  round,
} from "./scaling/common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "database-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ?? DEFAULT_DATABASE_URL,
    },
    runs: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
  },
});

const ROUNDS = Number(values.rounds);
const CORES = navigator.hardwareConcurrency;

/** One round of one side, as `core.ts` reports it. */
interface Sample {
  workflowsPerSecond: number;
  cpuMsPerRun: number;
  serverCpuMsPerRun: number | null;
}

type Side = "engine" | "floor";
const WORKLOAD: Record<Side, string> = { engine: "backlog", floor: "floor" };

/** Runs one side once on a fresh database; returns its report. */
async function measure(side: Side): Promise<Sample> {
  const db = await createScratchDatabase(values["database-url"], "tfloor");
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./core.ts", import.meta.url).pathname,
        WORKLOAD[side],
        "--backend",
        "postgres",
        "--database-url",
        db.url,
        "--runs",
        values.runs,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    if (!output.success) {
      throw new Error(`core.ts ${WORKLOAD[side]} exited with ${output.code}`);
    }
    const report = JSON.parse(lines.at(-1)!) as Sample;
    if (report.serverCpuMsPerRun === null) {
      throw new Error("the server's CPU is measured on this machine only");
    }
    return report;
  } finally {
    await db.drop();
  }
}

const median = (samples: number[]) => percentile(samples, 50);

await dropStaleScratchDatabases(values["database-url"]);
const samples: Record<Side, Sample[]> = { engine: [], floor: [] };
for (let r = 0; r < ROUNDS; r++) {
  // Alternating which side goes first, so that neither always follows
  // the other's leftovers (autovacuum, dirty pages).
  const order: Side[] = r % 2 === 0 ? ["engine", "floor"] : ["floor", "engine"];
  for (const side of order) {
    const sample = await measure(side);
    samples[side].push(sample);
    console.error(
      `round ${r + 1}/${ROUNDS} ${side}: ${JSON.stringify(sample)}`,
    );
  }
}

/** One side's medians, and the rate its CPU per run allows. */
function summarize(list: Sample[]) {
  const total = median(
    list.map((s) => s.cpuMsPerRun + (s.serverCpuMsPerRun ?? 0)),
  );
  return {
    workflowsPerSecond: round(median(list.map((s) => s.workflowsPerSecond)), 1),
    processCpuMsPerRun: round(median(list.map((s) => s.cpuMsPerRun)), 3),
    serverCpuMsPerRun: round(
      median(list.map((s) => s.serverCpuMsPerRun ?? 0)),
      3,
    ),
    cpuMsPerRun: round(total, 3),
    boundWorkflowsPerSecond: round((CORES * 1000) / total, 0),
  };
}
const summary = {
  engine: summarize(samples.engine),
  floor: summarize(samples.floor),
};

printTable(
  `Backlog of ${values.runs} runs, medians of ${ROUNDS} alternating rounds`,
  [
    "side",
    "workflows/s",
    "process CPU ms/run",
    "server CPU ms/run",
    "CPU ms/run",
    `bound on ${CORES} cores (wf/s)`,
  ],
  (["engine", "floor"] as const).map((side) => [
    side,
    summary[side].workflowsPerSecond,
    summary[side].processCpuMsPerRun,
    summary[side].serverCpuMsPerRun,
    summary[side].cpuMsPerRun,
    summary[side].boundWorkflowsPerSecond,
  ]),
);
console.log(JSON.stringify({
  date: new Date().toISOString(),
  runs: Number(values.runs),
  rounds: ROUNDS,
  cores: CORES,
  ...summary,
}));
