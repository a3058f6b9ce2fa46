/**
 * Leases, availability and sleeps follow the database's clock: worker
 * processes whose local clocks are an hour fast and an hour slow
 * share runs without stealing leases, and sleeps wake on time.
 *
 * Postgres only: with no server, the SQLite backend's clock is the clock of
 * the process making each call (documented in BackendSqlite), so skewed
 * processes sharing a file are outside its contract.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";
import { POSTGRES_ONLY, testEachBackend } from "../helpers.ts";
import { WorkerProcess } from "../chaos/processes.ts";
import { openStore } from "../chaos/store.ts";
import { type RunRecord, verifyChaos } from "../chaos/verify.ts";
import {
  type ChaosInput,
  defineChaosWorkflows,
  expectedSteps,
  PIPELINE,
} from "../chaos/workflows.ts";

const AN_HOUR_MS = 60 * 60_000;

Deno.test({
  name:
    "[postgres] workers with clocks an hour off share runs without stealing leases, and sleeps wake on time",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const store = await openStore("postgres", DATABASE_URL);
    const workers: WorkerProcess[] = [];
    try {
      for (
        const [slot, skewMs] of [[0, AN_HOUR_MS], [1, -AN_HOUR_MS]]
      ) {
        workers.push(
          new WorkerProcess({
            backend: "postgres",
            engineUrl: store.workerLocation(slot, "engine"),
            effectsUrl: store.workerLocation(slot, "effects"),
            namespaceId: store.namespaceId,
            workerId: `skewed${skewMs > 0 ? "+" : "-"}10m`,
            // Steps take up to 2.5 s, more than twice the lease: only
            // heartbeats keep the leases, and a worker judging expiry by
            // its own clock would take runs from the other.
            leaseMs: 1_000,
            pollMs: 50,
            concurrency: 4,
            skewMs,
          }),
        );
      }
      for (const worker of workers) {
        if (!await worker.ready) {
          const exit = await worker.exited;
          assert.fail(`${worker.workerId} did not start: ${exit.stderrTail}`);
        }
      }
      const ow = new OpenWorkflow({ backend: store.backend });
      const { pipeline } = defineChaosWorkflows(ow, {
        record: () => Promise.resolve(),
      });
      const napMs = 1_500;
      const inputs: ChaosInput[] = Array.from({ length: 4 }, (_, i) => ({
        seed: i + 1,
        depth: 1,
        width: 2,
        maxStepDelayMs: 2_500,
        napMs,
      }));
      const handles = await Promise.all(inputs.map((i) => pipeline.run(i)));
      const records: RunRecord[] = [];
      for (const [i, handle] of handles.entries()) {
        const output = await handle.result({ timeoutMs: 60_000 });
        records.push({
          id: handle.id,
          workflowName: PIPELINE,
          input: inputs[i],
          outcome: { status: "succeeded", output },
        });
      }
      const attempts = await store.attempts();
      const effects = await store.effects();
      const verification = verifyChaos(records, attempts, effects);
      assert.deepEqual(verification.violations, []);
      // No lease was stolen: no step function ran twice, and the steps that
      // fail by design ran exactly as often as designed.
      assert.equal(verification.reexecutedSteps, 0);
      for (const record of records) {
        const count = (step: string) =>
          effects.filter((e) => e.runId === record.id && e.stepName === step)
            .length;
        assert.equal(count("flaky"), 3, "flaky: two failures, one success");
        assert.equal(count("doomed"), 2, "doomed: two failures");
        const steps = expectedSteps(PIPELINE, record.input);
        assert.equal(
          new Set(
            effects.filter((e) => e.runId === record.id).map((e) => e.stepName),
          ).size,
          steps.length - 1, // every step but the sleep has side effects
        );
      }
      // Sleeps wake when the database's clock says, neither at once nor
      // an hour early or late: from the nap's start (its attempt's
      // creation) to the next step's side effect, both on the database's
      // clock.
      for (const record of records) {
        const nap = (await ow.listStepAttempts(record.id)).find((a) =>
          a.stepName === "nap"
        )!;
        const total = effects.find((e) =>
          e.runId === record.id && e.stepName === "total"
        )!;
        const sleptMs = total.insertedAtMs - nap.createdAt.getTime();
        assert.ok(sleptMs >= napMs, `slept ${sleptMs} ms, at least ${napMs}`);
        assert.ok(sleptMs < napMs + 5_000, `slept ${sleptMs} ms`);
      }
    } finally {
      for (const worker of workers) worker.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.exited));
      await store.close();
    }
  },
});

testEachBackend(
  "a delayed start is measured on the database clock, whatever the caller's clock says",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "delayed" }, () => 1);
    const realNow = Date.now;
    for (const skewMs of [-AN_HOUR_MS, AN_HOUR_MS]) {
      Date.now = () => realNow() + skewMs;
      let handle;
      try {
        handle = await wf.run(undefined, { availableAt: "2s" });
      } finally {
        Date.now = realNow;
      }
      const run = handle.workflowRun;
      const delayMs = run.availableAt.getTime() - run.createdAt.getTime();
      assert.ok(
        delayMs > 1_500 && delayMs < 2_500,
        `skew ${skewMs} ms: available ${delayMs} ms after creation`,
      );
    }
  },
  { targets: POSTGRES_ONLY },
);
