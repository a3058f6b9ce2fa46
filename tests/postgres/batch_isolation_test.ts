/**
 * BackendPostgres batches concurrent writes into one statement per kind: a
 * write the table refuses (an integrity constraint: a step attempt of a
 * kind it does not know) fails its own call, never the other writes of the
 * same batch.
 */

import assert from "node:assert/strict";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendError, type StepKind } from "../../mod.ts";
import { createClaimed } from "../../src/testing/conformance/runs.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";

Deno.test({
  name:
    "[postgres] a step attempt the table refuses fails its own call, not the batch it was sent in",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    await using backend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId: randomNamespace(),
      maxConnections: 2,
      listen: false,
    });
    const runs = [
      await createClaimed(backend, "w1"),
      await createClaimed(backend, "w1"),
    ];
    const step = (workflowRunId: string, kind: string) =>
      backend.createStepAttempt({
        workflowRunId,
        workerId: "w1",
        stepName: "a",
        kind: kind as StepKind,
        config: {},
        context: null,
      });
    // Made in one stretch of code: one batch, one statement.
    const [refused, fine] = await Promise.allSettled([
      step(runs[0], "bogus"),
      step(runs[1], "run"),
    ]);
    assert.equal(refused.status, "rejected");
    assert.ok(
      refused.reason instanceof BackendError,
      `expected a BackendError, got ${refused.reason}`,
    );
    assert.equal(fine.status, "fulfilled");
    const list = async (workflowRunId: string) =>
      (await backend.listStepAttempts({ workflowRunId })).map((a) => a.id);
    assert.deepEqual(await list(runs[0]), []);
    assert.deepEqual(await list(runs[1]), [fine.value.id]);
  },
});
