/**
 * Part 3, fan-out: what do 1,000 sleeping runs cost the worker that put
 * them to sleep, and what do 1,000 `result()` calls waiting in one process
 * cost the database?
 *
 * A worker (concurrency 100) runs 1,000 runs of a workflow that sleeps
 * (`step.sleep`, 45 s by default) and then runs one step. Measured: the
 * process's memory and open sockets before, while the runs sleep, and
 * while 1,000 handles await `result()`; the database's transactions per
 * second (Postgres: `pg_stat_database` of a fresh database) and the backend
 * calls per second in each phase; how long after the sleep ended all
 * results arrived; and, for leaks, how much the heap grows per run over
 * bursts of 1,000 four-step runs once the caches are warm.
 *
 * @module
 */

import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import { type Backend, OpenWorkflow, type Worker } from "../../mod.ts";
import {
  type BackendKind,
  CallStats,
  instrument,
  memoryMiB,
  openDescriptors,
  printSummary,
  printTable,
  round,
  type ScratchDatabase,
  sleep,
  STATS_SETTLE_MS,
  transactionsPerSecond,
  withStore,
} from "./common.ts";
import { openBackend } from "./harness.ts";
import { defineFourSteps, defineNap, NAP } from "./workflows.ts";

/** Sizes of the fan-out part. */
export interface FanoutOptions {
  databaseUrl: string;
  backends: readonly BackendKind[];
  runs: number;
  sleepSeconds: number;
  windowMs: number;
  log: (line: string) => void;
}

/**
 * Heap growth per run between two equal bursts of runs that a leak-free
 * engine stays under (the noise of the measurement is 20–40 B).
 */
const MAX_GROWTH_BYTES = 100;

/** Bursts of runs for the leak measurement, and how many warm up first. */
const LEAK_BURSTS = 8;
const LEAK_WARM_UP_BURSTS = 3;

/** How long the worker may take to end its runs once their results arrived. */
const WORKER_IDLE_TIMEOUT_MS = 10_000;

/** A snapshot of the process (and of the database's connections). */
interface Snapshot {
  rssMiB: number;
  heapUsedMiB: number;
  sockets: number;
  /** Postgres: connections to the database (`pg_stat_activity`). */
  dbConnections: number | null;
}

/** The load of one waiting phase. */
interface PhaseLoad {
  windowSeconds: number;
  /** Postgres: transactions per second of the database. */
  dbTransactionsPerSecond: number | null;
  backendCallsPerSecond: number;
  /** Backend calls per second, by method. */
  byMethod: Record<string, number>;
}

interface FanoutResult {
  runs: number;
  sleepSeconds: number;
  /** From the first `run()` until every run was sleeping. */
  allSleepingSeconds: number;
  baseline: Snapshot;
  sleeping: Snapshot;
  waiting: Snapshot;
  /**
   * Once every run finished, the worker ended their executions, and the
   * handles were dropped.
   */
  after: Snapshot;
  /** Heap growth per sleeping run, in bytes. */
  heapPerSleepingRunBytes: number;
  /** Heap growth per waiting handle, in bytes. */
  heapPerWaitingHandleBytes: number;
  /**
   * Heap still held per run once every run finished, in bytes, against the
   * baseline: high-water marks (pools, buffers, caches) included.
   */
  heapRetainedPerRunBytes: number;
  /**
   * Heap growth per run over bursts of as many 4-step runs, once warm, in
   * bytes: what a leak grows by. Read once the worker has ended the
   * bursts' executions.
   */
  heapGrowthPerRunBytes: number;
  /** Runs the worker was executing while they slept (slots held). */
  activeWhileSleeping: number;
  sleepingLoad: PhaseLoad;
  waitingLoad: PhaseLoad;
  /** From the end of the last sleep until the last result arrived. */
  wakeUpSeconds: number;
  resultsOk: number;
  noPerRunConnections: boolean;
}

