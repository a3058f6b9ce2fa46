/** The Postgres database of a chaos run; see store.ts. */

import postgres from "postgres";
import { BackendPostgres } from "../../backend_postgres.ts";
import { EFFECTS_TABLE, POSTGRES_EFFECTS_DDL } from "./effects.ts";
import {
  type AttemptRow,
  type ChaosStore,
  type EffectRow,
  type RunMark,
  type RunRow,
  toMark,
} from "./store.ts";

function withParam(url: string, key: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(key, value);
  return parsed.toString();
}

/** `url` with the host and port of `poolerUrl`. */
function throughPooler(url: string, poolerUrl: string): string {
  const parsed = new URL(url);
  const pooler = new URL(poolerUrl);
  parsed.hostname = pooler.hostname;
  parsed.port = pooler.port;
  return parsed.toString();
}

/**
 * Creates a fresh database `owchaos_<tag>` and the run's store on it. With
 * `poolerUrl` (a PgBouncer in front of the same server), the workers'
 * engines connect through it.
 */
export async function openPostgresStore(
  databaseUrl: string,
  poolerUrl?: string,
): Promise<ChaosStore> {
  const tag = crypto.randomUUID().slice(0, 6);
  const database = `owchaos_${tag}`;
  const prefix = `owchaos-${tag}-`;
  const admin = postgres(
    withParam(databaseUrl, "application_name", `${prefix}admin`),
    {
      max: 1,
      onnotice: () => {},
      fetch_types: false,
    },
  );
  try {
    await admin.unsafe(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const base = new URL(databaseUrl);
  base.pathname = `/${database}`;
  const url = base.toString();
  const namespaceId = `chaos-${tag}`;
  const sql = postgres(
    withParam(url, "application_name", `${prefix}orchestrator`),
    {
      max: 2,
      onnotice: () => {},
      connect_timeout: 5,
      fetch_types: false,
    },
  );
  let backend: BackendPostgres | undefined;
  try {
    backend = await BackendPostgres.connect(
      withParam(url, "application_name", `${prefix}client`),
      { namespaceId, maxConnections: 4 },
    );
    await sql.unsafe(POSTGRES_EFFECTS_DDL);
  } catch (error) {
    await backend?.stop();
    await sql.end({ timeout: 1 });
    await dropDatabase(databaseUrl, database);
    throw error;
  }
  const client = backend;
  const ns = namespaceId;
  return {
    kind: "postgres",
    location: url,
    namespaceId,
    backend: client,
    workerAppName: (slot, role) => `${prefix}w${slot}-${role}`,
    workerLocation: (slot, role) =>
      withParam(
        role === "engine" && poolerUrl !== undefined
          ? throughPooler(url, poolerUrl)
          : url,
        "application_name",
        `${prefix}w${slot}-${role}`,
      ),
    async heldRuns(workerId?: string): Promise<RunMark[]> {
      const rows = await sql<RunRow[]>`
        SELECT id::text, status, worker_id,
          (extract(epoch from updated_at) * 1000)::float8 AS updated_at_ms
        FROM openworkflow.workflow_runs
        WHERE namespace_id = ${ns} AND status = 'running'
          ${workerId === undefined ? sql`` : sql`AND worker_id = ${workerId}`}`;
      return rows.map(toMark);
    },
    async marks(ids: readonly string[]): Promise<Map<string, RunMark>> {
      const rows = await sql<RunRow[]>`
        SELECT id::text, status, worker_id,
          (extract(epoch from updated_at) * 1000)::float8 AS updated_at_ms
        FROM openworkflow.workflow_runs
        WHERE namespace_id = ${ns} AND id IN (
          SELECT value::uuid
          FROM json_array_elements_text(${JSON.stringify(ids)}::text::json)
        )`;
      return new Map(rows.map((row) => [row.id, toMark(row)]));
    },
    async attempts(): Promise<AttemptRow[]> {
      const rows = await sql<
        {
          run_id: string;
          step_name: string;
          kind: string;
          status: string;
          seq: string;
          completed_at_ms: number | null;
        }[]
      >`
        SELECT workflow_run_id::text AS run_id, step_name, kind, status,
          seq::text, (extract(epoch from completed_at) * 1000)::float8 AS completed_at_ms
        FROM openworkflow.step_attempts
        WHERE namespace_id = ${ns}
        ORDER BY seq`;
      return rows.map((row) => ({
        runId: row.run_id,
        stepName: row.step_name,
        kind: row.kind,
        status: row.status,
        seq: Number(row.seq),
        completedAtMs: row.completed_at_ms,
      }));
    },
    async effects(): Promise<EffectRow[]> {
      const rows = await sql<
        {
          run_id: string;
          step_name: string;
          worker_id: string;
          attempt: number;
          inserted_at_ms: number;
          after_success: boolean;
        }[]
      >`
        SELECT run_id::text, step_name, worker_id, attempt,
          (extract(epoch from inserted_at) * 1000)::float8 AS inserted_at_ms, after_success
        FROM ${sql(EFFECTS_TABLE)} ORDER BY seq`;
      return rows.map((row) => ({
        runId: row.run_id,
        stepName: row.step_name,
        workerId: row.worker_id,
        attempt: row.attempt,
        insertedAtMs: row.inserted_at_ms,
        afterSuccess: row.after_success,
      }));
    },
    async dropWorkerConnections(): Promise<number> {
      // Only this run's database, and only its worker processes' sessions
      // (application names `owchaos-<tag>-w<slot>-…`): the orchestrator's
      // own sessions and every other database's are left alone.
      const [{ count }] = await sql<{ count: number }[]>`
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS count
        FROM pg_stat_activity
        WHERE datname = ${database} AND pid <> pg_backend_pid()
          AND application_name LIKE ${`${prefix}w%`}`;
      return count;
    },
    async restartServer(): Promise<number> {
      // A checkpoint first, while the server is up: the crash recovery
      // after the immediate shutdown then has little WAL to replay.
      await sql`CHECKPOINT`;
      return await restartPostgres();
    },
    async close(options: { keep?: boolean } = {}): Promise<void> {
      await client.stop();
      await sql.end({ timeout: 1 });
      if (!options.keep) await dropDatabase(databaseUrl, database);
    },
  };
}

async function dropDatabase(
  databaseUrl: string,
  database: string,
): Promise<void> {
  const admin = postgres(databaseUrl, {
    max: 1,
    onnotice: () => {},
    fetch_types: false,
  });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  } finally {
    await admin.end({ timeout: 1 });
  }
}

/**
 * The cluster `OPENWORKFLOW_PG_CLUSTER` names (`name:port`, e.g.
 * `soak:5460`), or the machine's main one on 5432.
 */
function clusterFromEnv(): { name: string; port: number } {
  const [name, port] = (Deno.env.get("OPENWORKFLOW_PG_CLUSTER") ?? "main:5432")
    .split(":");
  return { name, port: Number(port ?? 5432) };
}

/**
 * Restarts a local Postgres cluster (`pg_ctlcluster … restart`, immediate
 * shutdown; `cluster`, or the one `OPENWORKFLOW_PG_CLUSTER` names, or the
 * main one) and waits until it accepts connections again. Needs root (or
 * the postgres user) on the machine running the server.
 */
export async function restartPostgres(
  cluster: { name: string; port: number } = clusterFromEnv(),
): Promise<number> {
  const startedAt = performance.now();
  const versions = [...Deno.readDirSync("/etc/postgresql")].map((e) => e.name)
    .sort();
  if (versions.length === 0) throw new Error("no Postgres cluster found");
  const restart = await new Deno.Command("pg_ctlcluster", {
    args: [
      "--skip-systemctl-redirect",
      versions[0],
      cluster.name,
      "restart",
      // Immediate: the server goes down at once, like a crash, and is back
      // after a short crash recovery, instead of waiting for a shutdown
      // checkpoint (seconds) while every client of the server waits.
      "-m",
      "immediate",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!restart.success) {
    throw new Error(
      `pg_ctlcluster restart failed: ${
        new TextDecoder().decode(restart.stderr)
      }`,
    );
  }
  for (let i = 0; i < 300; i++) {
    const ready = await new Deno.Command("pg_isready", {
      args: ["-h", "127.0.0.1", "-p", String(cluster.port), "-q"],
    }).output();
    if (ready.success) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return performance.now() - startedAt;
}
