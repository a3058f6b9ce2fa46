/**
 * The Postgres flow-control gates: triggers keep each concurrency key's
 * count of running runs and each rate key's latest starts, whatever
 * statement changes a run; claims racing from many connections never take
 * more than a key's limit; and a version 6 database with runs holding
 * slots is upgraded with its gates counted.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { BackendPostgres } from "../../backend_postgres.ts";
import type { CreateWorkflowRunParams } from "../../backend.ts";
import { MIGRATIONS } from "../../src/postgres/schema.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";

const ignore = postgresTarget.unavailable !== null;

/** A fresh schema name. */
function freshSchema(): string {
  return `ow_gates_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** A run of `name` with a concurrency key (and optionally a rate key). */
function keyedRun(
  name: string,
  key: string,
  limit: number,
  extra: Partial<CreateWorkflowRunParams> = {},
): CreateWorkflowRunParams {
  return {
    workflowName: name,
    version: null,
    config: {},
    context: null,
    input: null,
    availableAt: null,
    deadlineAt: null,
    idempotencyKey: null,
    concurrencyKey: key,
    concurrencyLimit: limit,
    ...extra,
  };
}

/** Each gate's count next to the number of runs really running. */
async function gateCounts(
  sql: postgres.Sql,
  schema: string,
  namespaceId: string,
): Promise<{ key: string; used: number; running: number }[]> {
  return (await sql.unsafe(
    `SELECT g.key, g.used, (SELECT count(*)::int FROM ${schema}.workflow_runs r
        WHERE r.namespace_id = g.namespace_id
          AND r.workflow_name = g.workflow_name
          AND r.concurrency_key = g.key AND r.status = 'running') AS running
      FROM ${schema}.flow_gates g
      WHERE g.namespace_id = $1 AND g.kind = 'c' ORDER BY g.key`,
    [namespaceId],
  )).map((row) => ({
    key: row.key as string,
    used: Number(row.used),
    running: Number(row.running),
  }));
}

Deno.test({
  name:
    "flow gates count running runs through every change: claim, release, success, failure, cancel, delete",
  ignore,
  async fn() {
    const schema = freshSchema();
    const namespaceId = randomNamespace();
    const backend = await BackendPostgres.connect(DATABASE_URL, {
      schema,
      namespaceId,
    });
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const runs = [];
      for (let i = 0; i < 6; i++) {
        runs.push(await backend.createWorkflowRun(keyedRun("g", "k", 5)));
      }
      const claim = { workerId: "w", leaseDurationMs: 60_000, limit: 10 };
      const claimed = await backend.claimWorkflowRuns(claim);
      assert.equal(claimed.length, 5, "no more than the limit");
      assert.deepEqual(await gateCounts(sql, schema, namespaceId), [
        { key: "k", used: 5, running: 5 },
      ]);
      const [a, b, c, d] = claimed;
      await backend.markWorkflowRunSucceeded({
        workflowRunId: a.id,
        workerId: "w",
        output: null,
      });
      await backend.markWorkflowRunFailed({
        workflowRunId: b.id,
        workerId: "w",
        error: { message: "x" },
      });
      await backend.releaseWorkflowRun({
        workflowRunId: c.id,
        workerId: "w",
        status: "sleeping",
        availableAt: new Date(Date.now() + 60_000),
      });
      await backend.cancelWorkflowRun({
        workflowRunId: d.id,
        error: { message: "canceled" },
      });
      assert.deepEqual(await gateCounts(sql, schema, namespaceId), [
        { key: "k", used: 1, running: 1 },
      ]);
      // The sixth run fits now; deleting a running run frees its slot.
      const [sixth] = await backend.claimWorkflowRuns(claim);
      assert.ok(sixth !== undefined);
      await sql.unsafe(
        `DELETE FROM ${schema}.workflow_runs WHERE namespace_id = $1 AND id = $2`,
        [namespaceId, sixth.id],
      );
      assert.deepEqual(await gateCounts(sql, schema, namespaceId), [
        { key: "k", used: 1, running: 1 },
      ]);
      assert.equal(runs.length, 6);
    } finally {
      await backend.stop();
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "claims racing from eight connections never run more of a key than its limit",
  ignore,
  async fn() {
    const schema = freshSchema();
    const namespaceId = randomNamespace();
    const backends = [];
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      for (let i = 0; i < 8; i++) {
        backends.push(
          await BackendPostgres.connect(DATABASE_URL, {
            schema,
            namespaceId,
            listen: false,
          }),
        );
      }
      const keys = ["a", "b", "c", "d"];
      const limitOf = (key: string) => key === "a" ? 1 : 2;
      const total = 160;
      for (let i = 0; i < total; i++) {
        const key = keys[i % keys.length];
        // Two versions, each claimed by half the connections: claims of
        // one key that see different runs of it. Half the runs carry a
        // rate key too (generous: it never binds), so that runs with two
        // gates race as well.
        await backends[0].createWorkflowRun(keyedRun(
          "race",
          key,
          limitOf(key),
          {
            version: String(Math.floor(i / 4) % 2),
            ...(i % 2 === 0
              ? { rateLimitKey: "api", rateLimit: 10_000, rateLimitPeriodMs: 1 }
              : {}),
          },
        ));
      }
      const running = new Map<string, number>();
      let peakExceeded = "";
      let done = 0;
      const workers = backends.map(async (backend, w) => {
        const workerId = `w${w}`;
        while (done < total) {
          const claimed = await backend.claimWorkflowRuns({
            workerId,
            leaseDurationMs: 60_000,
            limit: 3,
            workflows: [{ name: "race", version: String(w % 2) }],
          });
          if (claimed.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            continue;
          }
          for (const run of claimed) {
            const key = run.concurrencyKey!;
            const now = (running.get(key) ?? 0) + 1;
            running.set(key, now);
            if (now > limitOf(key)) {
              peakExceeded ||= `${now} runs of key ${key} ran at once`;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 1));
          for (const run of claimed) {
            running.set(
              run.concurrencyKey!,
              running.get(run.concurrencyKey!)! - 1,
            );
            await backend.markWorkflowRunSucceeded({
              workflowRunId: run.id,
              workerId,
              output: null,
            });
            done++;
          }
        }
      });
      await Promise.all(workers);
      assert.equal(peakExceeded, "");
      assert.equal(done, total);
      assert.deepEqual(
        (await gateCounts(sql, schema, namespaceId)).map((g) => g.used),
        [0, 0, 0, 0],
      );
    } finally {
      for (const backend of backends) await backend.stop();
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "a version 6 schema is upgraded with its gates counted: a run holding a slot keeps it, recent starts keep counting",
  ignore,
  async fn() {
    const schema = freshSchema();
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(`CREATE SCHEMA ${schema}`);
      await sql.unsafe(`CREATE TABLE ${schema}.schema_migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      for (let version = 1; version <= 6; version++) {
        for (const statement of MIGRATIONS[version - 1](schema)) {
          await sql.unsafe(statement);
        }
        await sql.unsafe(
          `INSERT INTO ${schema}.schema_migrations (version) VALUES (${version})`,
        );
      }
      const insert = (
        status: string,
        columns: Record<string, string | number | null>,
        startedAgo: string | null,
        leaseIn = "1 hour",
      ) =>
        sql.unsafe(
          `INSERT INTO ${schema}.workflow_runs (namespace_id, id, workflow_name,
            status, config, available_at, started_at, concurrency_key,
            concurrency_limit, rate_key, rate_limit, rate_period_ms)
          VALUES ('default', $1, 'old', $2, '{}', now() + $3::interval,
            now() - $4::interval, $5, $6, $7, $8, $9)`,
          [
            crypto.randomUUID(),
            status,
            status === "running" ? leaseIn : "0 seconds",
            startedAgo,
            columns.concurrency_key ?? null,
            columns.concurrency_limit ?? null,
            columns.rate_key ?? null,
            columns.rate_limit ?? null,
            columns.rate_period_ms ?? null,
          ],
        );
      const held = { concurrency_key: "held", concurrency_limit: 1 };
      const rate = {
        rate_key: "api",
        rate_limit: 1,
        rate_period_ms: 3_600_000,
      };
      await insert("running", held, "1 minute");
      await insert("pending", held, null);
      await insert("succeeded", rate, "1 minute");
      await insert("pending", rate, null);
      await insert(
        "pending",
        { concurrency_key: "free", concurrency_limit: 1 },
        null,
      );

      const backend = await BackendPostgres.connect(DATABASE_URL, { schema });
      try {
        const claimed = await backend.claimWorkflowRuns({
          workerId: "w",
          leaseDurationMs: 60_000,
          limit: 10,
        });
        // The key whose one slot a running run holds, and the rate key
        // started an hour's worth already, give nothing; the free key does.
        assert.deepEqual(claimed.map((run) => run.concurrencyKey), ["free"]);
        assert.deepEqual(await gateCounts(sql, schema, "default"), [
          { key: "free", used: 1, running: 1 },
          { key: "held", used: 1, running: 1 },
        ]);
      } finally {
        await backend.stop();
      }
    } finally {
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    }
  },
});
