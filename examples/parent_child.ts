/**
 * Child workflows: an order prices itself in a child workflow and waits for
 * its output, durably (the parent holds no worker meanwhile, so a worker
 * with `concurrency: 1` runs both without deadlock), and fires a detached
 * audit child that it does not wait for.
 *
 *   deno run -A examples/parent_child.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/parent_child.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** A line of an order. */
export interface OrderItem {
  /** The article. */
  sku: string;
  /** How many. */
  quantity: number;
  /** The price of one, in USD. */
  unitPrice: number;
}

/** Runs the example on `backend` and returns what happened. */
export async function main(
  backend: Backend,
): Promise<{ receipt: string; children: string[] }> {
  const ow = new OpenWorkflow({ backend });

  const price = ow.defineWorkflow<{ items: OrderItem[] }, number>(
    { name: "price-order" },
    async ({ input, step }) => {
      const subtotal = await step.run(
        { name: "subtotal" },
        () => input.items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0),
      );
      const shipping = await step.run(
        { name: "shipping" },
        () => subtotal >= 100 ? 0 : 9,
      );
      return subtotal + shipping;
    },
  );

  const audit = ow.defineWorkflow<{ orderId: string; total: number }, string>(
    { name: "audit-order" },
    async ({ input, step }) =>
      await step.run(
        { name: "write-audit-log" },
        () => `${input.orderId} priced at USD ${input.total}`,
      ),
  );

  const order = ow.defineWorkflow<
    { orderId: string; items: OrderItem[] },
    string
  >(
    { name: "order" },
    async ({ input, step }) => {
      // Starts the child once (a replay never starts a second), parks this
      // run until the child finishes, and returns the child's output.
      const total = await step.runWorkflow(price, { items: input.items }, {
        name: "price",
        timeout: "1h",
      });
      // A detached child: started once, not waited for, and not canceled
      // with this run.
      await step.startWorkflow(audit, { orderId: input.orderId, total }, {
        name: "audit",
      });
      return await step.run(
        { name: "charge" },
        () => `${input.orderId}: charged USD ${total}`,
      );
    },
  );

  // One slot: the parent parks while its child runs in that slot.
  const worker = ow.newWorker({ concurrency: 1 });
  await worker.start();
  try {
    const handle = await order.run({
      orderId: "ORD-7",
      items: [
        { sku: "mug", quantity: 2, unitPrice: 12 },
        { sku: "teapot", quantity: 1, unitPrice: 35 },
      ],
    });
    const receipt = await handle.result({ timeoutMs: 30_000 });

    // The runs this order started (its children), newest first.
    const { runs } = await ow.listRuns({ parentWorkflowRunId: handle.id });
    // The detached audit may still be running: wait for it too.
    for (const run of runs) {
      await (await ow.getRun(run.id))?.result({ timeoutMs: 30_000 });
    }
    const children = (await ow.listRuns({ parentWorkflowRunId: handle.id }))
      .runs.map((run) => `${run.workflowName}: ${run.status}`).sort();
    return { receipt, children };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
    // {
    //   receipt: "ORD-7: charged USD 68",
    //   children: [ "audit-order: succeeded", "price-order: succeeded" ]
    // }
  } finally {
    await backend.stop();
  }
}
