/**
 * The query-plan evidence of `deno task bench:scaling history`
 * (bench/scaling/explain.ts) explains the engine's own claim statement:
 * with its parameters, it finds a run that is due, and it leaves the run
 * as it was.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import type { Backend } from "../../mod.ts";
import { runParams } from "../../src/testing/conformance/runs.ts";
import {
  type ClaimValues,
  explainClaimPostgres,
  explainClaimSqlite,
} from "../../bench/scaling/explain.ts";
import { DATABASE_URL, randomNamespace } from "../helpers.ts";

/** A due run of a workflow of its own, and what a claim of it asks for. */
async function dueRun(
  backend: Backend,
  namespaceId: string,
): Promise<{ id: string; values: ClaimValues }> {
  const workflowName = `explained-${crypto.randomUUID()}`;
  const params = runParams(workflowName, { input: null });
  const run = await backend.createWorkflowRun(params);
  return {
    id: run.id,
    values: {
      namespaceId,
      selectors: [{ name: workflowName, version: null }],
      limit: 10,
      workerId: "explain-test",
      leaseDurationMs: 30_000,
    },
  };
}

Deno.test("bench explainClaimPostgres() explains the engine's claim of a due run and rolls it back", async () => {
  const namespaceId = randomNamespace();
  const backend = await BackendPostgres.connect(DATABASE_URL, {
    namespaceId,
    listen: false,
  });
  try {
    const { id, values } = await dueRun(backend, namespaceId);
    const { statement, plan } = await explainClaimPostgres(
      DATABASE_URL,
      values,
    );
    assert.ok(statement.parameters.includes(values.namespaceId));
    assert.ok(statement.parameters.includes(values.workerId));
    assert.ok(
      plan.lines.some((line) =>
        /Update on workflow_runs r(_\d+)? .* rows=1 /.test(line)
      ),
      plan.lines.join("\n"),
    );
    assert.notEqual(plan.scan, "?");
    const run = await backend.getWorkflowRun({ workflowRunId: id });
    assert.equal(run?.status, "pending");
    assert.equal(run?.attempts, 0);
  } finally {
    await backend.stop();
  }
});

Deno.test("bench explainClaimSqlite() explains the engine's claim of a due run and rolls it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-explain-" });
  const path = `${dir}/workflows.db`;
  try {
    const namespaceId = randomNamespace();
    const backend = await BackendSqlite.connect(path, { namespaceId });
    let due: Awaited<ReturnType<typeof dueRun>>;
    try {
      due = await dueRun(backend, namespaceId);
    } finally {
      await backend.stop();
    }
    const db = new DatabaseSync(path);
    try {
      const { plan, scan, claimed } = explainClaimSqlite(db, due.values);
      assert.equal(claimed, 1);
      // The workflow's priorities, one probe each, then each priority's due
      // runs from the first: bounded by priority and availability, never
      // the whole table nor the runs not due yet.
      assert.match(
        scan,
        /SEARCH r USING INDEX openworkflow_workflow_runs_free \(namespace_id=\? AND workflow_name=\? AND priority=\? AND available_at<\?\)/,
      );
      assert.doesNotMatch(scan, /SCAN openworkflow_workflow_runs|SCAN r\b/);
      assert.ok(plan.length > 1);
      const row = db.prepare(
        "SELECT status, attempts FROM openworkflow_workflow_runs WHERE id = ?",
      ).get(due.id);
      assert.deepEqual({ ...row }, { status: "pending", attempts: 0 });
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
