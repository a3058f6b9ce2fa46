/**
 * The comparison benchmark: @openworkflow/core (Postgres and SQLite) against
 * npm `openworkflow@0.10.1` and npm `@dbos-inc/dbos-sdk@5.3.0`, in the same
 * invocation, alternating the systems over several rounds, each on a fresh
 * database.
 *
 *   deno task bench              # 3 rounds of throughput, backlog, latency
 *   deno task bench --rounds 5 --workloads throughput
 *   deno task bench --rounds 5 --workloads throughput,backlog --floor
 *
 * Workloads (bench/core.ts): throughput (runs started while the worker
 * runs), backlog (runs started first, then the worker; DBOS has no such
 * workload in its script and is left out of it), latency (the core rows
 * with the worker in a process of its own).
 *
 * Prints a table with medians, ranges and the ratios to each peer, and a
 * JSON summary line. Each peer is installed by its baseline script
 * (bench/openworkflow/baseline.mjs, bench/dbos/baseline.mjs) into its own
 * scratch folder outside the repo; `--no-baseline` and `--no-dbos` leave
 * them out. `--floor` adds core-floor to the throughput and backlog
 * workloads: the engine's backend calls alone (`core.ts floor-throughput`
 * and `core.ts floor`, see bench/throughput_floor.ts), so that the floor's
 * rate is compared with the peers' in the same hour.
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import { output } from "./command.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    workloads: { type: "string", default: "throughput,backlog,latency" },
    "admin-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ??
        "postgresql://postgres@127.0.0.1:5432/test",
    },
    scratch: { type: "string" },
    "dbos-scratch": { type: "string" },
    "no-baseline": { type: "boolean", default: false },
    "no-dbos": { type: "boolean", default: false },
    "no-sqlite": { type: "boolean", default: false },
    floor: { type: "boolean", default: false },
  },
});

const here = new URL(".", import.meta.url).pathname;
const rounds = Number(values.rounds);
const workloads = values.workloads.split(",");
const adminUrl = values["admin-url"];
const scratch = values.scratch ??
  `${Deno.env.get("TMPDIR") ?? "/tmp"}/openworkflow-bench-baseline`;
const dbosScratch = values["dbos-scratch"] ??
  `${Deno.env.get("TMPDIR") ?? "/tmp"}/openworkflow-bench-dbos`;

type Result = Record<string, number | string>;
type System =
  | "core-postgres"
  | "core-sqlite"
  | "core-floor"
  | "openworkflow@0.10.1"
  | "dbos-sdk@5.3.0";

/** The peers, each with the column that compares the core rows to it. */
const peers: { system: System; column: string }[] = [
  { system: "openworkflow@0.10.1", column: "vs openworkflow" },
  { system: "dbos-sdk@5.3.0", column: "vs dbos" },
];

const systems: System[] = [
  "core-postgres",
  ...(values["no-sqlite"] ? [] : ["core-sqlite" as const]),
  ...(values.floor ? ["core-floor" as const] : []),
  ...(values["no-baseline"] ? [] : ["openworkflow@0.10.1" as const]),
  ...(values["no-dbos"] ? [] : ["dbos-sdk@5.3.0" as const]),
];
const comparedPeers = peers.filter((peer) => systems.includes(peer.system));

async function run(command: string, args: string[]): Promise<Result> {
  const text = await output(command, args);
  return JSON.parse(text.split("\n").at(-1)!);
}

