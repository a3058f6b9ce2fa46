/**
 * The main demo: durable order fulfillment that survives a killed worker.
 *
 *   deno task demo                  # run it; after a Ctrl-C, run it again to resume
 *   deno task demo --fresh          # start over even when runs are unfinished
 *   DATABASE_URL=postgresql://localhost/app deno task demo   # the same on Postgres
 *
 * Part 1 starts a worker process that begins a batch of orders and kills it
 * with SIGKILL part-way. Part 2 starts a new worker process on the same
 * database: it resumes every unfinished run, and no completed step runs
 * again. Each order has parallel steps, a step that fails and is handled,
 * and a durable sleep. Interrupt it yourself (Ctrl-C) at any point and run
 * it again: it finds the unfinished runs and resumes them.
 */

import { parseArgs } from "node:util";
import {
  type Backend,
  NonRetryableError,
  OpenWorkflow,
  type StepAttempt,
  type WorkflowDefinition,
  type WorkflowRun,
} from "../mod.ts";
import { connectBackend, describeBackend, resetBackend } from "./backend.ts";

const NAMESPACE = "demo";
const ORDERS = 6;
const LEASE_MS = 2_000;
/** Marks a progress line of a step that just executed. */
const STEP_DONE = "✓";
/** Part 1's worker is killed after this many steps. */
const KILL_AFTER_STEPS = 10;

interface Order {
  orderId: string;
  amountCents: number;
  phone: string | null;
}

interface Shipment {
  orderId: string;
  trackingNumber: string;
  chargeId: string;
  notifiedBy: "sms" | "email";
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Defines the demo workflow; each step reports when it really executes. */
export function defineFulfillment(
  ow: OpenWorkflow,
  onStep: (orderId: string, step: string, ms: number) => void = () => {},
  onFailure: (orderId: string, step: string, reason: string) => void = () => {},
): WorkflowDefinition<Order, Shipment> {
  return ow.defineWorkflow<Order, Shipment>(
    { name: "fulfill-order" },
    async ({ input, step }) => {
      const work = <T>(name: string, ms: number, value: () => T) =>
        step.run({ name }, async () => {
          const startedAt = performance.now();
          await wait(ms);
          onStep(input.orderId, name, performance.now() - startedAt);
          return value();
        });

      await work("reserve-inventory", 300, () => ({ reserved: true }));
      const [chargeId] = await Promise.all([
        work("charge-payment", 400, () => `ch_${input.orderId}`),
        work("create-invoice", 250, () => `inv_${input.orderId}`),
      ]);
      let notifiedBy: Shipment["notifiedBy"] = "sms";
      try {
        await step.run({ name: "notify-sms" }, () => {
          if (input.phone === null) {
            onFailure(input.orderId, "notify-sms", "no phone number on file");
            throw new NonRetryableError("no phone number on file");
          }
          onStep(input.orderId, "notify-sms", 0);
        });
      } catch {
        await work("notify-email", 100, () => null);
        notifiedBy = "email";
      }
      await step.sleep("wait-for-pickup", "1s");
      const trackingNumber = await work(
        "ship",
        300,
        () => `TRK-${input.orderId.toUpperCase()}`,
      );
      return { orderId: input.orderId, trackingNumber, chargeId, notifiedBy };
    },
  );
}

/** A worker process: starts the batch (idempotently) and waits for it. */
async function work(): Promise<void> {
  const backend = await connectBackend(NAMESPACE);
  const ow = new OpenWorkflow({ backend });
  const fulfill = defineFulfillment(
    ow,
    (orderId, step, ms) =>
      console.log(
        `  ${orderId}  ${STEP_DONE} ${step.padEnd(18)} ${
          ms.toFixed(0).padStart(4)
        } ms`,
      ),
    (orderId, step, reason) =>
      console.log(
        `  ${orderId}  ✗ ${
          step.padEnd(18)
        } ${reason} (handled: e-mail instead)`,
      ),
  );
  const worker = ow.newWorker({ concurrency: 3, leaseDurationMs: LEASE_MS });
  await worker.start();
  const handles = await Promise.all(
    Array.from({ length: ORDERS }, (_, i) => {
      const orderId = `order-${i + 1}`;
      const order = {
        orderId,
        amountCents: 1000 * (i + 1),
        phone: i % 2 ? null : "+15550100",
      };
      // The same key returns the existing run: a second invocation resumes.
      return fulfill.run(order, { idempotencyKey: orderId });
    }),
  );
  await Promise.all(handles.map(async (handle) => {
    const shipment = await handle.result({ timeoutMs: 60_000 });
    console.log(
      `  ${shipment.orderId}  ● shipped ${shipment.trackingNumber} (notified by ${shipment.notifiedBy})`,
    );
  }));
  await worker.stop();
  await backend.stop();
}

interface Snapshot {
  runs: WorkflowRun[];
  attempts: Map<string, StepAttempt[]>;
}

async function snapshot(backend: Backend): Promise<Snapshot> {
  const ow = new OpenWorkflow({ backend });
  const { runs } = await ow.listRuns({ limit: 100 });
  const attempts = new Map<string, StepAttempt[]>();
  for (const run of runs) {
    attempts.set(run.id, await ow.listStepAttempts(run.id));
  }
  return { runs: runs.reverse(), attempts };
}

function isFinished(run: WorkflowRun): boolean {
  return ["succeeded", "failed", "canceled"].includes(run.status);
}

function countSteps({ attempts }: Snapshot): number {
  return [...attempts.values()].reduce(
    (n, a) => n + succeededSteps(a).size,
    0,
  );
}

function succeededSteps(attempts: StepAttempt[]): Set<string> {
  return new Set(
    attempts.filter((a) => a.status === "succeeded").map((a) => a.stepName),
  );
}

/**
 * Runs a worker process, relaying its output. With `killAfterSteps`, kills
 * it (SIGKILL) once it has reported that many executed steps, and resolves
 * to `true`.
 */
async function spawnWorker(killAfterSteps: number | null): Promise<boolean> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename ?? new URL(import.meta.url).pathname,
      "--work",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  current = child;
  let killed = false;
  let steps = 0;
  const lines = child.stdout
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream());
  for await (const line of lines) {
    if (killed) continue;
    console.log(line);
    if (line.includes(` ${STEP_DONE} `)) steps++;
    if (killAfterSteps !== null && steps >= killAfterSteps) {
      killed = true;
      child.kill("SIGKILL");
    }
  }
  const status = await child.status;
  current = null;
  if (!killed && !status.success) {
    throw new Error(`worker process exited with ${status.code}`);
  }
  return killed;
}