/** Runs part 3 on the chosen backends; prints tables and the JSON line. */
export async function runFanout(o: FanoutOptions): Promise<void> {
  const results: Record<string, FanoutResult> = {};
  for (const kind of o.backends) {
    results[kind] = await withStore(
      kind,
      o,
      "fanout",
      (location, db) => fanoutOn(kind, location, db, o),
    );
  }
  const rows = Object.entries(results).flatMap(([kind, r]) => [
    [
      kind,
      "baseline (worker idle)",
      r.baseline.rssMiB,
      r.baseline.heapUsedMiB,
      r.baseline.sockets,
      r.baseline.dbConnections,
      null,
      null,
    ],
    [
      kind,
      `${r.runs} runs sleeping`,
      r.sleeping.rssMiB,
      r.sleeping.heapUsedMiB,
      r.sleeping.sockets,
      r.sleeping.dbConnections,
      r.sleepingLoad.dbTransactionsPerSecond,
      r.sleepingLoad.backendCallsPerSecond,
    ],
    [
      kind,
      `+ ${r.runs} result() waiting`,
      r.waiting.rssMiB,
      r.waiting.heapUsedMiB,
      r.waiting.sockets,
      r.waiting.dbConnections,
      r.waitingLoad.dbTransactionsPerSecond,
      r.waitingLoad.backendCallsPerSecond,
    ],
    [
      kind,
      "all done, handles dropped",
      r.after.rssMiB,
      r.after.heapUsedMiB,
      r.after.sockets,
      r.after.dbConnections,
      null,
      null,
    ],
  ]);
  printTable(
    `Fan-out: one worker (concurrency 100), ${o.runs} runs sleeping ${o.sleepSeconds} s, then ${o.runs} handles awaiting result() in the same process`,
    [
      "backend",
      "phase",
      "rss MiB",
      "heap MiB",
      "sockets",
      "db conns",
      "db xact/s",
      "backend calls/s",
    ],
    rows,
  );
  printTable(
    "Fan-out: per run",
    [
      "backend",
      "all sleeping s",
      "slots held",
      "heap B / sleeping run",
      "heap B / waiting handle",
      "heap B / run, all done",
      "heap growth B / run",
      "waiting calls/s by method",
      "wake-up s",
      "results ok",
      "per-run connections",
    ],
    Object.entries(results).map(([kind, r]) => [
      kind,
      r.allSleepingSeconds,
      r.activeWhileSleeping,
      r.heapPerSleepingRunBytes,
      r.heapPerWaitingHandleBytes,
      r.heapRetainedPerRunBytes,
      `${r.heapGrowthPerRunBytes}${
        r.heapGrowthPerRunBytes > MAX_GROWTH_BYTES ? " (LEAK)" : ""
      }`,
      Object.entries(r.waitingLoad.byMethod).map(([m, n]) => `${m} ${n}`)
        .join(", "),
      r.wakeUpSeconds,
      `${r.resultsOk}/${r.runs}`,
      r.noPerRunConnections ? "none" : "YES",
    ]),
  );
  printSummary("fanout", {
    runs: o.runs,
    sleepSeconds: o.sleepSeconds,
    pass: Object.fromEntries(
      Object.entries(results).map((
        [kind, r],
      ) => [
        kind,
        r.noPerRunConnections && r.resultsOk === r.runs &&
        r.heapGrowthPerRunBytes <= MAX_GROWTH_BYTES,
      ]),
    ),
    ...results,
  });
}

