/**
 * Starting runs inside the application's own SQLite transaction: a
 * `DatabaseSync` of the backend's file inside BEGIN commits or rolls back
 * the run with the application's rows; another file, or no transaction, is
 * refused before anything is written.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { OpenWorkflow } from "../../mod.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";

Deno.test("a run started in the application's SQLite transaction exists only if it commits", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/app.db`;
  await using backend = await BackendSqlite.connect(file);
  const db = new DatabaseSync(file);
  try {
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)");
    const ow = new OpenWorkflow({ backend });
    const fulfil = ow.defineWorkflow<{ orderId: number }, string>(
      { name: "fulfil" },
      async ({ input, step }) =>
        await step.run({ name: "ship" }, () => `shipped ${input.orderId}`),
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      db.exec("BEGIN");
      const { lastInsertRowid } = db.prepare(
        "INSERT INTO orders (item) VALUES (?)",
      ).run("book");
      const handle = await fulfil.run({ orderId: Number(lastInsertRowid) }, {
        transaction: db,
      });
      db.exec("COMMIT");
      assert.equal(await handle.result({ timeoutMs: 10_000 }), "shipped 1");

      db.exec("BEGIN");
      db.prepare("INSERT INTO orders (item) VALUES (?)").run("pen");
      const doomed = await fulfil.run({ orderId: 2 }, { transaction: db });
      db.exec("ROLLBACK");
      assert.equal(await ow.getRun(doomed.id), null);
      assert.equal(
        (db.prepare("SELECT count(*) AS n FROM orders").get() as { n: number })
          .n,
        1,
      );

      // Not inside a transaction: refused (where node:sqlite tells).
      if ("isTransaction" in db) {
        await assert.rejects(
          fulfil.run({ orderId: 3 }, { transaction: db }),
          /not inside a transaction/,
        );
      }
      // Another file: refused, nothing written.
      const other = new DatabaseSync(`${dir}/other.db`);
      try {
        other.exec("BEGIN");
        await assert.rejects(
          fulfil.run({ orderId: 4 }, { transaction: other }),
          (error: unknown) =>
            error instanceof TypeError &&
            error.message.includes("other.db") &&
            /never be seen/.test(error.message),
        );
        other.exec("ROLLBACK");
      } finally {
        other.close();
      }
      await assert.rejects(
        fulfil.run({ orderId: 5 }, { transaction: "db" }),
        /must be a DatabaseSync/,
      );
      assert.equal((await ow.listRuns()).runs.length, 1);
    } finally {
      await worker.stop();
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
