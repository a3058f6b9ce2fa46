/** The SQLite database of a chaos run; see store.ts. */

import { DatabaseSync } from "node:sqlite";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { EFFECTS_TABLE, retryBusy, SQLITE_EFFECTS_DDL } from "./effects.ts";
import {
  type AttemptRow,
  type ChaosStore,
  type EffectRow,
  type RunMark,
  type RunRow,
  toMark,
} from "./store.ts";

/** Creates a fresh database file and the run's store on it. */
export async function openSqliteStore(): Promise<ChaosStore> {
  const dir = await Deno.makeTempDir({ prefix: "owchaos-" });
  const path = `${dir}/chaos.db`;
  const namespaceId = `chaos-${crypto.randomUUID().slice(0, 6)}`;
  const backend = await BackendSqlite.connect(path, { namespaceId });
  const db = new DatabaseSync(path, { timeout: 0 });
  await retryBusy(() => db.exec(SQLITE_EFFECTS_DDL));
  const runColumns = `id, status, worker_id, updated_at AS updated_at_ms
    FROM openworkflow_workflow_runs`;
  const read = <T>(sql: string, params: Record<string, string> = {}) =>
    retryBusy(() => db.prepare(sql).all(params) as T[]);
  return {
    kind: "sqlite",
    location: path,
    namespaceId,
    backend,
    workerAppName: (slot, role) => `w${slot}-${role}`,
    workerLocation: () => path,
    async heldRuns(workerId?: string): Promise<RunMark[]> {
      const rows = await read<RunRow>(
        `SELECT ${runColumns} WHERE namespace_id = :ns AND status = 'running'
          ${workerId === undefined ? "" : "AND worker_id = :worker"}`,
        workerId === undefined
          ? { ns: namespaceId }
          : { ns: namespaceId, worker: workerId },
      );
      return rows.map(toMark);
    },
    async marks(ids: readonly string[]): Promise<Map<string, RunMark>> {
      const rows = await read<RunRow>(
        `SELECT ${runColumns} WHERE namespace_id = :ns
          AND id IN (SELECT value FROM json_each(:ids))`,
        { ns: namespaceId, ids: JSON.stringify(ids) },
      );
      return new Map(rows.map((row) => [row.id, toMark(row)]));
    },
    async attempts(): Promise<AttemptRow[]> {
      const rows = await read<{
        run_id: string;
        step_name: string;
        kind: string;
        status: string;
        seq: number;
        completed_at: number | null;
      }>(
        `SELECT workflow_run_id AS run_id, step_name, kind, status, seq,
          completed_at FROM openworkflow_step_attempts
        WHERE namespace_id = :ns ORDER BY seq`,
        { ns: namespaceId },
      );
      return rows.map((row) => ({
        runId: row.run_id,
        stepName: row.step_name,
        kind: row.kind,
        status: row.status,
        seq: Number(row.seq),
        completedAtMs: row.completed_at === null
          ? null
          : Number(row.completed_at),
      }));
    },
    async effects(): Promise<EffectRow[]> {
      const rows = await read<{
        run_id: string;
        step_name: string;
        worker_id: string;
        attempt: number;
        inserted_at: number;
        after_success: number;
      }>(`SELECT * FROM ${EFFECTS_TABLE} ORDER BY seq`);
      return rows.map((row) => ({
        runId: row.run_id,
        stepName: row.step_name,
        workerId: row.worker_id,
        attempt: Number(row.attempt),
        insertedAtMs: Number(row.inserted_at),
        afterSuccess: Number(row.after_success) === 1,
      }));
    },
    dropWorkerConnections(): Promise<number> {
      return Promise.reject(
        new Error("SQLite has no connections to drop"),
      );
    },
    restartServer(): Promise<number> {
      return Promise.reject(new Error("SQLite has no server to restart"));
    },
    async close(options: { keep?: boolean } = {}): Promise<void> {
      await backend.stop();
      db.close();
      if (!options.keep) await Deno.remove(dir, { recursive: true });
    },
  };
}
