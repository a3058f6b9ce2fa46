/**
 * A primary fails over to its streaming standby in the middle of runs: two
 * clusters of this machine's Postgres (`replica_pair.sh`), a multi-host URL
 * with `target_session_attrs=read-write`, the primary stopped (immediate)
 * and the standby promoted while 20 runs are in their steps. Without a
 * restart, the worker, the `result()` waiters and LISTEN move to the new
 * primary, and every run finishes. With synchronous replication no step
 * whose success was stored before the failover is lost or runs again; with
 * asynchronous replication the runs still finish, and a step runs again at
 * most once. The unavailability window is printed.
 */

import assert from "node:assert/strict";
import { OpenWorkflow, type WorkflowRunHandle } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";

const SCRIPT = new URL("./replica_pair.sh", import.meta.url).pathname;

/** Why this machine cannot make the clusters, or `null`. */
function unavailable(): string | null {
  let reason: string | null = null;
  try {
    Deno.statSync("/usr/bin/pg_createcluster");
    if (Deno.uid() !== 0) reason = "making clusters needs root";
  } catch {
    reason = "pg_createcluster is not installed (postgresql-common)";
  }
  if (reason !== null && Deno.env.get("CI") === "true") {
    throw new Error(`the failover tests must run in CI: ${reason}`);
  }
  return reason;
}

const ignore = unavailable() !== null;

async function pair(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    stdout: "null",
  }).output();
  if (code !== 0) {
    throw new Error(
      `replica_pair.sh ${args.join(" ")}: exit ${code}: ${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
}

async function failover(mode: "sync" | "async"): Promise<void> {
  const prefix = `owfo_${mode}_${crypto.randomUUID().slice(0, 6)}`;
  const [primaryPort, standbyPort] = mode === "sync"
    ? [5441, 5442]
    : [5443, 5444];
  await pair("up", prefix, String(primaryPort), String(standbyPort), mode);
  const url =
    `postgresql://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/postgres?target_session_attrs=read-write`;
  let backend: BackendPostgres | undefined;
  try {
    backend = await BackendPostgres.connect(url, {
      namespaceId: `failover-${mode}`,
    });
    const ow = new OpenWorkflow({ backend });
    // Each step's executions, with when each began.
    const executions = new Map<string, number[]>();
    const wf = ow.defineWorkflow<number, number>(
      { name: "failover" },
      async ({ input, step, run }) => {
        let sum = input;
        for (let i = 0; i < 8; i++) {
          sum += await step.run({ name: `s${i}` }, async () => {
            const key = `${run.id} s${i}`;
            executions.set(key, [
              ...(executions.get(key) ?? []),
              performance.now(),
            ]);
            await new Promise((resolve) => setTimeout(resolve, 80));
            return i;
          });
        }
        return sum;
      },
    );
    const worker = ow.newWorker({
      concurrency: 20,
      leaseDurationMs: 3_000,
      pollIntervalMs: 50,
    });
    await worker.start();
    try {
      const handles: WorkflowRunHandle<number>[] = await Promise.all(
        Array.from({ length: 20 }, (_, i) => wf.run(i)),
      );
      const waiting = handles.map((h) => h.result({ timeoutMs: 60_000 }));
      await new Promise((resolve) => setTimeout(resolve, 300));

      // The successes the primary acknowledged before it went away.
      const acknowledged = new Set<string>();
      for (const handle of handles) {
        for (const attempt of await handle.listStepAttempts()) {
          if (attempt.status === "succeeded") {
            acknowledged.add(`${handle.id} ${attempt.stepName}`);
          }
        }
      }
      // The failover comes in the middle of the runs.
      assert.ok(acknowledged.size < 20 * 8, "steps are left to run");
      const stoppedAt = performance.now();
      await pair("stop-primary", prefix);
      await pair("promote", prefix);
      // The window: until a write succeeds on the new primary.
      let writableAt = 0;
      for (let i = 0; i < 600; i++) {
        try {
          await backend.createWorkflowRun({
            workflowName: "probe",
            version: null,
            config: {},
            context: null,
            input: null,
            availableAt: null,
            deadlineAt: null,
            idempotencyKey: null,
          });
          writableAt = performance.now();
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.ok(writableAt > 0, "the new primary takes writes");

      const results = await Promise.all(waiting);
      const finishedAt = performance.now();
      assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i + 28));
      const rerun = [...executions].filter(([, starts]) => starts.length > 1);
      console.log(
        `${mode} failover: writable again after ${
          Math.round(writableAt - stoppedAt)
        } ms, every run finished ${
          Math.round(finishedAt - stoppedAt)
        } ms after the primary stopped; ${acknowledged.size} step successes stored before it, ${rerun.length} steps run again`,
      );
      // A step runs again at most once (its first success was not stored).
      assert.ok(rerun.every(([, starts]) => starts.length === 2), `${rerun}`);
      if (mode === "sync") {
        // Nothing the primary acknowledged is lost, or run again.
        for (const key of acknowledged) {
          assert.equal(executions.get(key)?.length, 1, `${key} ran again`);
        }
        for (const handle of handles) {
          const stored = new Set(
            (await handle.listStepAttempts())
              .filter((a) => a.status === "succeeded")
              .map((a) => `${handle.id} ${a.stepName}`),
          );
          for (const key of acknowledged) {
            if (key.startsWith(handle.id)) assert.ok(stored.has(key), key);
          }
        }
      }
      // LISTEN resumed on the new primary.
      assert.equal(await backend.probeNotifications(), true);
    } finally {
      await worker.stop();
    }
  } finally {
    await backend?.stop();
    await pair("down", prefix);
  }
}

Deno.test({
  name:
    "[postgres failover] synchronous replication: every run finishes on the promoted standby, no stored step lost or run again",
  ignore,
  fn: () => failover("sync"),
});

Deno.test({
  name:
    "[postgres failover] asynchronous replication: every run finishes on the promoted standby, steps run again at most once",
  ignore,
  fn: () => failover("async"),
});
