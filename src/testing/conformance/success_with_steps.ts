/**
 * Conformance: `markStepsAndWorkflowRunSucceeded()`, a run's success
 * stored together with the outputs of its last step attempts: all of it,
 * or (fenced) nothing.
 */

import assert from "node:assert/strict";
import type { Backend } from "../../core/backend.ts";
import { LeaseLostError } from "../../core/errors.ts";
import type { DefineCase } from "./define.ts";
import { createClaimed } from "./runs.ts";

/** The backend's `markStepsAndWorkflowRunSucceeded()`, which must exist. */
function succeedWithSteps(backend: Backend) {
  assert.equal(
    typeof backend.markStepsAndWorkflowRunSucceeded,
    "function",
    "markStepsAndWorkflowRunSucceeded() is implemented",
  );
  return backend.markStepsAndWorkflowRunSucceeded!.bind(backend);
}

/** A running `run` attempt named `name` of run `workflowRunId`. */
async function running(
  backend: Backend,
  workflowRunId: string,
  name: string,
): Promise<string> {
  const attempt = await backend.createStepAttempt({
    workflowRunId,
    workerId: "w1",
    stepName: name,
    kind: "run",
    config: {},
    context: null,
  });
  return attempt.id;
}

/** The statuses of a run and its attempts, by step name. */
async function statuses(backend: Backend, workflowRunId: string) {
  const run = await backend.getWorkflowRun({ workflowRunId });
  const steps = await backend.listStepAttempts({ workflowRunId });
  return {
    run: run?.status,
    steps: Object.fromEntries(steps.map((a) => [a.stepName, a.status])),
  };
}

export function successWithStepsConformance(define: DefineCase): void {
  define(
    "markStepsAndWorkflowRunSucceeded() stores the attempts' outputs and the run's success together",
    async ({ backend }) => {
      const succeed = succeedWithSteps(backend);
      const id = await createClaimed(backend, "w1");
      const a = await running(backend, id, "a");
      const b = await running(backend, id, "b");
      await succeed({
        workflowRunId: id,
        workerId: "w1",
        output: { total: 3 },
        steps: [
          { stepAttemptId: a, output: 1 },
          { stepAttemptId: b, output: { two: [2] } },
        ],
      });
      const run = await backend.getWorkflowRun({ workflowRunId: id });
      assert.equal(run?.status, "succeeded");
      assert.deepEqual(run?.output, { total: 3 });
      const [first, second] = await backend.listStepAttempts({
        workflowRunId: id,
      });
      assert.equal(first.status, "succeeded");
      assert.equal(first.output, 1);
      assert.ok(first.completedAt instanceof Date);
      assert.equal(second.status, "succeeded");
      assert.deepEqual(second.output, { two: [2] });
      // No steps: the run's success alone.
      const other = await createClaimed(backend, "w1");
      await succeed({
        workflowRunId: other,
        workerId: "w1",
        output: null,
        steps: [],
      });
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: other }))?.status,
        "succeeded",
      );
    },
    ["markStepsAndWorkflowRunSucceeded"],
  );

  define(
    "markStepsAndWorkflowRunSucceeded() is fenced: another worker, a finished attempt or another run's attempt change nothing",
    async ({ backend }) => {
      const succeed = succeedWithSteps(backend);
      const id = await createClaimed(backend, "w1");
      const a = await running(backend, id, "a");
      const done = await running(backend, id, "done");
      await backend.markStepAttemptSucceeded({
        workflowRunId: id,
        stepAttemptId: done,
        workerId: "w1",
        output: 0,
      });
      const elsewhere = await createClaimed(backend, "w1");
      const foreign = await running(backend, elsewhere, "foreign");
      const cases = [
        { workerId: "w2", steps: [{ stepAttemptId: a, output: 1 }] },
        {
          workerId: "w1",
          steps: [
            { stepAttemptId: a, output: 1 },
            { stepAttemptId: done, output: 1 },
          ],
        },
        {
          workerId: "w1",
          steps: [
            { stepAttemptId: a, output: 1 },
            { stepAttemptId: foreign, output: 1 },
          ],
        },
        {
          workerId: "w1",
          steps: [{ stepAttemptId: "not-an-id", output: 1 }],
        },
      ];
      for (const { workerId, steps } of cases) {
        await assert.rejects(
          succeed({ workflowRunId: id, workerId, output: 1, steps }),
          LeaseLostError,
        );
        assert.deepEqual(await statuses(backend, id), {
          run: "running",
          steps: { a: "running", done: "succeeded" },
        });
        assert.deepEqual(await statuses(backend, elsewhere), {
          run: "running",
          steps: { foreign: "running" },
        });
      }
    },
    ["markStepsAndWorkflowRunSucceeded"],
  );

  define(
    "markStepsAndWorkflowRunSucceeded() calls made together succeed or fail each on its own",
    async ({ backend }) => {
      const succeed = succeedWithSteps(backend);
      const runs: { id: string; step: string }[] = [];
      for (let i = 0; i < 6; i++) {
        const id = await createClaimed(backend, "w1");
        runs.push({ id, step: await running(backend, id, "s") });
      }
      // Run 3 names run 4's attempt: it fails, and run 4 still succeeds.
      const outcomes = await Promise.allSettled(
        runs.map(({ id, step }, i) =>
          succeed({
            workflowRunId: id,
            workerId: "w1",
            output: i,
            steps: [{
              stepAttemptId: i === 3 ? runs[4].step : step,
              output: i,
            }],
          })
        ),
      );
      outcomes.forEach((outcome, i) => {
        if (i === 3) {
          assert.equal(outcome.status, "rejected");
          assert.ok(
            (outcome as PromiseRejectedResult).reason instanceof
              LeaseLostError,
          );
        } else assert.equal(outcome.status, "fulfilled", `run ${i}`);
      });
      for (const [i, { id }] of runs.entries()) {
        assert.deepEqual(
          await statuses(backend, id),
          i === 3
            ? { run: "running", steps: { s: "running" } }
            : { run: "succeeded", steps: { s: "succeeded" } },
          `run ${i}`,
        );
      }
    },
    ["markStepsAndWorkflowRunSucceeded"],
  );
}
