/**
 * What a claim costs with flow control: the claim latency (p50/p95 of
 * `claimWorkflowRuns`, limit 10) with an empty namespace, with 100,000
 * runs pending behind one busy concurrency key, with 1,000 distinct busy
 * keys, with 1,000 keys with room, and with 100,000 pending runs without
 * keys; on Postgres and SQLite.
 *
 *   deno run -A bench/flow_claim.ts [--backlog 100000] [--keys 1000]
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import type { Backend } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { withSeededSqlite } from "./sqlite_seeded.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backlog: { type: "string", default: "100000" },
    keys: { type: "string", default: "1000" },
    claims: { type: "string", default: "50" },
    "database-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ??
        "postgresql://postgres@127.0.0.1:5432/test",
    },
  },
});
const BACKLOG = Number(values.backlog);
const KEYS = Number(values.keys);
const CLAIMS = Number(values.claims);
const WORKFLOW = "flow-bench";

/** A run as a row: key, status, how many. */
interface Fill {
  key: string | null;
  status: "pending" | "running";
  count: number;
}

type Scenario = { name: string; fills: (i: number) => Fill[]; count: number };

const SCENARIOS: Scenario[] = [
  { name: "empty", fills: () => [], count: 0 },
  {
    name: `${BACKLOG} pending behind one busy key`,
    fills: () => [{ key: "hot", status: "running", count: 1 }, {
      key: "hot",
      status: "pending",
      count: BACKLOG,
    }],
    count: 1,
  },
  {
    name: `${KEYS} busy keys (1 running + 1 pending each)`,
    fills: (i) => [{ key: `k${i}`, status: "running", count: 1 }, {
      key: `k${i}`,
      status: "pending",
      count: 1,
    }],
    count: KEYS,
  },
  {
    name: `${KEYS} keys with room (5 pending each)`,
    fills: (i) => [{ key: `k${i}`, status: "pending", count: 5 }],
    count: KEYS,
  },
  {
    name: `${BACKLOG} pending without keys`,
    fills: () => [{ key: null, status: "pending", count: BACKLOG }],
    count: 1,
  },
];

async function measure(backend: Backend): Promise<string> {
  const times: number[] = [];
  let claimed = 0;
  for (let i = 0; i < CLAIMS; i++) {
    const t0 = performance.now();
    const runs = await backend.claimWorkflowRuns({
      workerId: "bench",
      leaseDurationMs: 3_600_000,
      workflows: [{ name: WORKFLOW, version: null }],
      limit: 10,
    });
    times.push(performance.now() - t0);
    claimed += runs.length;
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.floor(q * (times.length - 1))];
  return `${at(0.5).toFixed(2)} | ${at(0.95).toFixed(2)} | ${claimed}`;
}

async function postgresRow(scenario: Scenario): Promise<string> {
  const url = values["database-url"]!;
  const namespaceId = `flow-bench-${crypto.randomUUID()}`;
  const backend = await BackendPostgres.connect(url, { namespaceId });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; i < scenario.count; i++) {
      for (const fill of scenario.fills(i)) {
        await sql`
          INSERT INTO openworkflow.workflow_runs (namespace_id, id,
            workflow_name, status, worker_id, config, available_at,
            concurrency_key, concurrency_limit, started_at)
          SELECT ${namespaceId}, gen_random_uuid(), ${WORKFLOW}, ${fill.status},
            ${fill.status === "running" ? "holder" : null}, '{}',
            CASE WHEN ${fill.status} = 'running'
              THEN now() + interval '1 hour' ELSE now() END,
            ${fill.key}, ${fill.key === null ? null : 1},
            CASE WHEN ${fill.status} = 'running' THEN now() END
          FROM generate_series(1, ${fill.count})`;
      }
    }
    await sql`ANALYZE openworkflow.workflow_runs`;
    return await measure(backend);
  } finally {
    await sql`DELETE FROM openworkflow.workflow_runs WHERE namespace_id = ${namespaceId}`;
    await sql.end();
    await backend.stop();
  }
}

function sqliteRow(scenario: Scenario): Promise<string> {
  return withSeededSqlite((db) => {
    const insert = db.prepare(`INSERT INTO openworkflow_workflow_runs (
        namespace_id, id, workflow_name, status, worker_id, config,
        available_at, created_at, updated_at, concurrency_key,
        concurrency_limit, started_at)
      VALUES ('default', ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?)`);
    const now = Date.now();
    for (let i = 0; i < scenario.count; i++) {
      for (const fill of scenario.fills(i)) {
        for (let n = 0; n < fill.count; n++) {
          const running = fill.status === "running";
          insert.run(
            crypto.randomUUID(),
            WORKFLOW,
            fill.status,
            running ? "holder" : null,
            running ? now + 3_600_000 : now,
            now,
            now,
            fill.key,
            fill.key === null ? null : 1,
            running ? now : null,
          );
        }
      }
    }
  }, measure);
}

console.log(
  `\`deno run -A bench/flow_claim.ts --backlog ${BACKLOG} --keys ${KEYS}\`\n`,
);
console.log(
  "| scenario | Postgres p50 ms | p95 ms | runs claimed | SQLite p50 ms | p95 ms | runs claimed |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const scenario of SCENARIOS) {
  const pg = await postgresRow(scenario);
  const lite = await sqliteRow(scenario);
  console.log(`| ${scenario.name} | ${pg} | ${lite} |`);
}