async function fanoutOn(
  kind: BackendKind,
  location: string,
  db: ScratchDatabase | null,
  o: FanoutOptions,
): Promise<FanoutResult> {
  const workerStats = new CallStats();
  const clientStats = new CallStats();
  const rawWorker = await openBackend(kind, location);
  const rawClient = kind === "sqlite"
    ? rawWorker
    : await openBackend(kind, location);
  const workerBackend = instrument(rawWorker, workerStats);
  const clientBackend: Backend = kind === "sqlite"
    ? workerBackend
    : instrument(rawClient, clientStats);
  const snapshot = async (): Promise<Snapshot> => ({
    ...memoryMiB(),
    sockets: openDescriptors().socket ?? 0,
    dbConnections: db === null ? null : Number(
      (await db.admin`
        SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ${db.name}`)[
        0
      ]
        .n,
    ),
  });
  const load = async (ms: number): Promise<PhaseLoad> => {
    workerStats.reset();
    clientStats.reset();
    const startedAt = performance.now();
    const db_ = db === null
      ? null
      : await transactionsPerSecond(db.admin, db.name, ms);
    if (db_ === null) await sleep(ms);
    const seconds = (performance.now() - startedAt) / 1000;
    const byMethod: Record<string, number> = {};
    for (
      const stats of kind === "sqlite"
        ? [workerStats]
        : [workerStats, clientStats]
    ) {
      for (const [method, n] of stats.calls) {
        byMethod[method] = round((byMethod[method] ?? 0) + n / seconds, 2)!;
      }
    }
    return {
      windowSeconds: round(seconds, 1)!,
      dbTransactionsPerSecond: db_?.perSecond ?? null,
      backendCallsPerSecond: round(
        Object.values(byMethod).reduce((a, b) => a + b, 0),
        2,
      )!,
      byMethod,
    };
  };
  try {
    const workerSide = new OpenWorkflow({ backend: workerBackend });
    defineNap(workerSide);
    defineFourSteps(workerSide);
    const client = new OpenWorkflow({ backend: clientBackend });
    const nap = defineNap(client);
    const four = defineFourSteps(client);
    const worker = workerSide.newWorker({ concurrency: 100 });
    await worker.start();
    try {
      // Warm-up: opens the pools' connections.
      await Promise.all(
        Array.from({ length: 20 }, async () => (await four.run(null)).result()),
      );
      await sleep(500);
      const baseline = await snapshot();
      o.log(`${kind}: starting ${o.runs} runs that sleep ${o.sleepSeconds} s`);
      const startedAt = performance.now();
      const ids = (await Promise.all(
        Array.from({ length: o.runs }, () => nap.run(o.sleepSeconds)),
      )).map((handle) => handle.id);
      const firstDueAt = startedAt + o.sleepSeconds * 1000;
      while (true) {
        const page = await client.listRuns({
          workflowName: NAP,
          status: "sleeping",
          limit: 1000,
        });
        if (page.runs.length >= Math.min(o.runs, 1000)) break;
        if (performance.now() > firstDueAt) {
          throw new Error(
            `only ${page.runs.length} of ${o.runs} runs were asleep when the first sleep ended; raise --sleep-s`,
          );
        }
        await sleep(200);
      }
      const allSleepingSeconds = (performance.now() - startedAt) / 1000;
      const windowMs = () =>
        Math.max(
          1000,
          Math.min(o.windowMs, firstDueAt - performance.now() - 1500),
        );
      o.log(`${kind}: all asleep after ${allSleepingSeconds.toFixed(1)} s`);
      // The server may hold back the statistics of the burst for 10 s.
      if (db !== null) await sleep(STATS_SETTLE_MS);
      const activeWhileSleeping = worker.activeCount;
      const sleeping = await snapshot();
      const sleepingLoad = await load(windowMs());
      o.log(`${kind}: ${o.runs} handles await result()`);
      const waited = await awaitResults(
        client,
        ids,
        o,
        snapshot,
        () => load(windowMs()),
        () => latestResumeAt(kind, location),
      );
      o.log(`${kind}: every result arrived`);
      await workerIdle(worker);
      const after = await snapshot();
      const grown = (after: Snapshot, before: Snapshot, n: number) =>
        Math.round((after.heapUsedMiB - before.heapUsedMiB) * 2 ** 20 / n);
      // A leak shows as growth from one burst of runs to the next.
      const burst = () =>
        Promise.all(
          Array.from(
            { length: o.runs },
            async () => (await four.run(null)).result({ timeoutMs: 170_000 }),
          ),
        );
      // The first bursts still warm caches up (compiled code, pools,
      // tables' capacities): growth is measured over the later ones.
      o.log(`${kind}: ${LEAK_BURSTS} bursts of ${o.runs} runs, for leaks`);
      // The call statistics keep every latency: not the engine's memory.
      const forgetStats = () => {
        workerStats.reset();
        clientStats.reset();
      };
      for (let i = 0; i < LEAK_WARM_UP_BURSTS; i++) await burst();
      await workerIdle(worker);
      forgetStats();
      const firstBurst = await snapshot();
      for (let i = LEAK_WARM_UP_BURSTS; i < LEAK_BURSTS; i++) await burst();
      await workerIdle(worker);
      forgetStats();
      const lastBurst = await snapshot();
      return {
        runs: o.runs,
        sleepSeconds: o.sleepSeconds,
        allSleepingSeconds: round(allSleepingSeconds, 1)!,
        baseline,
        sleeping,
        waiting: waited.waiting,
        after,
        heapPerSleepingRunBytes: grown(sleeping, baseline, o.runs),
        heapPerWaitingHandleBytes: grown(waited.waiting, sleeping, o.runs),
        heapRetainedPerRunBytes: grown(after, baseline, o.runs),
        heapGrowthPerRunBytes: grown(
          lastBurst,
          firstBurst,
          o.runs * (LEAK_BURSTS - LEAK_WARM_UP_BURSTS),
        ),
        activeWhileSleeping,
        sleepingLoad,
        waitingLoad: waited.load,
        wakeUpSeconds: round(waited.wakeUpMs / 1000, 2)!,
        resultsOk: waited.ok,
        noPerRunConnections: waited.waiting.sockets - baseline.sockets < 10 &&
          (waited.waiting.dbConnections ?? 0) -
                (baseline.dbConnections ?? 0) < 10,
      };
    } finally {
      await worker.stop();
    }
  } finally {
    if (rawClient !== rawWorker) await rawClient.stop();
    await rawWorker.stop();
  }
}

