/**
 * The long soak, run by hand: mixed load on Postgres (steps, sleeps, a
 * retried step, a child workflow, signals, cancels) for `--minutes`, with a
 * worker process killed every `--kill-every` seconds and one server restart
 * at half time (needs root, or the postgres user, for `pg_ctlcluster`).
 * Prints progress to stderr and the report (runs, outcomes, memory slopes
 * of the long-lived workers, connections, table sizes) as JSON.
 *
 *   deno task soak [--minutes 30] [--rate 4] [--kill-every 15] [--cluster soak:5460]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runSoak } from "../tests/soak/harness.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "4" },
    "kill-every": { type: "string", default: "15" },
    "database-url": { type: "string" },
    // A cluster of its own (pg_createcluster 15 soak -p 5460), so that the
    // restart at half time disturbs nothing else: --cluster soak:5460 (or
    // OPENWORKFLOW_PG_CLUSTER=soak:5460).
    cluster: { type: "string" },
  },
});
const [clusterName, clusterPort] = values.cluster?.split(":") ?? [];
const report = await runSoak({
  databaseUrl: values["database-url"] ?? Deno.env.get("DATABASE_URL") ??
    "postgresql://postgres@127.0.0.1:5432/test",
  durationMs: Number(values.minutes) * 60_000,
  ratePerS: Number(values.rate),
  killEveryMs: Number(values["kill-every"]) * 1000,
  log: (line) => console.error(line),
  ...(clusterName === undefined
    ? {}
    : { cluster: { name: clusterName, port: Number(clusterPort) } }),
});
console.log(JSON.stringify(report, null, 2));
if (
  report.unexpected.length > 0 || report.duplicated.length > 0 ||
  report.ticks.duplicateSlots.length > 0 || report.ticks.unfinished.length > 0
) Deno.exit(1);
