/**
 * Deleting a run takes what belongs to it: its step attempts, the signals
 * addressed to it (delivered or still waiting in its mailbox) and their
 * deliveries; read straight from the Postgres tables.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";

Deno.test({
  name:
    "deleteRuns() deletes a run's step attempts, signals and deliveries, and nothing of other runs",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const namespaceId = randomNamespace();
    const backend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId,
    });
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow<string, unknown>(
        { name: "mailbox" },
        async ({ step }) => {
          const got = await step.waitForSignal({ signal: "go" });
          return got?.data ?? null;
        },
      );
      const doomed = await wf.run("doomed");
      const kept = await wf.run("kept");
      for (const handle of [doomed, kept]) {
        await handle.sendSignal("go", handle.id);
        // A second signal stays in the mailbox, never received.
        await handle.sendSignal("unread", 1);
      }
      const worker = ow.newWorker();
      await worker.start();
      try {
        assert.equal(await doomed.result({ timeoutMs: 10_000 }), doomed.id);
        assert.equal(await kept.result({ timeoutMs: 10_000 }), kept.id);
      } finally {
        await worker.stop();
      }
      const count = async (table: string, id: string) =>
        Number(
          (await sql.unsafe(
            `SELECT count(*) AS n FROM openworkflow.${table}
            WHERE namespace_id = $1 AND workflow_run_id = $2`,
            [namespaceId, id],
          ))[0].n,
        );
      for (const id of [doomed.id, kept.id]) {
        assert.equal(await count("signals", id), 2);
        assert.equal(await count("signal_deliveries", id), 1);
        assert.ok(await count("step_attempts", id) >= 1);
      }
      await sql.unsafe(
        `UPDATE openworkflow.workflow_runs SET completed_at = now() - interval '2 days'
        WHERE namespace_id = $1 AND id = $2`,
        [namespaceId, doomed.id],
      );
      assert.equal(
        await ow.deleteRuns({
          finishedBefore: new Date(Date.now() - 86_400_000),
        }),
        1,
      );
      for (const table of ["signals", "signal_deliveries", "step_attempts"]) {
        assert.equal(await count(table, doomed.id), 0, table);
      }
      assert.equal(await count("signals", kept.id), 2);
      assert.equal(await count("signal_deliveries", kept.id), 1);
    } finally {
      await backend.stop();
      await sql.end();
    }
  },
});
