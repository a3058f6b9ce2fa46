/**
 * Part 4, idle cost: what does an idle worker plus one `result()` waiting
 * cost the database each second, with LISTEN/NOTIFY (the default) and
 * with `listen: false`?
 *
 * Each configuration gets a fresh Postgres database, so that its
 * `pg_stat_database` counters hold only this process's transactions. The
 * waited-for run is delayed by an hour (`availableAt`), so it stays
 * pending and the worker stays idle. SQLite (which has no notifications)
 * is measured by its backend calls.
 *
 * @module
 */

import { OpenWorkflow } from "../../mod.ts";
import {
  type BackendKind,
  CallStats,
  instrument,
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
import { defineFourSteps } from "./workflows.ts";

/** Options of the idle part. */
export interface IdleOptions {
  databaseUrl: string;
  backends: readonly BackendKind[];
  windowMs: number;
  log: (line: string) => void;
}

interface IdleResult {
  config: string;
  windowSeconds: number;
  /** Postgres: (xact_commit + xact_rollback) per second. */
  dbTransactionsPerSecond: number | null;
  backendCallsPerSecond: number;
  byMethod: Record<string, number>;
  /** Postgres: connections of this process to the database. */
  dbConnections: number | null;
}

/** Runs part 4; prints a table and the JSON line. */
export async function runIdle(o: IdleOptions): Promise<void> {
  const results: IdleResult[] = [];
  const configs: { kind: BackendKind; listen: boolean; config: string }[] = [];
  if (o.backends.includes("postgres")) {
    configs.push(
      { kind: "postgres", listen: true, config: "postgres, LISTEN (default)" },
      { kind: "postgres", listen: false, config: "postgres, listen: false" },
    );
  }
  if (o.backends.includes("sqlite")) {
    configs.push({ kind: "sqlite", listen: false, config: "sqlite" });
  }
  for (const { kind, listen, config } of configs) {
    o.log(`idle: ${config}`);
    results.push(
      await withStore(
        kind,
        o,
        "idle",
        (location, db) => idleOn(kind, location, listen, config, db, o),
      ),
    );
  }
  printTable(
    `Idle cost: one idle worker (concurrency 10) + one result() waiting, over ${
      o.windowMs / 1000
    } s`,
    [
      "configuration",
      "db xact/s",
      "backend calls/s",
      "by method (calls/s)",
      "db conns",
    ],
    results.map((r) => [
      r.config,
      r.dbTransactionsPerSecond,
      r.backendCallsPerSecond,
      Object.entries(r.byMethod).map(([m, n]) => `${m} ${n}`).join(", "),
      r.dbConnections,
    ]),
  );
  printSummary("idle", { windowSeconds: o.windowMs / 1000, results });
}

async function idleOn(
  kind: BackendKind,
  location: string,
  listen: boolean,
  config: string,
  db: ScratchDatabase | null,
  o: IdleOptions,
): Promise<IdleResult> {
  const stats = new CallStats();
  const rawWorker = await openBackend(kind, location, { listen });
  const rawClient = kind === "sqlite"
    ? rawWorker
    : await openBackend(kind, location, { listen });
  try {
    const workerSide = new OpenWorkflow({
      backend: instrument(rawWorker, stats),
    });
    defineFourSteps(workerSide);
    const client = new OpenWorkflow({
      backend: kind === "sqlite"
        ? instrument(rawWorker, stats)
        : instrument(rawClient, stats),
    });
    const four = defineFourSteps(client);
    const worker = workerSide.newWorker({ concurrency: 10 });
    await worker.start();
    const controller = new AbortController();
    try {
      await (await four.run(null)).result(); // warm-up
      const handle = await four.run(null, { availableAt: "1h" });
      const waiting = handle.result({ signal: controller.signal }).catch(
        () => {},
      );
      // Let both settle into their idle rhythm, and the server report the
      // set-up's transactions, which it may hold back for 10 s.
      await sleep(db === null ? 2000 : STATS_SETTLE_MS);
      stats.reset();
      const startedAt = performance.now();
      const measured = db === null
        ? null
        : await transactionsPerSecond(db.admin, db.name, o.windowMs);
      if (measured === null) await sleep(o.windowMs);
      const seconds = (performance.now() - startedAt) / 1000;
      const byMethod: Record<string, number> = {};
      for (const [method, n] of stats.calls) {
        byMethod[method] = round(n / seconds, 2)!;
      }
      const connections = db === null ? null : Number(
        (await db.admin`SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = ${db.name}`)[0].n,
      );
      controller.abort();
      await waiting;
      return {
        config,
        windowSeconds: round(seconds, 1)!,
        dbTransactionsPerSecond: measured?.perSecond ?? null,
        backendCallsPerSecond: round(stats.total() / seconds, 2)!,
        byMethod,
        dbConnections: connections,
      };
    } finally {
      controller.abort();
      await worker.stop();
    }
  } finally {
    if (rawClient !== rawWorker) await rawClient.stop();
    await rawWorker.stop();
  }
}
