/**
 * Start a run inside your own database transaction: the order row and the
 * run that fulfils it commit together, or neither does. Here on SQLite (a
 * `DatabaseSync` of the backend's file); on Postgres, pass the `tx` of your
 * postgres.js `sql.begin()` or a node-postgres client inside `BEGIN`.
 *
 *   deno run -A examples/transactional.ts
 */

import { DatabaseSync } from "node:sqlite";
import { OpenWorkflow } from "../mod.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

/** What the example observed. */
export interface TransactionalOutcome {
  /** The committed order's run, and its result. */
  committed: string;
  /** Whether the rolled-back order left a run behind. */
  rolledBackRunExists: boolean;
  /** The orders table after both. */
  orders: string[];
}

/** Runs the example on a SQLite file at `path`. */
export async function main(path: string): Promise<TransactionalOutcome> {
  await using backend = await BackendSqlite.connect(path);
  const db = new DatabaseSync(path); // the application's own connection
  try {
    db.exec(
      "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)",
    );
    const ow = new OpenWorkflow({ backend });
    const fulfil = ow.defineWorkflow<{ orderId: number }, string>(
      { name: "fulfil-order" },
      async ({ input, step }) =>
        await step.run(
          { name: "ship" },
          () => `order ${input.orderId} shipped`,
        ),
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      // Committed: the order and its run.
      db.exec("BEGIN");
      const order = db.prepare("INSERT INTO orders (item) VALUES (?)").run(
        "book",
      );
      const handle = await fulfil.run(
        { orderId: Number(order.lastInsertRowid) },
        { transaction: db },
      );
      db.exec("COMMIT");
      const committed = await handle.result();

      // Rolled back: neither the order nor its run.
      db.exec("BEGIN");
      const lost = db.prepare("INSERT INTO orders (item) VALUES (?)").run(
        "pen",
      );
      const doomed = await fulfil.run(
        { orderId: Number(lost.lastInsertRowid) },
        { transaction: db },
      );
      db.exec("ROLLBACK");
      const rolledBackRunExists = (await ow.getRun(doomed.id)) !== null;

      const orders =
        (db.prepare("SELECT item FROM orders ORDER BY id").all() as {
          item: string;
        }[]).map((row) => row.item);
      return { committed, rolledBackRunExists, orders };
    } finally {
      await worker.stop();
    }
  } finally {
    db.close();
  }
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir();
  try {
    console.log(await main(`${dir}/shop.db`));
    // { committed: "order 1 shipped", rolledBackRunExists: false, orders: [ "book" ] }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
