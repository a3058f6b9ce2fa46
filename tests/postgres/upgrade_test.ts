/**
 * A database made by the previous schema version (2), with runs and steps
 * in it, is upgraded in place by connect(): its records come back as they
 * were, and signals and child workflows work on it.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/postgres/schema.ts";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";

Deno.test({
  name:
    "BackendPostgres.connect() upgrades a version 2 schema with its runs and steps in place",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const schema = `ow_up_${
      crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    }`;
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(`CREATE SCHEMA ${schema}`);
      await sql.unsafe(`CREATE TABLE ${schema}.schema_migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const version of [1, 2]) {
        for (const statement of MIGRATIONS[version - 1](schema)) {
          await sql.unsafe(statement);
        }
        await sql.unsafe(
          `INSERT INTO ${schema}.schema_migrations (version) VALUES (${version})`,
        );
      }
      const runId = crypto.randomUUID();
      await sql.unsafe(`INSERT INTO ${schema}.workflow_runs (
          namespace_id, id, workflow_name, status, config, input, available_at,
          attempts)
        VALUES ('default', '${runId}', 'old', 'pending', '{}', '"kept"', now(), 1)`);
      await sql.unsafe(`INSERT INTO ${schema}.step_attempts (
          namespace_id, id, workflow_run_id, step_name, kind, status, config,
          output)
        VALUES ('default', '${crypto.randomUUID()}', '${runId}', 'first',
          'run', 'succeeded', '{}', '"stored"')`);

      const backend = await BackendPostgres.connect(DATABASE_URL, { schema });
      try {
        const versions = await sql.unsafe(
          `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
        );
        assert.deepEqual(
          versions.map((r) => r.version),
          Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
        );
        const ow = new OpenWorkflow({ backend });
        ow.defineWorkflow({ name: "old" }, async ({ step }) => {
          const first = await step.run({ name: "first" }, () => "again");
          const reply = await step.waitForSignal({ signal: "go" });
          return [first, reply?.data];
        });
        const handle = (await ow.getRun(runId))!;
        assert.equal(handle.workflowRun.parentWorkflowRunId, null);
        await handle.sendSignal("go", 1);
        const worker = ow.newWorker({ pollIntervalMs: 20 });
        await worker.start();
        try {
          assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), [
            "stored",
            1,
          ]);
        } finally {
          await worker.stop();
        }
      } finally {
        await backend.stop();
      }
    } finally {
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    }
  },
});
