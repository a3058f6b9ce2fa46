/**
 * A run that parks (a retry wait, a sleep) while a parallel step is still
 * working must let that step finish, with the event loop running.
 */

import assert from "node:assert/strict";

Deno.test({
  // A regression test: the loop that lets started steps record their
  // outcome once the run has parked used to spin on an already resolved
  // promise, starving the event loop, and the worker process froze.
  name:
    "a run parked by one parallel step waits for the others with the event loop running",
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("./fixtures/parallel_park.ts", import.meta.url).pathname,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(timer);
    assert.equal(code, 0, `exit ${code}: ${new TextDecoder().decode(stderr)}`);
    const report = JSON.parse(new TextDecoder().decode(stdout));
    assert.deepEqual(report.output, [1, 2]);
    assert.ok(report.ticks >= 3, `the event loop ran (${report.ticks} ticks)`);
  },
});
