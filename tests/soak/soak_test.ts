/**
 * The short soak of the CI suite: two minutes of mixed load (steps, sleeps,
 * a retried step, a child workflow, signals, cancels, a schedule firing
 * every 2 s) on Postgres, with a
 * worker process killed every 15 s and one server restart. Every run ends
 * as expected, no step runs again once its success was stored, and the
 * connections stay bounded. The 30-minute version is `deno task soak`.
 */

import assert from "node:assert/strict";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";
import { runSoak } from "./harness.ts";

Deno.test({
  name:
    "[postgres] soak: two minutes of mixed load, worker kills and a server restart lose and repeat nothing",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const durationMs = Number(Deno.env.get("SOAK_MS") ?? 120_000);
    const killEveryMs = 15_000;
    const report = await runSoak({
      databaseUrl: DATABASE_URL,
      durationMs,
      killEveryMs,
      ratePerS: 4,
    });
    console.log(JSON.stringify(report));
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.duplicated, []);
    assert.equal(report.succeeded + report.canceled, report.runs);
    assert.ok(report.canceled > 0, JSON.stringify(report));
    assert.ok(
      report.kills >= Math.floor(durationMs / killEveryMs) - 1,
      JSON.stringify(report),
    );
    assert.ok(report.restartMs > 0, "the server restarted");
    // The schedule fired through the kills and the restart: every run
    // finished, no slot twice, and most slots (a missed one fires once,
    // late: catch-up "latest").
    assert.deepEqual(report.ticks.duplicateSlots, []);
    assert.deepEqual(report.ticks.unfinished, []);
    assert.ok(
      report.ticks.runs >= report.ticks.slots * 0.5,
      JSON.stringify(report.ticks),
    );
    // 3 worker processes × (4 pool + 1 listening) + the client's, and the
    // harness's own: bounded whatever the run count.
    assert.ok(report.maxConnections <= 25, `${report.maxConnections}`);
  },
});
