/**
 * A database file made by the previous schema version (2), with runs and
 * steps in it, is upgraded in place by connect(): its records come back as
 * they were (the step table is rebuilt for the new step kinds), and signals
 * and child workflows work on it.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { OpenWorkflow } from "../../mod.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/sqlite/schema.ts";

Deno.test("BackendSqlite.connect() upgrades a version 2 file with its runs and steps in place", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-upgrade-" });
  const path = `${dir}/old.db`;
  try {
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE openworkflow_schema_migrations (
      version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
    for (const version of [1, 2]) {
      for (const statement of MIGRATIONS[version - 1]) db.exec(statement);
      db.prepare(
        "INSERT INTO openworkflow_schema_migrations VALUES (?, ?)",
      ).run(version, Date.now());
    }
    const runId = crypto.randomUUID();
    const now = Date.now();
    db.prepare(`INSERT INTO openworkflow_workflow_runs (
        namespace_id, id, workflow_name, status, config, input, available_at,
        created_at, updated_at, attempts)
      VALUES ('default', ?, 'old', 'pending', '{}', '"kept"', ?, ?, ?, 1)`)
      .run(runId, now, now, now);
    for (const step of ["first", "second"]) {
      db.prepare(`INSERT INTO openworkflow_step_attempts (
          namespace_id, id, workflow_run_id, step_name, kind, status, config,
          output, created_at)
        VALUES ('default', ?, ?, ?, 'run', 'succeeded', '{}', ?, ?)`)
        .run(crypto.randomUUID(), runId, step, `"${step}"`, now);
    }
    db.close();

    await using backend = await BackendSqlite.connect(path);
    const check = new DatabaseSync(path);
    const versions = check.prepare(
      "SELECT version FROM openworkflow_schema_migrations ORDER BY version",
    ).all().map((row) => row.version);
    check.close();
    assert.deepEqual(
      versions,
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    const ow = new OpenWorkflow({ backend });
    const child = ow.defineWorkflow({ name: "child" }, () => "from child");
    ow.defineWorkflow({ name: "old" }, async ({ step }) => {
      const first = await step.run({ name: "first" }, () => "again");
      const second = await step.run({ name: "second" }, () => "again");
      const reply = await step.waitForSignal({ signal: "go" });
      const fromChild = await step.runWorkflow(child, null);
      return [first, second, reply?.data, fromChild];
    });
    const handle = (await ow.getRun(runId))!;
    assert.equal(handle.workflowRun.parentWorkflowRunId, null);
    assert.deepEqual(
      (await handle.listStepAttempts()).map((a) => [a.stepName, a.output]),
      [["first", "first"], ["second", "second"]],
    );
    await handle.sendSignal("go", 1);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), [
        "first",
        "second",
        1,
        "from child",
      ]);
    } finally {
      await worker.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
