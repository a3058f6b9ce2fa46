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
import { capturedClaim, explainClaims, explainClaimSqlite } from "./explain.ts";
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

/** The claim statement on one database. */
export interface ClaimPlan {
  /** Postgres: the engine's own statement, or the copy. */
  source: string;
  /** The statement as the engine runs it now. */
  ms: number;
  scan: string;
  rowsRead: number | null;
  /** Postgres: the engine's statement with the suggested index. */
  withIndexMs: number | null;
  /** The suggested rewrite with the suggested index. */
  suggestedMs: number;
  suggestedScan: string;
  /** Plan lines of the current statement. */
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
  /** While the harnesses still run (their connections are open). */
  capture(): Promise<void>;
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
  const captured: Record<"empty" | "loaded", string | null> = {
    empty: null,
    loaded: null,
  };
  let warned = false;
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
    async capture() {
      captured.empty = await capturedClaim(empty.admin, empty.name);
      captured.loaded = await capturedClaim(loaded.admin, loaded.name);
    },
    async explain(which, selectors) {
      const plans = await explainClaims(pools[which], captured[which], {
        namespaceId: NAMESPACE,
        selectors,
        limit: 10,
        workerId: "scale-explain",
        leaseDurationMs: 30_000,
      });
      if (plans.source === "copy" && !warned) {
        warned = true;
        o.log(
          "  note: the engine's claim statement could not be read back whole; explaining the copy in bench/scaling/explain.ts",
        );
      }
      return {
        source: plans.source,
        ms: round(plans.current.executionMs)!,
        scan: plans.current.scan,
        rowsRead: plans.current.rowsRead,
        withIndexMs: round(plans.withIndex.executionMs),
        suggestedMs: round(plans.suggested.executionMs)!,
        suggestedScan: plans.suggested.scan,
        lines: plans.current.lines,
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
    capture: () => Promise.resolve(),
    explain(which, selectors) {
      const db = open(paths[which]);
      try {
        const { current, suggested } = explainClaimSqlite(
          db,
          NAMESPACE,
          selectors,
        );
        const scanOf = (plan: string[]) =>
          plan.find((line) => line.includes("openworkflow_workflow_runs")) ??
            plan.join("; ");
        return Promise.resolve({
          source: "copy",
          ms: round(current.ms)!,
          scan: scanOf(current.plan),
          rowsRead: null,
          withIndexMs: null,
          suggestedMs: round(suggested.ms)!,
          suggestedScan: scanOf(suggested.plan),
          lines: current.plan,
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

async function dropQuietly(db: ScratchDatabase): Promise<void> {
  try {
    await db.drop();
  } catch (error) {
    console.error(`could not drop ${db.name}:`, error);
  }
}
