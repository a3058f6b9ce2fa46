import assert from "node:assert/strict";
import postgres from "postgres";
import { BackendError, SchemaVersionError } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { SCHEMA_VERSION } from "../../src/postgres/schema.ts";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";

const ignore = postgresTarget.unavailable !== null;

async function withSchema(
  fn: (schema: string, sql: postgres.Sql) => Promise<void>,
) {
  const schema = `ow_test_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 12)
  }`;
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await fn(schema, sql);
  } finally {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
  }
}

Deno.test({
  name:
    "BackendPostgres.connect() migrates once when many processes connect at once",
  ignore,
  async fn() {
    await withSchema(async (schema, sql) => {
      const backends = await Promise.all(
        Array.from(
          { length: 8 },
          () =>
            BackendPostgres.connect(DATABASE_URL, {
              schema,
              maxConnections: 1,
            }),
        ),
      );
      await Promise.all(backends.map((b) => b.stop()));
      const rows = await sql.unsafe(
        `SELECT version FROM ${schema}.schema_migrations`,
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
    });
  },
});

Deno.test({
  name:
    "BackendPostgres.connect() refuses a schema newer than the library and changes nothing",
  ignore,
  async fn() {
    await withSchema(async (schema, sql) => {
      const backend = await BackendPostgres.connect(DATABASE_URL, { schema });
      await backend.stop();
      await sql.unsafe(
        `INSERT INTO ${schema}.schema_migrations (version) VALUES (99)`,
      );
      const error = await BackendPostgres.connect(DATABASE_URL, { schema })
        .then(
          () => null,
          (e) => e,
        );
      assert.ok(error instanceof SchemaVersionError);
      assert.equal(error.foundVersion, 99);
      assert.equal(error.supportedVersion, SCHEMA_VERSION);
      assert.match(
        error.message,
        new RegExp(`schema ${schema} has version 99`),
      );
      const rows = await sql.unsafe(
        `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        [...Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 99],
      );
    });
  },
});

Deno.test("BackendPostgres.connect() fails with a BackendError when the database is unreachable", async () => {
  const error = await BackendPostgres.connect(
    "postgresql://postgres@127.0.0.1:1/none",
  ).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof BackendError);
  assert.match(error.message, /^Backend failed to connect to Postgres: /);
  assert.ok(error.cause instanceof Error);
});
