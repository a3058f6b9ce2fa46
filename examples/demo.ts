/**
 * The main demo: durable order fulfillment that survives a killed worker.
 *
 *   deno task demo                  # fresh run: a worker is killed mid-way, a new one resumes
 *   deno task demo --resume         # continue whatever is in the database (after your own Ctrl-C)
 *   DATABASE_URL=postgresql://localhost/app deno task demo   # the same on Postgres
 *
 * Part 1 starts a worker process that begins a batch of orders and kills it
 * with SIGKILL part-way. Part 2 starts a new worker process on the same
 * database: it resumes every unfinished run, and no completed step runs
 * again. Each order has parallel steps, a step that fails and is handled,
 * and a durable sleep.
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
  const fulfill = defineFulfillment(ow, (orderId, step, ms) => {
    console.log(
      `  ${orderId}  ✓ ${step.padEnd(18)} ${ms.toFixed(0).padStart(4)} ms`,
    );
  });
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

function succeededSteps(attempts: StepAttempt[]): Set<string> {
  return new Set(
    attempts.filter((a) => a.status === "succeeded").map((a) => a.stepName),
  );
}

async function spawnWorker(killAfterMs: number | null): Promise<boolean> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename ?? new URL(import.meta.url).pathname,
      "--work",
    ],
    stdout: "inherit",
    stderr: "inherit",
  });
  const child = command.spawn();
  let killed = false;
  const timer = killAfterMs === null ? undefined : setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, killAfterMs);
  const status = await child.status;
  clearTimeout(timer);
  if (!killed && !status.success) {
    throw new Error(`worker process exited with ${status.code}`);
  }
  return killed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { work: { type: "boolean" }, resume: { type: "boolean" } },
  });
  if (values.work) return await work();

  console.log(`OpenWorkflow demo: ${ORDERS} orders on ${describeBackend()}\n`);
  let before: Snapshot = { runs: [], attempts: new Map() };
  if (values.resume) {
    const backend = await connectBackend(NAMESPACE);
    before = await snapshot(backend);
    await backend.stop();
    console.log(`Resuming ${before.runs.length} runs found in the database.\n`);
  } else {
    await resetBackend(NAMESPACE);
    console.log(
      "Part 1: a worker process starts the orders and is killed (SIGKILL) after 1.8 s.",
    );
    await spawnWorker(1_800);
    console.log("  ✗ worker process killed\n");
    const backend = await connectBackend(NAMESPACE);
    before = await snapshot(backend);
    await backend.stop();
    const done = before.runs.filter((r) => r.status === "succeeded").length;
    const steps = [...before.attempts.values()].reduce(
      (n, a) => n + succeededSteps(a).size,
      0,
    );
    console.log(
      `  In the database at the kill: ${done} orders finished, ${steps} completed steps.\n`,
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
