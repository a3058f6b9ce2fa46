/**
 * Starting runs inside the application's own Postgres transaction, with the
 * application's own drivers (npm postgres.js and npm node-postgres, not the
 * copy the backend carries): a committed transaction's run exists and wakes
 * a worker at the commit, a rolled-back one leaves nothing, concurrent ones
 * keep to their own outcome, and a transaction on another database is
 * refused before anything is written.
 */

import assert from "node:assert/strict";
// The application's own copies of the drivers (npm), not the backend's.
import appPostgres from "npm-postgres";
import pg from "pg";
import { NotJsonError, OpenWorkflow } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";

const ignore = postgresTarget.unavailable !== null;

/** A backend, a worker that polls only every 30 s, and an orders table. */
async function setUp() {
  const namespaceId = randomNamespace();
  const backend = await BackendPostgres.connect(DATABASE_URL, {
    namespaceId,
  });
  const ow = new OpenWorkflow({ backend });
  const fulfil = ow.defineWorkflow<{ orderId: number }, string>(
    { name: "fulfil" },
    async ({ input, step }) =>
      await step.run({ name: "ship" }, () => `shipped ${input.orderId}`),
  );
  // Woken by the commit's notification, not by polling.
  const worker = ow.newWorker({
    pollIntervalMs: 30_000,
    fallbackPollIntervalMs: 30_000,
  });
  await worker.start();
  const table = `orders_${namespaceId.replaceAll("-", "_")}`;
  const sql = appPostgres(DATABASE_URL, { max: 4, onnotice: () => {} });
  await sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, item text)`);
  return {
    ow,
    fulfil,
    sql,
    table,
    async tearDown() {
      await worker.stop();
      await backend.stop();
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    },
  };
}

Deno.test({
  name:
    "postgres.js: a run started in sql.begin() exists only if it commits, and wakes a worker at the commit",
  ignore,
  async fn() {
    const { ow, fulfil, sql, table, tearDown } = await setUp();
    try {
      const handle = await sql.begin(async (tx) => {
        const [order] = await tx.unsafe(
          `INSERT INTO ${table} (item) VALUES ('book') RETURNING id`,
        );
        const handle = await fulfil.run({ orderId: order.id }, {
          transaction: tx,
        });
        // Not visible outside the transaction before the commit.
        assert.equal(await ow.getRun(handle.id), null);
        return handle;
      });
      const started = performance.now();
      assert.match(await handle.result({ timeoutMs: 10_000 }), /^shipped \d+$/);
      assert.ok(
        performance.now() - started < 5_000,
        "woken by the commit, not by a 30 s poll",
      );

      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`INSERT INTO ${table} (item) VALUES ('pen')`);
          await fulfil.run({ orderId: 2 }, { transaction: tx });
          throw new Error("payment declined");
        }),
        /payment declined/,
      );
      assert.equal((await ow.listRuns()).runs.length, 1, "rolled back");
      assert.equal(
        (await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`))[0].n,
        1,
      );

      // The same idempotency key in one transaction: one run.
      const [a, b] = await sql.begin(async (tx) => [
        await fulfil.run({ orderId: 3 }, {
          transaction: tx,
          idempotencyKey: "order-3",
        }),
        await fulfil.run({ orderId: 3 }, {
          transaction: tx,
          idempotencyKey: "order-3",
        }),
      ]);
      assert.equal(a.id, b.id);

      // The same rules as run(): nothing reaches the transaction.
      await sql.begin(async (tx) => {
        await assert.rejects(
          fulfil.run({ orderId: 1n } as never, { transaction: tx }),
          NotJsonError,
        );
        await assert.rejects(
          fulfil.run({ orderId: 4 }, { transaction: { nope: true } }),
          (error: unknown) =>
            error instanceof TypeError &&
            /postgres\.js transaction/.test(error.message),
        );
      });
    } finally {
      await tearDown();
    }
  },
});

Deno.test({
  name:
    "node-postgres: a client inside BEGIN commits or rolls back the run with its own rows",
  ignore,
  async fn() {
    const { ow, fulfil, table, tearDown } = await setUp();
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    try {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const { rows } = await client.query(
          `INSERT INTO ${table} (item) VALUES ($1) RETURNING id`,
          ["lamp"],
        );
        const handle = await fulfil.run({ orderId: rows[0].id }, {
          transaction: client,
        });
        await client.query("COMMIT");
        assert.equal(
          await handle.result({ timeoutMs: 10_000 }),
          `shipped ${rows[0].id}`,
        );

        await client.query("BEGIN");
        const doomed = await fulfil.run({ orderId: 99 }, {
          transaction: client,
        });
        await client.query("ROLLBACK");
        assert.equal(await ow.getRun(doomed.id), null);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
      await tearDown();
    }
  },
});

Deno.test({
  name:
    "concurrent transactions: each run exists exactly when its transaction committed",
  ignore,
  async fn() {
    const { ow, fulfil, sql, tearDown } = await setUp();
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) =>
          sql.begin(async (tx) => {
            const handle = await fulfil.run({ orderId: i }, {
              transaction: tx,
            });
            await new Promise((resolve) => setTimeout(resolve, 5 * (i % 4)));
            if (i % 2 === 1) throw new Error(`abort ${i}`);
            return handle;
          })),
      );
      const committed = outcomes.flatMap((o) =>
        o.status === "fulfilled" ? [o.value] : []
      );
      assert.equal(committed.length, 8);
      for (const handle of committed) {
        assert.match(await handle.result({ timeoutMs: 10_000 }), /^shipped/);
      }
      const inputs = (await ow.listRuns()).runs.map((run) =>
        (run.input as { orderId: number }).orderId
      ).sort((x, y) => x - y);
      assert.deepEqual(inputs, [0, 2, 4, 6, 8, 10, 12, 14]);
    } finally {
      await tearDown();
    }
  },
});

Deno.test({
  name:
    "a transaction on another database is refused with a TypeError naming both, and writes nothing",
  ignore,
  async fn() {
    const { ow, fulfil, tearDown } = await setUp();
    const name = `ow_other_${crypto.randomUUID().replaceAll("-", "")}`;
    const admin = appPostgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(DATABASE_URL);
    url.pathname = `/${name}`;
    const other = appPostgres(url.href, { max: 1, onnotice: () => {} });
    try {
      await assert.rejects(
        other.begin((tx) => fulfil.run({ orderId: 1 }, { transaction: tx })),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.includes(`database '${name}'`) &&
          /never be seen/.test(error.message),
      );
      assert.equal((await ow.listRuns()).runs.length, 0);
    } finally {
      await other.end();
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
      await tearDown();
    }
  },
});
