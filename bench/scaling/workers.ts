/**
 * Part 5, worker processes: throughput of 1,000 runs of four no-op steps
 * with 1, 2 and 4 worker processes on one Postgres, and where the
 * database becomes the bottleneck.
 *
 * Each measurement gets a fresh database. The workers are `deno run`
 * children (bench/scaling/child.ts); this process is the client that
 * starts the runs concurrently and awaits every result. Measured: runs per
 * second; the CPU seconds of the database's server processes (the ones
 * connected to this database, from `/proc/<pid>/stat`), of the workers and
 * of the client; the whole machine's busy time (`/proc/stat`, other users
 * included); transactions per run (counted once every connection has
 * closed, connecting and a 20-run warm-up included); and what the
 * database's active processes were waiting on (`pg_stat_activity`, sampled
 * every 50 ms).
 *
 * @module
 */

import { OpenWorkflow } from "../../mod.ts";
import {
  backendPids,
  cpuSeconds,
  createScratchDatabase,
  printSummary,
  printTable,
  retryOnRestart,
  round,
  type ScratchDatabase,
  transactionCount,
  transactionCountOnceGone,
} from "./common.ts";
import { openBackend } from "./harness.ts";
import { defineFourSteps } from "./workflows.ts";

/** Options of the worker-processes part. */
export interface WorkersOptions {
  databaseUrl: string;
  counts: readonly number[];
  runs: number;
  /** Concurrency of each worker ("each"), or split among them ("split"). */
  concurrency: number;
  trials: number;
  /** Pool size of each worker process. */
  maxConnections: number;
  log: (line: string) => void;
}

interface Config {
  workers: number;
  mode: "each" | "split";
}

interface Trial {
  seconds: number;
  runsPerSecond: number;
  postgresCpuSeconds: number;
  workersCpuSeconds: number;
  clientCpuSeconds: number;
  /** Busy CPU of the whole machine, in cores (other users included). */
  machineBusyCores: number;
  transactionsPerRun: number;
  /** Share of the samples of active server processes, by wait event. */
  waits: Record<string, number>;
  activeSamples: number;
}

/** Runs part 5; prints tables and the JSON line. */
export async function runWorkers(o: WorkersOptions): Promise<void> {
  const configs: Config[] = [];
  for (const workers of o.counts) configs.push({ workers, mode: "each" });
  for (const workers of o.counts) {
    if (workers > 1) configs.push({ workers, mode: "split" });
  }
  const trials = new Map<Config, Trial[]>(configs.map((c) => [c, []]));
  for (let t = 0; t < o.trials; t++) {
    const order = t % 2 === 0 ? configs : [...configs].reverse();
    for (const config of order) {
      o.log(
        `workers: trial ${t + 1}, ${config.workers} process(es), concurrency ${
          concurrencyOf(config, o)
        } each`,
      );
      trials.get(config)!.push(
        await retryOnRestart(
          o.databaseUrl,
          `${config.workers} worker process(es)`,
          () => measure(config, o),
          o.log,
        ),
      );
    }
  }
  const cores = navigator.hardwareConcurrency;
  const median = (list: Trial[], key: keyof Trial) =>
    [...list].sort((a, b) => (a[key] as number) - (b[key] as number))[
      Math.floor((list.length - 1) / 2)
    ];
  const baseline = median(trials.get(configs[0])!, "runsPerSecond")
    .runsPerSecond;
  const rows = configs.map((config) => {
    const list = trials.get(config)!;
    const m = median(list, "runsPerSecond");
    const topWaits = Object.entries(m.waits).sort((a, b) => b[1] - a[1])
      .slice(0, 3).map(([w, share]) => `${w} ${Math.round(share * 100)}%`)
      .join(", ");
    return {
      config,
      trial: m,
      all: list.map((x) => round(x.runsPerSecond, 1)),
      speedup: round(m.runsPerSecond / baseline, 2),
      topWaits,
    };
  });
  printTable(
    `Worker processes: ${o.runs} runs x 4 no-op steps, started at once by this process (median of ${o.trials} trials; CPU in cores = CPU s / wall s; the machine has ${cores} cores)`,
    [
      "workers",
      "concurrency",
      "runs/s",
      "trials",
      "speedup",
      "wall s",
      "pg CPU",
      "workers CPU",
      "client CPU",
      "machine busy",
      "xact/run",
      "pg waits (active samples)",
    ],
    rows.map(({ config, trial: m, all, speedup, topWaits }) => [
      config.workers,
      `${concurrencyOf(config, o)} ${
        config.mode === "each" ? "each" : "each (split)"
      }`,
      round(m.runsPerSecond, 1),
      all.join(" / "),
      speedup,
      round(m.seconds, 2),
      round(m.postgresCpuSeconds / m.seconds, 2),
      round(m.workersCpuSeconds / m.seconds, 2),
      round(m.clientCpuSeconds / m.seconds, 2),
      round(m.machineBusyCores, 2),
      round(m.transactionsPerRun, 2),
      topWaits,
    ]),
  );
  const last = rows.filter((r) => r.config.mode === "each").at(-1)!;
  const ours = last.trial.postgresCpuSeconds + last.trial.workersCpuSeconds +
    last.trial.clientCpuSeconds;
  const walShare = Object.entries(last.trial.waits)
    .filter(([wait]) => wait.includes("WAL"))
    .reduce((sum, [, share]) => sum + share, 0);
  console.log(
    `\nWith ${last.config.workers} workers: Postgres used ${
      round(last.trial.postgresCpuSeconds / last.trial.seconds, 2)
    } cores (${
      Math.round(last.trial.postgresCpuSeconds / ours * 100)
    }% of this benchmark's CPU), ${
      round(last.trial.transactionsPerRun, 2)
    } transactions per run; its active processes were waiting on the WAL (flush) in ${
      Math.round(walShare * 100)
    }% of the samples. The machine was ${
      Math.round(last.trial.machineBusyCores / cores * 100)
    }% busy (all users)${
      last.trial.machineBusyCores / cores > 0.9
        ? ": the CPU is saturated, so more worker processes only add contention."
        : "."
    }`,
  );
  printSummary("workers", {
    runs: o.runs,
    concurrency: o.concurrency,
    maxConnectionsPerWorker: o.maxConnections,
    cores,
    results: rows.map(({ config, trial, all, speedup }) => ({
      workers: config.workers,
      mode: config.mode,
      concurrencyEach: concurrencyOf(config, o),
      runsPerSecondTrials: all,
      speedup,
      ...trial,
    })),
  });
}

