/**
 * Compensations (a saga): a trip books a flight and a hotel; when the car
 * rental fails for good, what was booked is undone, latest first, each undo
 * a durable step of its own (retried, checkpointed, never run twice). Then
 * a room held while the guest pays is released when the hold is canceled
 * with `{ compensate: true }`.
 *
 *   deno run -A examples/saga.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/saga.ts
 */

import {
  type Backend,
  NonRetryableError,
  OpenWorkflow,
  WorkflowFailedError,
} from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** What the example observed. */
export interface SagaOutcome {
  /** What ran, in order. */
  log: string[];
  /** The run's error, as `result()` reports it. */
  error: string;
  /** The steps of the run, as stored. */
  steps: string[];
  /** What the canceled hold undid, and its status. */
  canceled: { log: string[]; status: string };
}

/** Runs the example on `backend`. */
export async function main(backend: Backend): Promise<SagaOutcome> {
  const ow = new OpenWorkflow({ backend });
  const log: string[] = [];
  const trip = ow.defineWorkflow<{ to: string }, string>(
    { name: "saga-trip", retry: { maxAttempts: 1 } },
    async ({ input, step }) => {
      const flight = await step.run({
        name: "book-flight",
        compensate: (booking) => void log.push(`cancel ${booking}`),
      }, () => {
        log.push("book flight");
        return `flight to ${input.to}`;
      });
      await step.run({
        name: "book-hotel",
        compensate: (booking) => void log.push(`cancel ${booking}`),
      }, () => {
        log.push("book hotel");
        return `hotel in ${input.to}`;
      });
      await step.run({ name: "rent-car" }, () => {
        log.push("rent car");
        throw new NonRetryableError("no cars left");
      });
      return `trip booked: ${flight}`;
    },
  );
  const holdLog: string[] = [];
  const hold = ow.defineWorkflow<{ room: string }, string>(
    { name: "saga-hold" },
    async ({ input, step }) => {
      const room = await step.run({
        name: "hold-room",
        compensate: (held) => void holdLog.push(`release ${held}`),
      }, () => input.room);
      await step.waitForSignal({ signal: "paid" });
      return `${room} confirmed`;
    },
  );
  const worker = ow.newWorker();
  await worker.start();
  try {
    const held = await hold.run({ room: "room 12" });
    while ((await held.refresh()).status !== "sleeping") {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The guest walks away: undo the hold, then the run is canceled.
    await held.cancel({ compensate: true });
    await held.result().catch(() => {});
    const canceled = { log: holdLog, status: (await held.refresh()).status };
    const handle = await trip.run({ to: "Lisbon" });
    const error = await handle.result().then(
      () => "none",
      (e: unknown) =>
        e instanceof WorkflowFailedError ? (e.cause as Error).message : `${e}`,
    );
    const steps = (await handle.listStepAttempts()).map((attempt) =>
      `${attempt.stepName}: ${attempt.status}`
    );
    return { log, error, steps, canceled };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
    // {
    //   log: [ "book flight", "book hotel", "rent car", "cancel hotel in Lisbon", "cancel flight to Lisbon" ],
    //   error: "no cars left",
    //   steps: [ "book-flight: succeeded", "book-hotel: succeeded", "rent-car: failed",
    //            "compensate:book-hotel: succeeded", "compensate:book-flight: succeeded" ],
    //   canceled: { log: [ "release room 12" ], status: "canceled" }
    // }
  } finally {
    await backend.stop();
  }
}
