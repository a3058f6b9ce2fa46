/**
 * Workflows defined the same way by the parent and the child processes.
 *
 * @module
 */

import type { OpenWorkflow, WorkflowDefinition } from "../../mod.ts";

/** The long workflow's name. */
export const LONG = "scale-long";
/** The four-step workflow's name (the throughput workload of bench/core.ts). */
export const FOUR_STEPS = "scale-four-steps";
/** The sleeping workflow's name. */
export const NAP = "scale-nap";

/**
 * `input` sequential steps named `step-0`, `step-1`, …; `onStep(i, input)` is
 * called as step `i`'s function starts (replayed steps do not call it).
 */
export function defineLong(
  ow: OpenWorkflow,
  onStep: (i: number, steps: number) => void,
): WorkflowDefinition<number, number> {
  return ow.defineWorkflow<number, number>(
    { name: LONG },
    async ({ input, step }) => {
      for (let i = 0; i < input; i++) {
        await step.run({ name: `step-${i}` }, () => {
          onStep(i, input);
          return i;
        });
      }
      return input;
    },
  );
}

/** Four no-op steps. */
export function defineFourSteps(
  ow: OpenWorkflow,
): WorkflowDefinition<null, string> {
  return ow.defineWorkflow<null, string>(
    { name: FOUR_STEPS },
    async ({ step }) => {
      for (let i = 1; i <= 4; i++) {
        await step.run({ name: `step-${i}` }, () => i);
      }
      return "done";
    },
  );
}

/** One durable sleep of `input` seconds, then one step. */
export function defineNap(
  ow: OpenWorkflow,
): WorkflowDefinition<number, number> {
  return ow.defineWorkflow<number, number>(
    { name: NAP },
    async ({ input, step }) => {
      await step.sleep("nap", `${input}s`);
      return await step.run({ name: "after" }, () => input);
    },
  );
}
