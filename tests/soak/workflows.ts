/**
 * The soak's workflows. `soak-order` reserves, sleeps, charges (failing its
 * first attempt when `input.flaky`), ships through a child workflow, waits
 * up to `input.waitMs` for a `confirm` signal, and finishes. Every step
 * function appends `<run> <step> <worker>` to the file `SOAK_EFFECTS`
 * names when it starts, so that the soak can check that no step whose
 * success was stored ran again.
 */

import { appendFileSync } from "node:fs";
import process from "node:process";
import type { OpenWorkflow, WorkflowDefinition } from "../../mod.ts";

/** The input of a soak order. */
export interface SoakOrder {
  n: number;
  flaky: boolean;
  sleepMs: number;
  waitMs: number;
}

/** The soak's schedule: a run every 2 seconds, declared with its workflow. */
export const TICK_CRON = "*/2 * * * * *";

/** Defines the soak's workflows on `ow`, for worker `me`. */
export function defineSoak(ow: OpenWorkflow, me: string): {
  order: WorkflowDefinition<SoakOrder, string>;
  ship: WorkflowDefinition<number, string>;
  tick: WorkflowDefinition<null, string>;
} {
  const effect = (run: string, step: string) => {
    const file = process.env.SOAK_EFFECTS;
    if (file !== undefined) appendFileSync(file, `${run} ${step} ${me}\n`);
  };
  const ship = ow.defineWorkflow<number, string>(
    { name: "soak-ship" },
    async ({ input, step, run }) =>
      await step.run({ name: "pack" }, () => {
        effect(run.id, "pack");
        return `parcel ${input}`;
      }),
  );
  const order = ow.defineWorkflow<SoakOrder, string>(
    { name: "soak-order" },
    async ({ input, step, run }) => {
      await step.run({ name: "reserve" }, () => effect(run.id, "reserve"));
      await step.sleep("settle", input.sleepMs);
      await step.run({
        name: "charge",
        retry: { maxAttempts: 3, initialIntervalMs: 100, jitter: 0 },
      }, ({ attempt }) => {
        effect(run.id, "charge");
        if (input.flaky && attempt === 1) throw new Error("card timeout");
      });
      const parcel = await step.runWorkflow(ship, input.n);
      const confirm = await step.waitForSignal({
        signal: "confirm",
        timeout: input.waitMs,
      });
      await step.run({ name: "finish" }, () => effect(run.id, "finish"));
      return `${parcel} ${confirm === null ? "unconfirmed" : "confirmed"}`;
    },
  );
  // Fired by whichever worker finds it due, across kills and the restart:
  // one run per slot.
  const tick = ow.defineWorkflow<null, string>(
    { name: "soak-tick", schedule: { cron: TICK_CRON } },
    async ({ step, run }) =>
      await step.run({ name: "tick" }, () => {
        effect(run.id, "tick");
        return "ticked";
      }),
  );
  return { order, ship, tick };
}
