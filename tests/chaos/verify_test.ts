/**
 * The chaos checks catch what they claim to: each broken guarantee, fed to
 * `verifyChaos()` as synthetic database contents, is reported.
 */

import assert from "node:assert/strict";
import type { AttemptRow, EffectRow } from "./store.ts";
import { type RunRecord, verifyChaos } from "./verify.ts";
import { type ChaosInput, DOOMED_RUN, expectedOutcome } from "./workflows.ts";

const input: ChaosInput = {
  seed: 3,
  depth: 0,
  width: 0,
  maxStepDelayMs: 0,
  napMs: 0,
};
const RUN = "00000000-0000-4000-8000-000000000001";

/** A doomed run (steps first, left, right) that went by the book. */
function cleanRun(): {
  runs: RunRecord[];
  attempts: AttemptRow[];
  effects: EffectRow[];
} {
  const expected = expectedOutcome(DOOMED_RUN, input);
  assert.equal(expected.status, "failed");
  const runs: RunRecord[] = [{
    id: RUN,
    workflowName: DOOMED_RUN,
    input,
    outcome: {
      status: "failed",
      errorName: expected.errorName,
      errorMessage: expected.errorMessage,
    },
  }];
  const attempts: AttemptRow[] = ["first", "left", "right"].map((
    stepName,
    i,
  ) => ({
    runId: RUN,
    stepName,
    kind: "run",
    status: "succeeded",
    seq: i + 1,
    completedAtMs: 1000 + i * 10,
  }));
  const effects: EffectRow[] = attempts.map((a) => ({
    runId: RUN,
    stepName: a.stepName,
    workerId: "w0g1",
    attempt: 1,
    insertedAtMs: a.completedAtMs! - 5,
    afterSuccess: false,
  }));
  return { runs, attempts, effects };
}

Deno.test("verifyChaos() passes a run that went by the book", () => {
  const { runs, attempts, effects } = cleanRun();
  const result = verifyChaos(runs, attempts, effects);
  assert.deepEqual(result.violations, []);
  assert.equal(result.sideEffects, 3);
  assert.equal(result.reexecutedSteps, 0);
});

Deno.test("verifyChaos() accepts a step re-executed before its success was recorded", () => {
  const { runs, attempts, effects } = cleanRun();
  attempts.unshift({ ...attempts[0], status: "running", seq: 0 });
  effects.unshift({ ...effects[0], workerId: "w1g1", insertedAtMs: 900 });
  const result = verifyChaos(runs, attempts, effects);
  assert.deepEqual(result.violations, []);
  assert.equal(result.reexecutedSteps, 1);
});

Deno.test("verifyChaos() reports each broken guarantee", () => {
  const cases: [string, (c: ReturnType<typeof cleanRun>) => void, RegExp][] = [
    ["wrong outcome", (c) => {
      c.runs[0].outcome = { status: "succeeded", output: 1 };
    }, /ended with/],
    ["never finished", (c) => {
      c.runs[0].outcome = null;
    }, /never finished/],
    ["second success", (c) => {
      c.attempts.push({ ...c.attempts[0], seq: 9 });
      c.effects.push({ ...c.effects[0] });
    }, /succeeded 2 times/],
    ["attempt after success", (c) => {
      c.attempts.push({ ...c.attempts[0], status: "running", seq: 9 });
    }, /attempted 1 more time/],
    ["side effect after success, by the database", (c) => {
      c.effects[1].afterSuccess = true;
    }, /committed after the step was recorded as succeeded/],
    ["side effect after success, by the clock", (c) => {
      c.effects[2].insertedAtMs = 5000;
    }, /inserted .* ms after/],
    ["more side effects than attempts", (c) => {
      c.effects.push({ ...c.effects[0], insertedAtMs: 0 });
    }, /2 side effects for 1 attempts/],
    ["success without running", (c) => {
      c.effects.splice(0, 1);
    }, /succeeded without running/],
    ["missing step", (c) => {
      c.attempts.splice(2, 1);
      c.effects.splice(2, 1);
    }, /step right has no succeeded attempt/],
  ];
  for (const [what, breakIt, expected] of cases) {
    const c = cleanRun();
    breakIt(c);
    const { violations } = verifyChaos(c.runs, c.attempts, c.effects);
    assert.ok(
      violations.some((v) => expected.test(v)),
      `${what}: ${violations.join("; ")}`,
    );
  }
});
