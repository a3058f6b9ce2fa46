/**
 * The database a chaos run uses, seen from the orchestrator: setting it up,
 * the reads the harness needs (runs held by a worker, step attempts, side
 * effects), the faults it injects (dropped connections, a server restart)
 * and the clean-up.
 *
 * Postgres: a fresh database `owchaos_<tag>` on the server of
 * `DATABASE_URL`, dropped afterwards. Every connection of the run carries an
 * `application_name` starting with `owchaos-<tag>-`, so that the harness
 * terminates only the connections of its own worker processes.
 *
 * SQLite: a fresh database file in a temporary directory, removed
 * afterwards.
 */

import type { Backend } from "../../mod.ts";
import { openPostgresStore } from "./store_postgres.ts";
import { openSqliteStore } from "./store_sqlite.ts";

/** The kinds of database a chaos run can use. */
export type StoreKind = "postgres" | "sqlite";

/** A run's state, as the harness tracks it. */
export interface RunMark {
  id: string;
  status: string;
  workerId: string | null;
  /** `updated_at`, in epoch milliseconds. */
  updatedAtMs: number;
}

/** A step attempt, as the verification needs it. */
export interface AttemptRow {
  runId: string;
  stepName: string;
  kind: string;
  status: string;
  seq: number;
  /** `completed_at`, in epoch milliseconds (fractional on Postgres). */
  completedAtMs: number | null;
}

/** A side effect, as recorded by a step function. */
export interface EffectRow {
  runId: string;
  stepName: string;
  workerId: string;
  attempt: number;
  /** `inserted_at`, in epoch milliseconds (fractional on Postgres). */
  insertedAtMs: number;
  afterSuccess: boolean;
}

/** The database of one chaos run. */
export interface ChaosStore {
  readonly kind: StoreKind;
  /** What worker processes connect to: a URL or a file path. */
  readonly location: string;
  /** The namespace of the run. */
  readonly namespaceId: string;
  /** The orchestrator's backend, for starting runs and awaiting results. */
  readonly backend: Backend;
  /** The `application_name` prefix of worker `slot`'s connections. */
  workerAppName(slot: number, role: "engine" | "effects"): string;
  /** The URL (or path) worker `slot` connects with for `role`. */
  workerLocation(slot: number, role: "engine" | "effects"): string;
  /** Runs that are `running`, of one worker or of all. */
  heldRuns(workerId?: string): Promise<RunMark[]>;
  /** The current state of the runs `ids`. */
  marks(ids: readonly string[]): Promise<Map<string, RunMark>>;
  /** Every step attempt of the namespace. */
  attempts(): Promise<AttemptRow[]>;
  /** Every side effect recorded. */
  effects(): Promise<EffectRow[]>;
  /** Terminates the worker processes' connections; returns how many. */
  dropWorkerConnections(): Promise<number>;
  /** Restarts the database server; returns how long it took. */
  restartServer(): Promise<number>;
  /** Stops the backend and removes the database. */
  close(options?: { keep?: boolean }): Promise<void>;
}

/** Opens a fresh store of `kind`. */
export function openStore(
  kind: StoreKind,
  databaseUrl: string,
  poolerUrl?: string,
): Promise<ChaosStore> {
  return kind === "postgres"
    ? openPostgresStore(databaseUrl, poolerUrl)
    : openSqliteStore();
}

/** A `workflow_runs` row as the harness reads it. */
export interface RunRow {
  id: string;
  status: string;
  worker_id: string | null;
  updated_at_ms: number;
}

/** A row as a {@linkcode RunMark}. */
export function toMark(row: RunRow): RunMark {
  return {
    id: row.id,
    status: row.status,
    workerId: row.worker_id,
    updatedAtMs: row.updated_at_ms,
  };
}