/**
 * Waits until `worker` executes no run. A result reaches the client as
 * soon as the run's last write commits (Postgres: by notification, on
 * another connection), while the worker may still await that write's
 * reply: for a moment it still holds the executions of up to
 * `concurrency` runs, some 10 kB each. Memory read before they end
 * depends on which socket the event loop served first, not on the engine.
 */
async function workerIdle(worker: Worker): Promise<void> {
  const deadline = performance.now() + WORKER_IDLE_TIMEOUT_MS;
  while (worker.activeCount > 0) {
    if (performance.now() > deadline) {
      throw new Error(
        `the worker still executed ${worker.activeCount} runs ${WORKER_IDLE_TIMEOUT_MS} ms after their results arrived`,
      );
    }
    await sleep(10);
  }
}

/**
 * Makes a handle for each run, awaits every `result()`; snapshots and
 * measures the load while they wait. The handles are dropped on return.
 */
async function awaitResults(
  client: OpenWorkflow,
  ids: string[],
  o: FanoutOptions,
  snapshot: () => Promise<Snapshot>,
  measureLoad: () => Promise<PhaseLoad>,
  lastDueAt: () => Promise<number>,
): Promise<
  { waiting: Snapshot; load: PhaseLoad; wakeUpMs: number; ok: number }
> {
  const handles = await Promise.all(ids.map((id) => client.getRun<number>(id)));
  const results = handles.map((handle) =>
    handle!.result({ timeoutMs: 170_000 }).then(
      (value) => ({ ok: value === o.sleepSeconds, at: Date.now() }),
      () => ({ ok: false, at: Date.now() }),
    )
  );
  await sleep(200);
  const waiting = await snapshot();
  const load = await measureLoad();
  o.log("waiting for the sleeps to end");
  const dueAt = await lastDueAt();
  const settled = await Promise.all(results);
  return {
    waiting,
    load,
    wakeUpMs: Math.max(...settled.map((s) => s.at)) - dueAt,
    ok: settled.filter((s) => s.ok).length,
  };
}

/** When the last stored sleep ends (epoch ms), read from the tables. */
async function latestResumeAt(
  kind: BackendKind,
  location: string,
): Promise<number> {
  if (kind === "sqlite") {
    const db = new DatabaseSync(location, { readOnly: true });
    try {
      const row = db.prepare(
        `SELECT max(json_extract(context, '$.resumeAt')) AS at
        FROM openworkflow_step_attempts WHERE kind = 'sleep'`,
      ).get();
      return Date.parse(String(row?.at));
    } finally {
      db.close();
    }
  }
  const sql = postgres(location, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`
      SELECT max((context->>'resumeAt')::timestamptz) AS at
      FROM openworkflow.step_attempts WHERE kind = 'sleep'`;
    return (row.at as Date).getTime();
  } finally {
    await sql.end({ timeout: 5 });
  }
}
