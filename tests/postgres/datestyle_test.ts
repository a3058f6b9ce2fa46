/**
 * BackendPostgres on a server, database, role or connection whose default
 * DateStyle is not ISO: records keep their times, and listings page.
 */

import assert from "node:assert/strict";
import { BackendPostgres } from "../../backend_postgres.ts";
import type { WorkflowRun } from "../../mod.ts";
import { runParams } from "../../src/testing/conformance/runs.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
} from "../helpers.ts";

const ignore = postgresTarget.unavailable !== null;

/** `DATABASE_URL` with `-c datestyle=<style>` as the connection's options. */
function withDateStyle(style: string): string {
  const url = new URL(DATABASE_URL);
  url.searchParams.set("options", `-c datestyle=${style}`);
  return url.href;
}

for (const style of ["SQL,DMY", "German", "Postgres,MDY"]) {
  Deno.test({
    name:
      `BackendPostgres reads times and pages listings under DateStyle ${style}`,
    ignore,
    async fn() {
      const namespaceId = randomNamespace();
      await using backend = await BackendPostgres.connect(
        withDateStyle(style),
        { namespaceId, maxConnections: 2, listen: false },
      );
      await using plain = await BackendPostgres.connect(DATABASE_URL, {
        namespaceId,
        maxConnections: 2,
        listen: false,
      });
      const created: WorkflowRun[] = [];
      for (let i = 0; i < 7; i++) {
        created.push(await backend.createWorkflowRun(runParams()));
        await delay(2);
      }
      for (const run of created) {
        const seen = await plain.getWorkflowRun({ workflowRunId: run.id });
        assert.equal(run.createdAt.getTime(), seen?.createdAt.getTime());
        assert.equal(run.availableAt.getTime(), seen?.availableAt.getTime());
      }
      const listed: WorkflowRun[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { runs: WorkflowRun[]; nextCursor: string | null } =
          await backend.listWorkflowRuns({ limit: 2, cursor });
        listed.push(...page.runs);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 4);
      assert.deepEqual(
        listed.map((r) => r.id),
        created.map((r) => r.id).reverse(),
      );
      for (const run of listed) {
        assert.ok(!Number.isNaN(run.createdAt.getTime()), `run ${run.id}`);
      }
      // The cursors of either connection work on the other.
      const first = await backend.listWorkflowRuns({ limit: 3 });
      const rest = await plain.listWorkflowRuns({
        limit: 10,
        cursor: first.nextCursor,
      });
      assert.deepEqual(
        rest.runs.map((r) => r.id),
        created.slice(0, 4).map((r) => r.id).reverse(),
      );
    },
  });
}

Deno.test({
  name:
    "BackendPostgres.connect() refuses a URL that sets a DateStyle other than ISO",
  ignore,
  async fn() {
    for (const query of ["datestyle=SQL,DMY", "DateStyle=German"]) {
      const url = `${DATABASE_URL}?${query}`;
      await assert.rejects(
        BackendPostgres.connect(url),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.includes("'connectionString'") &&
          error.message.includes(query.split("=")[1]),
      );
    }
    // ISO, in any order of day and month, is welcome.
    const backend = await BackendPostgres.connect(
      `${DATABASE_URL}?datestyle=ISO,DMY`,
      { namespaceId: randomNamespace(), maxConnections: 1, listen: false },
    );
    await backend.stop();
  },
});
