/**
 * The floor under throughput on Postgres: what the engine's own backend
 * calls for each run cost with nothing of the worker and the execution
 * around them, measured beside the engine, alternating, in one invocation.
 *
 * Both sides run the workloads of `bench/core.ts` in a process of their
 * own, on a fresh database each: backlog (1,000 runs of the four-step
 * workflow started by a client, then the worker started, every `result()`
 * awaited) and throughput (the worker started first). The engine's side is
 * `ow.newWorker({ concurrency: 100 })` (`core.ts backlog`, `throughput`);
 * the floor's is a loop over `BackendPostgres` alone (`core.ts floor`,
 * `floor-throughput`) that makes the calls the engine's worker makes, in
 * the same order and batches, and nothing else.
 *
 * Per side, the budget of a run:
 * - CPU: the process's CPU per run (client and worker), the server's (the
 *   whole cluster's, background processes included), their sum, the CPU a
 *   run costs on this machine, and the rate that sum allows with every
 *   core busy all the time (cores × 1,000 ms / CPU per run), a bound
 *   neither side reaches, since each waits on round trips and commits;
 * - commits: the database's transactions per run (`pg_stat_database`,
 *   read once the process has gone: its set-up, reads and writes);
 * - round trips (the floor's): how many a run waits for one after another
 *   (its claim's, its four steps', its completion's) and their mean time.
 *   A run takes those trips end to end, so with 100 runs in flight the
 *   rate is 100 × 1,000 / (trips × mean ms): to go faster, a run needs
 *   fewer trips or shorter ones.
 * The gap between the sides is what the worker and the execution add; the
 * floor is what the statements, the driver and the client cost.
 *
 *   deno run -A bench/throughput_floor.ts [--database-url URL]
 *     [--runs 1000] [--rounds 5] [--workloads backlog,throughput]
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
  transactionCountOnceGone,
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
    workloads: { type: "string", default: "backlog,throughput" },
  },
});
const WORKLOADS = values.workloads.split(",") as Workload[];
for (const workload of WORKLOADS) {
  if (workload !== "backlog" && workload !== "throughput") {
    throw new Error(`unknown workload ${JSON.stringify(workload)}`);
  }
}

const ROUNDS = Number(values.rounds);
const CORES = navigator.hardwareConcurrency;

/** One round of one side, as `core.ts` reports it, and its commits. */
interface Sample {
  workflowsPerSecond: number;
  cpuMsPerRun: number;
  serverCpuMsPerRun: number | null;
  /** The floor's: the round trips a run waited for, and their mean. */
  roundTrips?: { perRun: number; meanMs: number };
  transactionsPerRun: number;
}

type Side = "engine" | "floor";
type Workload = "backlog" | "throughput";
/** The `core.ts` workload each side runs, by workload. */
const SCRIPT_WORKLOADS: Record<Workload, Record<Side, string>> = {
  backlog: { engine: "backlog", floor: "floor" },
  throughput: { engine: "throughput", floor: "floor-throughput" },
};

/** Runs one side once on a fresh database; returns its report. */
async function measure(side: Side, workload: Workload): Promise<Sample> {
  const db = await createScratchDatabase(values["database-url"], "tfloor");
  const script = SCRIPT_WORKLOADS[workload][side];
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./core.ts", import.meta.url).pathname,
        script,
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
      throw new Error(`core.ts ${script} exited with ${output.code}`);
    }
    const report = JSON.parse(lines.at(-1)!) as Sample;
    if (report.serverCpuMsPerRun === null) {
      throw new Error("the server's CPU is measured on this machine only");
    }
    report.transactionsPerRun = round(
      await transactionCountOnceGone(db.admin, db.name) / Number(values.runs),
      3,
    )!;
    return report;
  } finally {
    await db.drop();
  }
}

const median = (samples: number[]) => percentile(samples, 50);

await dropStaleScratchDatabases(values["database-url"]);
const samples = {} as Record<Workload, Record<Side, Sample[]>>;
for (const workload of WORKLOADS) samples[workload] = { engine: [], floor: [] };
for (let r = 0; r < ROUNDS; r++) {
  // Alternating which side goes first, so that neither always follows
  // the other's leftovers (autovacuum, dirty pages).
  const order: Side[] = r % 2 === 0 ? ["engine", "floor"] : ["floor", "engine"];
  for (const workload of WORKLOADS) {
    for (const side of order) {
      const sample = await measure(side, workload);
      samples[workload][side].push(sample);
      console.error(
        `round ${r + 1}/${ROUNDS} ${workload} ${side}: ${
          JSON.stringify(sample)
        }`,
      );
    }
  }
}

/** One side's medians, and the rate its CPU per run allows. */
function summarize(list: Sample[]) {
  const total = median(
    list.map((s) => s.cpuMsPerRun + (s.serverCpuMsPerRun ?? 0)),
  );
  const trips = list.flatMap((s) => s.roundTrips ?? []);
  return {
    workflowsPerSecond: round(median(list.map((s) => s.workflowsPerSecond)), 1),
    processCpuMsPerRun: round(median(list.map((s) => s.cpuMsPerRun)), 3),
    serverCpuMsPerRun: round(
      median(list.map((s) => s.serverCpuMsPerRun ?? 0)),
      3,
    ),
    cpuMsPerRun: round(total, 3),
    boundWorkflowsPerSecond: round((CORES * 1000) / total, 0),
    transactionsPerRun: round(
      median(list.map((s) => s.transactionsPerRun)),
      3,
    ),
    roundTripsPerRun: trips.length === 0
      ? null
      : round(median(trips.map((t) => t.perRun)), 2),
    roundTripMs: trips.length === 0
      ? null
      : round(median(trips.map((t) => t.meanMs)), 2),
  };
}
const summary = Object.fromEntries(WORKLOADS.map((workload) => [workload, {
  engine: summarize(samples[workload].engine),
  floor: summarize(samples[workload].floor),
}]));

for (const workload of WORKLOADS) {
  printTable(
    `${workload} of ${values.runs} runs, medians of ${ROUNDS} alternating rounds`,
    [
      "side",
      "workflows/s",
      "process CPU ms/run",
      "server CPU ms/run",
      "CPU ms/run",
      `bound on ${CORES} cores (wf/s)`,
      "transactions/run",
      "round trips/run",
      "round trip ms",
    ],
    (["engine", "floor"] as const).map((side) => {
      const s = summary[workload][side];
      return [
        side,
        s.workflowsPerSecond,
        s.processCpuMsPerRun,
        s.serverCpuMsPerRun,
        s.cpuMsPerRun,
        s.boundWorkflowsPerSecond,
        s.transactionsPerRun,
        s.roundTripsPerRun ?? "–",
        s.roundTripMs ?? "–",
      ];
    }),
  );
}
console.log(JSON.stringify({
  date: new Date().toISOString(),
  runs: Number(values.runs),
  rounds: ROUNDS,
  cores: CORES,
  ...summary,
}));