function concurrencyOf(config: Config, o: WorkersOptions): number {
  return config.mode === "each"
    ? o.concurrency
    : Math.max(1, Math.round(o.concurrency / config.workers));
}

/** Runs before each trial, so that every pool has opened its connections. */
const WARM_UP_RUNS = 20;

async function measure(config: Config, o: WorkersOptions): Promise<Trial> {
  const db = await createScratchDatabase(o.databaseUrl, "workers");
  const children: Deno.ChildProcess[] = [];
  const transactionsAtStart = await transactionCount(db.admin, db.name);
  let trial: Trial;
  try {
    const clientBackend = await openBackend("postgres", db.url, {
      maxConnections: 4,
    });
    try {
      for (let i = 0; i < config.workers; i++) {
        children.push(spawnWorker(db.url, concurrencyOf(config, o), o));
      }
      await Promise.all(children.map((child) => waitForReady(child)));
      const client = new OpenWorkflow({ backend: clientBackend });
      const four = defineFourSteps(client);
      await Promise.all(
        Array.from(
          { length: WARM_UP_RUNS },
          async () => (await four.run(null)).result(),
        ),
      ); // warm-up: every pool opens connections
      const before = await counters(db, children);
      const sampler = sampleWaits(db);
      const startedAt = performance.now();
      const handles = await Promise.all(
        Array.from({ length: o.runs }, () => four.run(null)),
      );
      await Promise.all(handles.map((h) => h.result({ timeoutMs: 170_000 })));
      const seconds = (performance.now() - startedAt) / 1000;
      const waits = await sampler.stop();
      const after = await counters(db, children);
      const postgresCpu = [...after.postgres].reduce(
        (sum, [pid, cpu]) => sum + cpu - (before.postgres.get(pid) ?? 0),
        0,
      );
      trial = {
        seconds,
        runsPerSecond: o.runs / seconds,
        postgresCpuSeconds: postgresCpu,
        workersCpuSeconds: after.workers - before.workers,
        clientCpuSeconds: after.client - before.client,
        machineBusyCores: (after.machineBusy - before.machineBusy) / seconds,
        transactionsPerRun: 0, // counted once every process has left
        waits: waits.shares,
        activeSamples: waits.samples,
      };
    } finally {
      await Promise.all(children.map(stopChild));
      await clientBackend.stop();
    }
    trial.transactionsPerRun =
      (await transactionCountOnceGone(db.admin, db.name) -
        transactionsAtStart) /
      (o.runs + WARM_UP_RUNS);
    return trial;
  } finally {
    await db.drop();
  }
}

function spawnWorker(
  url: string,
  concurrency: number,
  o: WorkersOptions,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./child.ts", import.meta.url).pathname,
      "worker",
      "--location",
      url,
      "--concurrency",
      String(concurrency),
      "--max-connections",
      String(o.maxConnections),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function waitForReady(child: Deno.ChildProcess): Promise<void> {
  let buffer = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      buffer += chunk;
      if (buffer.includes("ready\n")) return;
    }
    throw new Error("a worker process exited before it was ready");
  } finally {
    clearTimeout(timer);
  }
}

/** Closes the child's stdin (it stops gracefully); kills it after 15 s. */
async function stopChild(child: Deno.ChildProcess): Promise<void> {
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    await child.stdin.close().catch(() => {});
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}

interface Counters {
  /** CPU seconds of each server process connected to the database. */
  postgres: Map<number, number>;
  workers: number;
  client: number;
  /** Busy CPU seconds of the whole machine. */
  machineBusy: number;
}

async function counters(
  db: ScratchDatabase,
  children: Deno.ChildProcess[],
): Promise<Counters> {
  const pids = await backendPids(db.admin, db.name);
  return {
    postgres: new Map(pids.map((pid) => [pid, cpuSeconds(pid)])),
    workers: children.reduce((sum, child) => sum + cpuSeconds(child.pid), 0),
    client: cpuSeconds("self"),
    machineBusy: machineBusySeconds(),
  };
}

/** Busy CPU seconds of the machine since boot (`/proc/stat`). */
function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line
    .trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Samples what the database's active server processes wait on, every
 * 50 ms, until `stop()`; `CPU` when they wait on nothing.
 */
function sampleWaits(
  db: ScratchDatabase,
): { stop(): Promise<{ shares: Record<string, number>; samples: number }> } {
  const counts = new Map<string, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rows = await db.admin`
        SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait,
          count(*)::int AS n
        FROM pg_stat_activity
        WHERE datname = ${db.name} AND state = 'active'
        GROUP BY 1`;
      for (const row of rows) {
        const wait = String(row.wait);
        counts.set(wait, (counts.get(wait) ?? 0) + Number(row.n));
        samples += Number(row.n);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const shares: Record<string, number> = {};
      for (const [wait, n] of counts) {
        shares[wait] = round(n / Math.max(1, samples), 3)!;
      }
      return { shares, samples };
    },
  };
}
