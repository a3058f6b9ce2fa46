/**
 * Planner statistics through a burst: a worker's first claim analyzes a
 * table that a burst changed before any statistics existed, and the
 * engine's writes look their runs up by key even before that.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";

const ignore = postgresTarget.unavailable !== null;

Deno.test({
  name:
    "a worker's first claim analyzes the runs table a burst filled before any statistics existed",
  ignore,
  async fn() {
    const { schema, namespaceId, sql, tuples, drop } = scratchSchema();
    const client = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
      schema,
    });
    let worker: BackendPostgres | null = null;
    try {
      const ow = new OpenWorkflow({ backend: client });
      const burst = ow.defineWorkflow(
        { name: "burst" },
        async ({ step }) => await step.run({ name: "s" }, () => 1),
      );
      await Promise.all(Array.from({ length: 1_500 }, () => burst.run()));
      // Never analyzed: the planner knows nothing of the table's rows.
      assert.ok(
        await tuples("workflow_runs") <= 0,
        "analyzed before any claim",
      );
      // Statistics of the inserts reach the server's counters within a
      // second of the connection going idle.
      await waitFor(async () => {
        const [row] = await sql.unsafe(
          `SELECT pg_stat_get_mod_since_analyze(to_regclass($1))::int AS n`,
          [`${schema}.workflow_runs`],
        );
        return Number(row.n) >= 1_500;
      });
      worker = await BackendPostgres.connect(DATABASE_URL, {
        namespaceId,
        schema,
      });
      const claimed = await worker.claimWorkflowRuns({
        workerId: "w",
        workflows: [{ name: "burst", version: null }],
        limit: 10,
        leaseDurationMs: 30_000,
      });
      assert.equal(claimed.length, 10);
      // The first claim waited for the analysis it started.
      assert.equal(await tuples("workflow_runs"), 1_500);
      // Reads by key see every claimed run (concurrent reads are one
      // statement).
      const read = await Promise.all(
        claimed.map((run) => client.getWorkflowRun({ workflowRunId: run.id })),
      );
      assert.deepEqual(
        read.map((run) => run?.status),
        claimed.map(() => "running"),
      );
      const statuses = await client.getWorkflowRunStatuses({
        workflowRunIds: [...claimed.map((run) => run.id), "not-a-uuid"],
      });
      assert.equal(statuses.length, 10);
    } finally {
      await worker?.stop();
      await client.stop();
      await drop();
    }
  },
});

Deno.test({
  name:
    "a table never analyzed is analyzed at a claim soon after it holds 50 rows, long before 1,000 changes",
  ignore,
  async fn() {
    const { schema, namespaceId, sql, tuples, drop } = scratchSchema();
    const backend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
      schema,
    });
    const ow = new OpenWorkflow({ backend });
    const two = ow.defineWorkflow({ name: "two" }, async ({ step }) => {
      await step.run({ name: "a" }, () => 1);
      return await step.run({ name: "b" }, () => 2);
    });
    const worker = ow.newWorker({ concurrency: 10, pollIntervalMs: 50 });
    try {
      // 60 runs: past the first analysis's 50 rows, far from the 1,000
      // changes that analyze a table that has statistics.
      const handles = await Promise.all(
        Array.from({ length: 60 }, () => two.run()),
      );
      assert.ok(await tuples("workflow_runs") < 0, "analyzed before a claim");
      await worker.start();
      // The first claim analyzes the runs table before it reads it.
      await waitFor(async () => await tuples("workflow_runs") >= 50, 3_000);
      await Promise.all(handles.map((handle) => handle.result()));
      // Claims that find runs look again within half a second: the
      // attempts, 120 by now, get their first statistics at the next ones.
      await waitFor(async () => {
        await (await two.run()).result();
        return await tuples("step_attempts") >= 50;
      }, 5_000);
      const [row] = await sql.unsafe(
        `SELECT n_distinct::float8 AS n FROM pg_stats
        WHERE schemaname = $1 AND tablename = 'step_attempts'
          AND attname = 'namespace_id'`,
        [schema],
      );
      // One namespace holds every attempt: scanning by namespace is known
      // to read them all.
      assert.equal(Number(row.n), 1);
    } finally {
      await worker.stop();
      await backend.stop();
      await drop();
    }
  },
});

/**
 * A schema and namespace of the test's own, a connection to read the
 * catalogs with, the planner's row count of one of the schema's tables,
 * and what drops the schema and closes the connection.
 */
function scratchSchema() {
  const schema = `ow_stats_${crypto.randomUUID().slice(0, 8)}`;
  const namespaceId = randomNamespace();
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  const tuples = async (table: string) => {
    const [row] = await sql.unsafe(
      `SELECT reltuples::float8 AS n FROM pg_class
      WHERE oid = to_regclass($1)`,
      [`${schema}.${table}`],
    );
    return Number(row.n);
  };
  const drop = async () => {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
  };
  return { schema, namespaceId, sql, tuples, drop };
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
