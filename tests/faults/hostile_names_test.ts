/**
 * Hostile names: workflow names, step names, versions, idempotency keys and
 * namespace ids made of quotes, semicolons, `%`, `_`, backslashes, unicode
 * and 10 kB strings. No SQL injection, no cross-namespace visibility, and a
 * clear error where a limit applies.
 */

import assert from "node:assert/strict";
import { type Backend, OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";
import { testEachBackend } from "../helpers.ts";

const HOSTILE = [
  "'; DROP TABLE openworkflow.workflow_runs; --",
  '"; DELETE FROM openworkflow_workflow_runs; --',
  "%",
  "_",
  "a%b_c",
  "back\\slash\\",
  "$1 $$ ${x} :ns :id ?",
  "名前 🚀 ñ é",
  "\u202eright-to-left",
  "line\nbreak\ttab",
  " ",
];

testEachBackend(
  "hostile workflow names, step names, versions and keys are stored exactly and match only themselves",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const definitions = HOSTILE.map((name, i) =>
      ow.defineWorkflow(
        { name, version: HOSTILE[(i + 1) % HOSTILE.length] },
        async ({ step }) => {
          const out = [];
          for (const stepName of HOSTILE) {
            out.push(await step.run({ name: stepName }, () => stepName));
          }
          return out;
        },
      )
    );
    const handles = await Promise.all(
      definitions.map((wf, i) =>
        wf.run(i, { idempotencyKey: HOSTILE[(i + 2) % HOSTILE.length] })
      ),
    );
    // The same key starts nothing new.
    const again = await definitions[0].run(0, { idempotencyKey: HOSTILE[2] });
    assert.equal(again.id, handles[0].id);
    const worker = ow.newWorker({ concurrency: HOSTILE.length });
    assert.equal(await worker.tick(), HOSTILE.length);
    for (const [i, handle] of handles.entries()) {
      assert.deepEqual(await handle.result(), HOSTILE);
      const run = await handle.refresh();
      assert.equal(run.workflowName, HOSTILE[i]);
      assert.equal(run.version, HOSTILE[(i + 1) % HOSTILE.length]);
      assert.equal(run.idempotencyKey, HOSTILE[(i + 2) % HOSTILE.length]);
      const names = (await handle.listStepAttempts()).map((a) => a.stepName);
      assert.deepEqual(names, HOSTILE);
    }
    // A filter matches its name exactly: `%` and `_` are no wildcards.
    for (const name of HOSTILE) {
      const page = await ow.listRuns({ workflowName: name });
      assert.deepEqual(page.runs.map((r) => r.workflowName), [name]);
    }
    assert.deepEqual((await ow.listRuns({ workflowName: "a" })).runs, []);
    assert.equal(
      (await ow.listRuns({ limit: 100 })).runs.length,
      HOSTILE.length,
    );
  },
);

testEachBackend(
  "names over the limits are rejected with RangeError before anything is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const long = "x".repeat(10_000);
    const isLimit = (e: unknown) =>
      e instanceof RangeError && /at most 1024 characters/.test(e.message);
    assert.throws(() => ow.defineWorkflow({ name: long }, () => 1), isLimit);
    assert.throws(
      () => ow.defineWorkflow({ name: "v", version: long }, () => 1),
      isLimit,
    );
    const edge = ow.defineWorkflow({ name: "y".repeat(1024) }, () => 1);
    const wf = ow.defineWorkflow({ name: "long-step" }, async ({ step }) => {
      await step.run({ name: long }, () => 1);
    });
    await assert.rejects(wf.run(1, { idempotencyKey: long }), isLimit);
    assert.deepEqual((await ow.listRuns()).runs, []);
    const edgeHandle = await edge.run();
    const handle = await wf.run();
    await ow.newWorker({ concurrency: 2 }).tick();
    assert.equal(await edgeHandle.result(), 1);
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).name, "RangeError");
    assert.match((error.cause as Error).message, /at most 1024 characters/);
    assert.deepEqual(await handle.listStepAttempts(), []);
  },
);

/** Connects a backend of `kind` on the same store as `backend`. */
type Connect = (namespaceId: string) => Promise<Backend>;

async function checkIsolation(connect: Connect): Promise<void> {
  const namespaces = [
    ...HOSTILE.filter((n) => n.trim() !== ""),
    "a",
    "A",
    "a ",
    "default",
  ];
  const backends = await Promise.all(namespaces.map(connect));
  const runIds: string[] = [];
  for (const [i, backend] of backends.entries()) {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "isolated" }, () => namespaces[i]);
    runIds.push((await wf.run(i, { idempotencyKey: "same-key" })).id);
  }
  assert.equal(new Set(runIds).size, namespaces.length, "one run each");
  for (const [i, backend] of backends.entries()) {
    const page = await backend.listWorkflowRuns({ limit: 100 });
    assert.deepEqual(page.runs.map((r) => r.id), [runIds[i]], namespaces[i]);
    for (const [j, id] of runIds.entries()) {
      const run = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(run?.id ?? null, i === j ? id : null);
      if (i !== j) {
        assert.equal(
          await backend.cancelWorkflowRun({
            workflowRunId: id,
            error: { name: "Error", message: "not yours" },
          }),
          null,
        );
        assert.deepEqual(
          await backend.listStepAttempts({ workflowRunId: id }),
          [],
        );
      }
    }
    const claimed = await backend.claimWorkflowRuns({
      workerId: `worker-${i}`,
      leaseDurationMs: 10_000,
      limit: 100,
    });
    assert.deepEqual(claimed.map((r) => r.id), [runIds[i]]);
    assert.equal(claimed[0].input, i);
  }
  await Promise.all(backends.map((b) => b.stop()));
}

Deno.test({
  name: "[postgres] hostile namespace ids isolate their runs completely",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const suffix = crypto.randomUUID().slice(0, 8);
    await checkIsolation((ns) =>
      BackendPostgres.connect(DATABASE_URL, {
        namespaceId: `${ns}-${suffix}`,
        maxConnections: 1,
        listen: false,
      })
    );
  },
});

Deno.test("[sqlite file] hostile namespace ids isolate their runs completely", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-names-" });
  try {
    await checkIsolation((ns) =>
      BackendSqlite.connect(`${dir}/names.db`, { namespaceId: ns })
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("namespace ids over 255 characters are rejected with RangeError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-names-" });
  try {
    await assert.rejects(
      BackendSqlite.connect(`${dir}/ns.db`, {
        namespaceId: "n".repeat(10_000),
      }),
      (e) => e instanceof RangeError && /at most 255/.test(e.message),
    );
    await assert.rejects(
      BackendPostgres.connect(DATABASE_URL, { namespaceId: "n".repeat(256) }),
      (e) => e instanceof RangeError && /at most 255/.test(e.message),
    );
    const edge = await BackendSqlite.connect(`${dir}/ns.db`, {
      namespaceId: "n".repeat(255),
    });
    await edge.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