async function withDatabase<T>(
  name: string,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return await fn(url.href);
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function measure(
  system: System,
  workload: string,
  round: number,
): Promise<Result> {
  const db = `owbench_${system.replace(/\W/g, "_")}_${workload}_${round}`;
  switch (system) {
    case "core-postgres":
    case "core-floor":
      return await withDatabase(db, (url) =>
        run(Deno.execPath(), [
          "run",
          "-A",
          `${here}core.ts`,
          system !== "core-floor"
            ? workload
            : workload === "backlog"
            ? "floor"
            : "floor-throughput",
          "--backend",
          "postgres",
          "--database-url",
          url,
        ]));
    case "core-sqlite": {
      const dir = await Deno.makeTempDir({ prefix: "owbench-sqlite-" });
      try {
        return await run(Deno.execPath(), [
          "run",
          "-A",
          `${here}core.ts`,
          workload,
          "--backend",
          "sqlite",
          "--path",
          `${dir}/bench.db`,
        ]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
    case "openworkflow@0.10.1":
      return await withDatabase(db, (url) =>
        run("node", [
          `${here}openworkflow/baseline.mjs`,
          workload,
          "--scratch",
          scratch,
          "--database-url",
          url,
        ]));
    case "dbos-sdk@5.3.0":
      return await withDatabase(db, (url) =>
        run("node", [
          `${here}dbos/baseline.mjs`,
          workload,
          "--scratch",
          dbosScratch,
          "--database-url",
          url,
        ]));
  }
}

const metric: Record<
  string,
  { key: string; unit: string; better: "higher" | "lower" }[]
> = {
  throughput: [{
    key: "workflowsPerSecond",
    unit: "workflows/s",
    better: "higher",
  }],
  backlog: [{
    key: "workflowsPerSecond",
    unit: "workflows/s",
    better: "higher",
  }],
  latency: [
    { key: "p50Ms", unit: "ms p50", better: "lower" },
    { key: "p95Ms", unit: "ms p95", better: "lower" },
  ],
};

/** Whether `system`'s benchmark script has `workload`. */
function supports(system: System, workload: string): boolean {
  if (system === "core-floor") {
    return workload === "backlog" || workload === "throughput";
  }
  return !(system === "dbos-sdk@5.3.0" && workload === "backlog");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  if (systems.includes("openworkflow@0.10.1")) {
    await run("node", [
      `${here}openworkflow/baseline.mjs`,
      "install",
      "--scratch",
      scratch,
    ]);
  }
  if (systems.includes("dbos-sdk@5.3.0")) {
    await run("node", [
      `${here}dbos/baseline.mjs`,
      "install",
      "--scratch",
      dbosScratch,
    ]);
  }
  const results = new Map<string, Result[]>();
  for (let round = 0; round < rounds; round++) {
    for (const workload of workloads) {
      // Alternate the order so that no system always runs first.
      const order = round % 2 === 0 ? systems : [...systems].reverse();
      for (const system of order) {
        if (!supports(system, workload)) continue;
        const result = await measure(system, workload, round);
        const key = `${system} ${workload}`;
        results.set(key, [...(results.get(key) ?? []), result]);
        console.error(
          `round ${round + 1}/${rounds} ${key}: ${JSON.stringify(result)}`,
        );
      }
    }
  }
  const rows: string[][] = [[
    "system",
    "workload",
    "median",
    "range",
    ...comparedPeers.map((peer) => peer.column),
  ]];
  const summary: Record<string, unknown> = {
    date: new Date().toISOString(),
    rounds,
  };
  for (const workload of workloads) {
    for (const { key, unit, better } of metric[workload] ?? []) {
      const samplesOf = (system: System) =>
        (results.get(`${system} ${workload}`) ?? []).map((r) => Number(r[key]));
      for (const system of systems) {
        if (!supports(system, workload)) continue;
        const samples = samplesOf(system);
        const m = median(samples);
        // How many times better (above 1) or worse (below 1) than each peer;
        // only the core rows are compared.
        const ratios = comparedPeers.map((peer) => {
          if (peers.some((p) => p.system === system)) return "";
          if (!supports(peer.system, workload)) return "";
          const peerMedian = median(samplesOf(peer.system));
          const factor = better === "higher" ? m / peerMedian : peerMedian / m;
          return `${factor.toFixed(1)}x ${factor >= 1 ? "better" : "worse"}`;
        });
        rows.push([
          system,
          `${workload} (${unit})`,
          m.toFixed(1),
          `${Math.min(...samples).toFixed(1)}–${
            Math.max(...samples).toFixed(1)
          }`,
          ...ratios,
        ]);
        summary[`${system} ${workload} ${key}`] = m;
      }
    }
  }
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((r) => r[i].length))
  );
  const line = (r: string[]) =>
    `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(rows[0]));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows.slice(1)) console.log(line(row));
  console.log(JSON.stringify(summary));
}

await main();
