/**
 * What a retention sweep costs the runs that go on beside it: step latency
 * (p50/p95/p99/max of `step.run()` of a no-op step, one workflow after
 * another) on an idle database, then while `ow.deleteRuns()` deletes
 * `--runs` finished runs (default 1,000,000, with one step attempt each) in
 * its batches; with the sweep's duration and rate. Postgres (its own schema,
 * dropped after) and SQLite (a temporary file).
 *
 *   deno run -A bench/retention_sweep.ts [--runs 1000000] [--backend postgres|sqlite|both]
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import { type Backend, OpenWorkflow } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { withSeededSqlite } from "./sqlite_seeded.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "1000000" },
    backend: { type: "string", default: "both" },
    "database-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ??
        "postgresql://postgres@127.0.0.1:5432/test",
    },
  },
});
const RUNS = Number(values.runs);
const URL = values["database-url"]!;

/** Latency percentiles of a list of milliseconds. */
function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
      .toFixed(2);
  return `${at(0.5)} | ${at(0.95)} | ${at(0.99)} | ${
    sorted.at(-1)!.toFixed(1)
  } | ${sorted.length}`;
}

/**
 * Runs one-step-at-a-time workflows until `until` resolves (or for
 * `count` steps), timing each step.
 */
async function stepLatencies(
  ow: OpenWorkflow,
  name: string,
  done: () => boolean,
): Promise<number[]> {
  const times: number[] = [];
  const wf = ow.defineWorkflow({ name }, async ({ step }) => {
    for (let i = 0; i < 200 && !done(); i++) {
      const t0 = performance.now();
      await step.run({ name: `s${i}` }, () => i);
      times.push(performance.now() - t0);
    }
  });
  const worker = ow.newWorker({ concurrency: 1 });
  await worker.start();
  try {
    while (!done()) await (await wf.run()).result({ timeoutMs: 60_000 });
  } finally {
    await worker.stop();
  }
  return times;
}

/** Measures idle, then during the sweep. */
async function measure(backend: Backend): Promise<string[]> {
  const ow = new OpenWorkflow({ backend });
  let idleSteps = 0;
  const idle = await stepLatencies(ow, "idle", () => idleSteps++ >= 2_000);
  let swept = false;
  const t0 = performance.now();
  const sweep = ow.deleteRuns({
    finishedBefore: new Date(Date.now() - 86_400_000),
    status: "succeeded",
    workflowName: "old",
  }).finally(() => swept = true);
  const during = await stepLatencies(ow, "during", () => swept);
  const deleted = await sweep;
  const seconds = (performance.now() - t0) / 1_000;
  return [
    `| idle | ${summary(idle)} |`,
    `| during the sweep | ${summary(during)} |`,
    `sweep: ${deleted} runs deleted in ${seconds.toFixed(1)} s (${
      Math.round(deleted / seconds)
    } runs/s)`,
  ];
}

async function postgresBench(): Promise<string[]> {
  const schema = `ow_sweep_${crypto.randomUUID().slice(0, 8)}`;
  const backend = await BackendPostgres.connect(URL, { schema });
  const sql = postgres(URL, { max: 1, onnotice: () => {} });
  try {
    const t0 = performance.now();
    for (let done = 0; done < RUNS; done += 100_000) {
      const n = Math.min(100_000, RUNS - done);
      await sql.unsafe(`
        WITH runs AS (
          INSERT INTO ${schema}.workflow_runs (namespace_id, id, workflow_name,
            status, config, output, available_at, started_at, completed_at,
            created_at, updated_at, attempts)
          SELECT 'default', gen_random_uuid(), 'old', 'succeeded', '{}', '1',
            t, t, t, t, t, 1
          FROM (SELECT now() - interval '30 days' + i * interval '1 ms' AS t
            FROM generate_series(1, ${n}) AS i) AS times
          RETURNING id, completed_at
        )
        INSERT INTO ${schema}.step_attempts (namespace_id, id,
          workflow_run_id, step_name, kind, status, config, output,
          created_at, completed_at)
        SELECT 'default', gen_random_uuid(), id, 'only', 'run', 'succeeded',
          '{}', '1', completed_at, completed_at FROM runs`);
    }
    await sql.unsafe(`VACUUM ANALYZE ${schema}.workflow_runs`);
    await sql.unsafe(`VACUUM ANALYZE ${schema}.step_attempts`);
    console.error(
      `postgres: ${RUNS} finished runs in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s`,
    );
    return await measure(backend);
  } finally {
    await backend.stop();
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  }
}

function sqliteBench(): Promise<string[]> {
  return withSeededSqlite((db) => {
    const run = db.prepare(`INSERT INTO openworkflow_workflow_runs (
        namespace_id, id, workflow_name, status, config, output, available_at,
        started_at, completed_at, created_at, updated_at, attempts)
      VALUES ('default', ?, 'old', 'succeeded', '{}', '1', ?, ?, ?, ?, ?, 1)`);
    const step = db.prepare(`INSERT INTO openworkflow_step_attempts (
        namespace_id, id, workflow_run_id, step_name, kind, status, config,
        output, created_at, completed_at)
      VALUES ('default', ?, ?, 'only', 'run', 'succeeded', '{}', '1', ?, ?)`);
    const start = Date.now() - 30 * 86_400_000;
    for (let i = 0; i < RUNS; i++) {
      const id = crypto.randomUUID();
      const t = start + i;
      run.run(id, t, t, t, t, t);
      step.run(crypto.randomUUID(), id, t, t);
    }
  }, measure);
}

console.log(
  `\`deno run -A bench/retention_sweep.ts --runs ${RUNS}\`: step latency in ms\n`,
);
for (const name of ["postgres", "sqlite"]) {
  if (values.backend !== "both" && values.backend !== name) continue;
  console.log(`${name}\n`);
  console.log("| phase | p50 | p95 | p99 | max | steps |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const lines = name === "postgres"
    ? await postgresBench()
    : await sqliteBench();
  console.log(lines.join("\n") + "\n");
}
