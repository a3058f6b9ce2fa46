/**
 * The quick chaos run of the CI suite: real worker processes on Postgres
 * and on a SQLite file, killed with SIGKILL (and now and then stopped with
 * SIGTERM) at random moments and restarted, until every run is terminal.
 * The full version, with server restarts and more runs, is `deno task
 * chaos` (bench/chaos/run.ts).
 *
 * Only the timing is random (and seeded); every assertion is exact.
 */

import assert from "node:assert/strict";
import {
  DATABASE_URL,
  postgresPgbouncerTarget,
  postgresTarget,
} from "../helpers.ts";
import { pgbouncerUrl } from "../pgbouncer.ts";
import { type ChaosOptions, formatReport, runChaos } from "./harness.ts";

const QUICK: Omit<ChaosOptions, "backend"> = {
  databaseUrl: DATABASE_URL,
  workers: 3,
  runs: 64,
  doomedEvery: 8,
  waves: 6,
  waveIntervalMs: 1_200,
  shape: { depth: 6, width: 3, maxStepDelayMs: 40, napMs: 300 },
  leaseMs: 1_000,
  concurrency: 12,
  faultIntervalMs: [300, 900],
  respawnDelayMs: [0, 300],
  gracefulEvery: 4,
  connectionDrops: 0,
  serverRestarts: 0,
  timeoutMs: 75_000,
  seed: 20261128,
};

/**
 * Runs a quick chaos batch and checks it. `strict`: also fail on broken
 * guarantees the harness attributes to a known bug (see pool.ts).
 */
async function quickChaos(
  options: ChaosOptions,
  strict = false,
): Promise<void> {
  const report = await runChaos(options);
  const summary = formatReport(report);
  console.log(
    `${options.backend}: ${report.runs} runs in ${report.durationMs} ms, ` +
      `${report.kills} kills, ${report.gracefulStops} graceful stops, ` +
      `${report.connectionDrops} connection drops, ` +
      `${report.verification.reexecutedSteps} steps re-executed before ` +
      `their success was recorded, ${report.violations.length} violations, ` +
      `${report.knownIssues.length} known issues; ` +
      `recovery after a kill: max ${report.recovery.kill.maxMs} ms`,
  );
  assert.deepEqual(report.violations, [], summary);
  if (strict) assert.deepEqual(report.knownIssues, [], summary);
  assert.equal(report.runs, options.runs, summary);
  assert.equal(report.succeeded, options.runs - options.runs / 8, summary);
  assert.equal(report.failed, options.runs / 8, summary);
  assert.deepEqual(report.resultErrors, {}, summary);
  assert.ok(report.kills >= 3, summary);
  assert.ok(report.gracefulStops >= 1, summary);
  assert.equal(report.connectionDrops, options.connectionDrops, summary);
  assert.equal(report.verification.sideEffects > 0, true, summary);
}

Deno.test({
  name:
    "[postgres] chaos: runs finish exactly once through SIGKILLs and graceful stops",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    await quickChaos({ ...QUICK, backend: "postgres" }, true);
  },
});

Deno.test({
  name:
    "[sqlite file] chaos: runs finish exactly once through SIGKILLs and graceful stops",
  async fn() {
    await quickChaos({ ...QUICK, backend: "sqlite" }, true);
  },
});

Deno.test({
  // The workers' connections are dropped mid-batch three times: no worker
  // process dies of an error nothing catches, and no backend call waits
  // long after the database is back.
  ignore: postgresTarget.unavailable !== null,
  name:
    "[postgres] chaos: runs finish exactly once through dropped connections",
  async fn() {
    await quickChaos(
      { ...QUICK, backend: "postgres", connectionDrops: 3 },
      true,
    );
  },
});

Deno.test({
  // The workers' engines go through PgBouncer in transaction pooling mode
  // (found by connect() itself; they poll, with no direct LISTEN).
  ignore: postgresPgbouncerTarget.unavailable !== null,
  name:
    "[postgres via pgbouncer] chaos: runs finish exactly once through SIGKILLs and graceful stops",
  async fn() {
    await quickChaos(
      { ...QUICK, backend: "postgres", poolerUrl: await pgbouncerUrl() },
      true,
    );
  },
});
