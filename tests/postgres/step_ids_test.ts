/**
 * BackendPostgres batches concurrent writes into one statement per kind: a
 * step attempt the table refuses (an id already taken, a kind it does not
 * know) fails its own call, never the other attempts created in the same
 * batch.
 */

import assert from "node:assert/strict";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendError } from "../../mod.ts";
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
    const step = (workflowRunId: string, stepAttemptId: string, kind = "run") =>
      backend.createStepAttempt({
        workflowRunId,
        workerId: "w1",
        stepName: "a",
        kind: kind as "run",
        config: {},
        context: null,
        stepAttemptId,
        output: 1,
      });
    const taken = crypto.randomUUID();
    await step(runs[0], taken);
    const fresh = crypto.randomUUID();
    // Made in one stretch of code: one batch, one statement.
    const [again, other, unknown] = await Promise.allSettled([
      step(runs[0], taken),
      step(runs[1], fresh),
      step(runs[1], crypto.randomUUID(), "bogus"),
    ]);
    for (const refused of [again, unknown]) {
      assert.equal(refused.status, "rejected");
      assert.ok(
        refused.reason instanceof BackendError,
        `expected a BackendError, got ${refused.reason}`,
      );
    }
    assert.equal(other.status, "fulfilled");
    assert.equal(other.value.id, fresh);
    const list = async (workflowRunId: string) =>
      (await backend.listStepAttempts({ workflowRunId })).map((a) => a.id);
    assert.deepEqual(await list(runs[0]), [taken]);
    assert.deepEqual(await list(runs[1]), [fresh]);
  },
});