/** The worker process running now, if any. */
let current: Deno.ChildProcess | null = null;

/** Splits a text stream into lines. */
class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) controller.enqueue(part);
      },
      flush(controller) {
        if (rest !== "") controller.enqueue(rest);
      },
    });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      work: { type: "boolean" },
      fresh: { type: "boolean" },
      resume: { type: "boolean" },
    },
  });
  if (values.work) return await work();

  // Ctrl-C reaches the worker process too (one process group). Say how to
  // go on before leaving.
  const onInterrupt = () => {
    try {
      current?.kill("SIGINT");
    } catch {
      // already gone
    }
    console.log(
      "\n  ✗ interrupted. Run `deno task demo` again: it resumes the unfinished orders.",
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    await demo(values);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** Runs the demo: fresh (parts 1 and 2), or resuming unfinished runs. */
async function demo(
  values: { fresh?: boolean; resume?: boolean },
): Promise<void> {
  console.log(`OpenWorkflow demo: ${ORDERS} orders on ${describeBackend()}\n`);
  let before: Snapshot = { runs: [], attempts: new Map() };
  if (!values.fresh) {
    const backend = await connectBackend(NAMESPACE);
    before = await snapshot(backend);
    await backend.stop();
  }
  const unfinished = before.runs.filter((r) => !isFinished(r)).length;
  if (unfinished > 0) {
    console.log(
      `Found ${unfinished} unfinished orders from an interrupted invocation, with ${
        countSteps(before)
      } completed steps: resuming them (\`deno task demo --fresh\` starts over).`,
    );
    console.log(
      `A new worker process picks them up once the old worker's ${
        LEASE_MS / 1000
      } s leases have lapsed.\n`,
    );
  } else {
    if (values.resume) console.log("Nothing to resume: starting afresh.\n");
    await resetBackend(NAMESPACE);
    console.log(
      `Part 1: a worker process starts the orders and is killed (SIGKILL) after ${KILL_AFTER_STEPS} steps.`,
    );
    await spawnWorker(KILL_AFTER_STEPS);
    console.log("  ✗ worker process killed\n");
    const backend = await connectBackend(NAMESPACE);
    before = await snapshot(backend);
    await backend.stop();
    const done = before.runs.filter((r) => r.status === "succeeded").length;
    console.log(
      `  In the database at the kill: ${done} orders finished, ${
        countSteps(before)
      } completed steps.\n`,
    );
    console.log(
      `Part 2: a new worker process resumes the same runs (after the dead worker's ${
        LEASE_MS / 1000
      } s leases lapse).`,
    );
  }
  await spawnWorker(null);

  const backend = await connectBackend(NAMESPACE);
  const after = await snapshot(backend);
  await backend.stop();
  console.log("\nResults:");
  let redone = 0;
  for (const run of after.runs) {
    const attempts = after.attempts.get(run.id) ?? [];
    const earlier = succeededSteps(before.attempts.get(run.id) ?? []);
    const counts = new Map<string, number>();
    for (const a of attempts) {
      if (a.status === "succeeded") {
        counts.set(a.stepName, (counts.get(a.stepName) ?? 0) + 1);
      }
    }
    redone += [...counts.values()].filter((n) => n > 1).length;
    const output = run.output as unknown as Shipment | null;
    console.log(
      `  ${(run.input as unknown as Order).orderId.padEnd(8)} ${
        run.status.padEnd(9)
      } ${
        output?.trackingNumber ?? "-"
      }  ${counts.size} steps: ${earlier.size} kept from before, ${
        counts.size - earlier.size
      } run now`,
    );
  }
  console.log(`\nCompleted steps executed twice: ${redone}`);
  if (redone > 0 || after.runs.some((r) => r.status !== "succeeded")) {
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
