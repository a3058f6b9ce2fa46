/**
 * The full chaos run, by hand: a few hundred runs on Postgres and on a
 * SQLite file, worker processes killed and restarted throughout, the
 * workers' Postgres connections dropped and the Postgres server restarted
 * mid-batch. Prints the figures and exits non-zero when a guarantee broke.
 *
 *   deno task chaos                      # both backends, default sizes
 *   deno task chaos --backend postgres --runs 500 --restarts 3 --seed 7
 *   deno task chaos --lease-ms 3000 --freezes 2   # workers SIGSTOPped past
 *                                                 # their lease, continued
 *
 * Restarting the server (`pg_ctlcluster … restart`) needs root on the
 * machine running Postgres, and disturbs every other client of that server
 * for a second or two: pass `--restarts 0` where that is not wanted.
 * `DATABASE_URL` names the server (default: the test server).
 */

import { parseArgs } from "node:util";
import {
  type ChaosReport,
  formatReport,
  runChaos,
} from "../../tests/chaos/harness.ts";
import type { StoreKind } from "../../tests/chaos/store.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "both" },
    runs: { type: "string" },
    workers: { type: "string", default: "4" },
    restarts: { type: "string", default: "2" },
    drops: { type: "string", default: "4" },
    freezes: { type: "string", default: "0" },
    "freeze-ms": { type: "string" },
    "lease-ms": { type: "string", default: "1500" },
    "graceful-every": { type: "string", default: "5" },
    "timeout-s": { type: "string", default: "600" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    keep: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

const databaseUrl = Deno.env.get("DATABASE_URL") ??
  "postgresql://postgres@127.0.0.1:5432/test";
const backends: StoreKind[] = values.backend === "both"
  ? ["postgres", "sqlite"]
  : [values.backend as StoreKind];
const seed = Number(values.seed);
const reports: ChaosReport[] = [];

for (const backend of backends) {
  const isPostgres = backend === "postgres";
  const runs = Number(values.runs ?? (isPostgres ? 300 : 200));
  console.log(`\n== chaos on ${backend}: ${runs} runs, seed ${seed}`);
  const report = await runChaos({
    backend,
    databaseUrl,
    workers: Number(values.workers),
    runs,
    doomedEvery: 8,
    waves: 10,
    waveIntervalMs: 2000,
    shape: { depth: 10, width: 4, maxStepDelayMs: 60, napMs: 400 },
    leaseMs: Number(values["lease-ms"]),
    concurrency: 16,
    faultIntervalMs: [400, 1500],
    respawnDelayMs: [0, 500],
    gracefulEvery: Number(values["graceful-every"]),
    connectionDrops: isPostgres ? Number(values.drops) : 0,
    serverRestarts: isPostgres ? Number(values.restarts) : 0,
    freezes: Number(values.freezes),
    ...(values["freeze-ms"] === undefined
      ? {}
      : { freezeMs: Number(values["freeze-ms"]) }),
    timeoutMs: Number(values["timeout-s"]) * 1000,
    seed,
    keep: values.keep,
    log: (line) => console.log(`   ${line}`),
  });
  reports.push(report);
  console.log(
    values.json ? JSON.stringify(report, null, 2) : formatReport(report),
  );
}

const failed = reports.filter((r) =>
  r.violations.length > 0 || r.knownIssues.length > 0
);
console.log(
  failed.length === 0
    ? "\nchaos: every guarantee held"
    : `\nchaos: guarantees broken on ${
      failed.map((r) => r.backend).join(", ")
    }`,
);
Deno.exit(failed.length === 0 ? 0 : 1);
