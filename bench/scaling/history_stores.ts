/**
 * The two databases of the history benchmark, per backend: one stays
 * empty, the other is loaded stage by stage; both are explained.
 *
 * @module
 */

import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import type { WorkflowSelector } from "../../mod.ts";
import {
  createScratchDatabase,
  round,
  type ScratchDatabase,
  tempDir,
} from "./common.ts";
import {
  type ClaimValues,
  explainClaimPostgres,
  explainClaimSqlite,
} from "./explain.ts";
import { MANY_STEPS, ONE_STEP } from "./harness.ts";
import type { HistoryOptions } from "./history.ts";
import {
  loadFinishedPostgres,
  loadFinishedSqlite,
  loadUnfinishedPostgres,
  loadUnfinishedSqlite,
  type UnfinishedRuns,
  vacuumAnalyzePostgres,
} from "./load.ts";

/** The namespace the harness works in. */
export const NAMESPACE = "default";

/** What a stage adds to the loaded database. */
export type Loader =
  | { kind: "finished" }
  | { kind: "unfinished"; batches: UnfinishedRuns[] };

/** The engine's claim statement on one database. */
export interface ClaimPlan {
  /**
   * Postgres: execution time under `EXPLAIN ANALYZE` once the plan cache
   * has settled; SQLite: wall time (ms, median).
   */
  ms: number;
  /** The scans that find the candidates. */
  scan: string;
  /** Postgres: rows the candidate scans read. */
  rowsRead: number | null;
  /** Postgres: whether the plan cache settled on a generic plan. */
  genericPlan: boolean | null;
  /** The plan. */
  lines: string[];
}

/** The two databases of a backend: one stays empty, one is loaded. */
export interface Stores {
  empty: string;
  loaded: string;
  /** Adds a stage's rows to the loaded database, atomically. */
  load(loader: Loader): Promise<void>;
  /** Before each measurement: statistics, and no leftover runs. */
  prepare(): Promise<void>;
  explain(
    which: "empty" | "loaded",
    selectors: WorkflowSelector[],
  ): Promise<ClaimPlan>;
  close(): Promise<void>;
}

export async function postgresStores(o: HistoryOptions): Promise<Stores> {
  const empty = await createScratchDatabase(o.databaseUrl, "history_empty");
  const loaded = await createScratchDatabase(o.databaseUrl, "history_loaded");
  const pools = {
    empty: postgres(empty.url, { max: 1, onnotice: () => {} }),
    loaded: postgres(loaded.url, { max: 2, onnotice: () => {} }),
  };
  return {
    empty: empty.url,
    loaded: loaded.url,
    async load(loader) {
      const sql = pools.loaded;
      if (loader.kind === "finished") {
        await loadFinishedPostgres(sql, "openworkflow", {
          namespaceId: NAMESPACE,
          runs: o.finishedRuns,
          stepsPerRun: o.stepsPerRun,
          workflowNames: ["orders", ONE_STEP, "emails", MANY_STEPS],
          log: (line) => o.log(`  postgres load: ${line}`),
        });
      } else {
        await sql.begin(async (tx) => {
          for (const batch of loader.batches) {
            await loadUnfinishedPostgres(tx, "openworkflow", batch);
          }
        });
      }
    },
    async prepare() {
      // Runs of a measurement cut short by a restart must not be claimed
      // by the next one.
      for (const sql of [pools.empty, pools.loaded]) {
        await sql`
          UPDATE openworkflow.workflow_runs SET status = 'canceled'
          WHERE namespace_id = ${NAMESPACE}
            AND workflow_name IN (${ONE_STEP}, ${MANY_STEPS})
            AND status IN ('pending', 'running', 'sleeping')
            AND worker_id IS DISTINCT FROM 'history-worker'`;
      }
      await vacuumAnalyzePostgres(pools.loaded, "openworkflow");
    },
    async explain(which, selectors) {
      const { plan } = await explainClaimPostgres(
        which === "empty" ? empty.url : loaded.url,
        claimValues(selectors),
      );
      return {
        ms: round(plan.executionMs)!,
        scan: plan.scan,
        rowsRead: plan.rowsRead,
        genericPlan: plan.generic,
        lines: plan.lines,
      };
    },
    async close() {
      await pools.empty.end({ timeout: 5 });
      await pools.loaded.end({ timeout: 5 });
      await dropQuietly(empty);
      await dropQuietly(loaded);
    },
  };
}

export async function sqliteStores(o: HistoryOptions): Promise<Stores> {
  const dir = await tempDir();
  const paths = {
    empty: `${dir.path}/empty.db`,
    loaded: `${dir.path}/loaded.db`,
  };
  const open = (path: string) => {
    const db = new DatabaseSync(path);
    db.exec("PRAGMA cache_size = -262144"); // 256 MiB, for the load
    return db;
  };
  return {
    ...paths,
    load(loader) {
      const db = open(paths.loaded);
      try {
        if (loader.kind === "finished") {
          loadFinishedSqlite(db, NAMESPACE, o.finishedRuns, o.stepsPerRun, [
            "orders",
            ONE_STEP,
            "emails",
            MANY_STEPS,
          ]);
        } else {
          for (const batch of loader.batches) loadUnfinishedSqlite(db, batch);
        }
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
    prepare: () => Promise.resolve(),
    explain(which, selectors) {
      const db = open(paths[which]);
      try {
        const { plan, scan, ms } = explainClaimSqlite(
          db,
          claimValues(selectors),
        );
        return Promise.resolve({
          ms: round(ms)!,
          scan,
          rowsRead: null,
          genericPlan: null,
          lines: plan,
        });
      } finally {
        db.close();
      }
    },
    close() {
      dir.remove();
      return Promise.resolve();
    },
  };
}

/** What the explained claims ask for: a worker's claim of ten runs. */
function claimValues(selectors: WorkflowSelector[]): ClaimValues {
  return {
    namespaceId: NAMESPACE,
    selectors,
    limit: 10,
    workerId: "scale-explain",
    leaseDurationMs: 30_000,
  };
}

async function dropQuietly(db: ScratchDatabase): Promise<void> {
  try {
    await db.drop();
  } catch (error) {
    console.error(`could not drop ${db.name}:`, error);
  }
}
