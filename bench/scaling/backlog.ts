/**
 * The `backlog` part of `bench:scaling`: a burst of runs waits before any
 * worker starts, then one worker (concurrency 100) drains it, every
 * `result()` awaited. Per backlog size, on a fresh Postgres database:
 * workflows and steps per second, and per run the tuples the server read
 * (`pg_stat_database.tup_fetched`, `tup_returned`), its transactions, the
 * server's CPU and the worker process's CPU. The work per run should not
 * grow with the backlog.
 *
 * @module
 */

import postgres from "postgres";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import {
  clusterCpuSeconds,
  cpuSeconds,
  postmasterPid,
  printSummary,
  printTable,
  ratio,
  round,
  sleep,
  withStore,
} from "./common.ts";
import { defineFourSteps } from "./workflows.ts";

/** Options of {@linkcode runBacklog}. */
export interface BacklogOptions {
  databaseUrl: string;
  /** The backlog sizes, each measured on a database of its own. */
  sizes: number[];
  /** The worker's concurrency. */
  concurrency: number;
  log: (line: string) => void;
}

interface Counters {
  fetched: number;
  returned: number;
  transactions: number;
  serverCpuS: number;
}

/** What one backlog size measured. */
interface BacklogResult {
  backlog: number;
  seconds: number;
  workflowsPerSecond: number;
  stepsPerSecond: number;
  tupFetchedPerRun: number;
  tupReturnedPerRun: number;
  transactionsPerRun: number;
  serverCpuMsPerRun: number;
  workerCpuMsPerRun: number;
}

async function counters(
  admin: postgres.Sql,
  name: string,
  postmasterPid: number | null,
): Promise<Counters> {
  await admin`SELECT pg_stat_clear_snapshot()`;
  const [row] = await admin`
    SELECT tup_fetched::bigint AS fetched, tup_returned::bigint AS returned,
      (xact_commit + xact_rollback)::bigint AS transactions
    FROM pg_stat_database WHERE datname = ${name}`;
  return {
    fetched: Number(row.fetched),
    returned: Number(row.returned),
    transactions: Number(row.transactions),
    serverCpuS: postmasterPid === null ? 0 : clusterCpuSeconds(postmasterPid),
  };
}

async function measureBacklog(
  o: BacklogOptions,
  backlog: number,
): Promise<BacklogResult> {
  return await withStore(
    "postgres",
    o,
    `backlog_${backlog}`,
    async (url, db) => {
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const clientBackend = await BackendPostgres.connect(url);
        const client = new OpenWorkflow({ backend: clientBackend });
        const four = defineFourSteps(client);
        o.log(`backlog ${backlog}: starting the runs`);
        const handles = [];
        for (let i = 0; i < backlog; i += 1_000) {
          handles.push(
            ...await Promise.all(
              Array.from(
                { length: Math.min(1_000, backlog - i) },
                () => four.run(null),
              ),
            ),
          );
        }
        const pid = await postmasterPid(admin);
        // Statistics of the loading reach pg_stat_database within a
        // second of each process going idle.
        await sleep(1_500);
        const before = await counters(admin, db!.name, pid);
        const workerBackend = await BackendPostgres.connect(url);
        const workerSide = new OpenWorkflow({ backend: workerBackend });
        defineFourSteps(workerSide);
        const worker = workerSide.newWorker({ concurrency: o.concurrency });
        const workerCpuBefore = cpuSeconds("self");
        o.log(`backlog ${backlog}: draining`);
        const started = performance.now();
        await worker.start();
        await Promise.all(handles.map((handle) => handle.result()));
        const seconds = (performance.now() - started) / 1000;
        const workerCpuS = cpuSeconds("self") - workerCpuBefore;
        await worker.stop();
        // Closing the connections flushes their processes' statistics.
        await workerBackend.stop();
        await clientBackend.stop();
        await sleep(500);
        const after = await counters(admin, db!.name, pid);
        const per = (n: number, digits = 1) => round(n / backlog, digits)!;
        return {
          backlog,
          seconds: round(seconds, 2)!,
          workflowsPerSecond: round(backlog / seconds, 1)!,
          stepsPerSecond: round((4 * backlog) / seconds, 0)!,
          tupFetchedPerRun: per(after.fetched - before.fetched),
          tupReturnedPerRun: per(after.returned - before.returned),
          transactionsPerRun: per(after.transactions - before.transactions, 3),
          serverCpuMsPerRun: per(
            (after.serverCpuS - before.serverCpuS) * 1000,
            3,
          ),
          workerCpuMsPerRun: per(workerCpuS * 1000, 3),
        };
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  );
}

/**
 * Measures the drain of each backlog size in `o.sizes` on Postgres; prints
 * a table and the JSON summary line.
 */
export async function runBacklog(o: BacklogOptions): Promise<void> {
  const results: BacklogResult[] = [];
  for (const size of o.sizes) {
    const result = await measureBacklog(o, size);
    o.log(`backlog ${size}: ${JSON.stringify(result)}`);
    results.push(result);
  }
  const base = results[0];
  printTable(
    `Draining a backlog of 4-step runs (Postgres, one worker, concurrency ${o.concurrency})`,
    [
      "backlog",
      "wf/s",
      "steps/s",
      "tup_fetched/run",
      "tup_returned/run",
      "xacts/run",
      "server CPU ms/run",
      "worker CPU ms/run",
      "wf/s vs first",
    ],
    results.map((r) => [
      r.backlog,
      r.workflowsPerSecond,
      r.stepsPerSecond,
      r.tupFetchedPerRun,
      r.tupReturnedPerRun,
      r.transactionsPerRun,
      r.serverCpuMsPerRun,
      r.workerCpuMsPerRun,
      ratio(r.workflowsPerSecond, base.workflowsPerSecond),
    ]),
  );
  printSummary("backlog", { concurrency: o.concurrency, results });
}
