/**
 * Several real worker processes on one SQLite file: every run completes
 * once, no completed step runs again, and runs held by a killed process
 * resume on the others once their lease expires.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { OpenWorkflow, type WorkflowRun } from "../../mod.ts";
import { defineStepsWorkflow } from "../fixtures/sqlite_workflow.ts";

const WORKER_SCRIPT = new URL("../fixtures/sqlite_worker.ts", import.meta.url);
const STEPS = ["one", "two", "three"];

/** A worker process started from `fixtures/sqlite_worker.ts`. */
interface WorkerProcess {
  child: Deno.ChildProcess;
  /** Resolves once the worker runs; rejects if the process exits first. */
  ready: Promise<void>;
  /** Everything the process wrote, once it has exited. */
  output: Promise<{ stdout: string; stderr: string }>;
}

interface WorkerSettings {
  leaseDurationMs: number;
  stepDelayMs: number;
  concurrency: number;
}

function spawnWorker(
  path: string,
  effectsDir: string,
  settings: WorkerSettings,
): WorkerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      WORKER_SCRIPT.href,
      path,
      effectsDir,
      String(settings.leaseDurationMs),
      String(settings.stepDelayMs),
      String(settings.concurrency),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = Promise.withResolvers<void>();
  const stdout = (async () => {
    let text = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      text += chunk;
      if (text.includes("ready\n")) started.resolve();
    }
    return text;
  })();
  const stderr = new Response(child.stderr).text();
  const output = Promise.all([stdout, stderr]).then(([stdout, stderr]) => ({
    stdout,
    stderr,
  }));
  const exited = child.status.then(async (status) => {
    throw new Error(
      `worker exited with code ${status.code} before it was ready: ${
        (await output).stderr
      }`,
    );
  });
  exited.catch(() => {});
  return { child, ready: Promise.race([started.promise, exited]), output };
}

/** Stops a worker gracefully (or kills it), and waits until it has exited. */
async function stopWorker(
  worker: WorkerProcess,
  signal?: Deno.Signal,
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (signal !== undefined) {
    try {
      worker.child.kill(signal);
    } catch {
      // Exited already.
    }
  }
  try {
    await worker.child.stdin.close();
  } catch {
    // The process is gone, and its standard input with it.
  }
  const { code } = await worker.child.status;
  return { code, ...(await worker.output) };
}

/** Waits until no run of `backend` is unfinished. */
async function waitUntilAllFinished(
  backend: BackendSqlite,
  timeoutMs: number,
): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (true) {
    const { runs } = await backend.listWorkflowRuns({
      statuses: ["pending", "running", "sleeping"],
      limit: 1,
    });
    if (runs.length === 0) return;
    assert.ok(Date.now() < giveUpAt, `runs unfinished after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function allRuns(backend: BackendSqlite): Promise<WorkflowRun[]> {
  const runs: WorkflowRun[] = [];
  let cursor: string | null = null;
  do {
    const page: { runs: WorkflowRun[]; nextCursor: string | null } =
      await backend.listWorkflowRuns({ limit: 100, cursor });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return runs;
}

/** The process ids that executed each step, keyed `<run id>.<step>`. */
async function readEffects(dir: string): Promise<Map<string, string[]>> {
  const effects = new Map<string, string[]>();
  for await (const entry of Deno.readDir(dir)) {
    const [runId, step] = entry.name.split(".");
    const pid = await Deno.readTextFile(`${dir}/${entry.name}`);
    const key = `${runId}.${step}`;
    effects.set(key, [...effects.get(key) ?? [], pid]);
  }
  return effects;
}

/**
 * A temporary database path and effects directory, removed afterwards,
 * with the worker processes of `workers` killed first if still running.
 */
async function withScene(
  fn: (scene: {
    path: string;
    effectsDir: string;
    workers: WorkerProcess[];
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-multiprocess-" });
  const effectsDir = `${dir}/effects`;
  await Deno.mkdir(effectsDir);
  const workers: WorkerProcess[] = [];
  try {
    await fn({ path: `${dir}/workflows.db`, effectsDir, workers });
  } finally {
    await Promise.all(workers.map((w) => stopWorker(w, "SIGKILL")));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("three worker processes on one SQLite file complete 200 runs, each step exactly once", async () => {
  await withScene(async ({ path, effectsDir, workers }) => {
    const settings = {
      leaseDurationMs: 30_000,
      stepDelayMs: 5,
      concurrency: 8,
    };
    // The workers create the database, all at once.
    for (let i = 0; i < 3; i++) {
      workers.push(spawnWorker(path, effectsDir, settings));
    }
    await Promise.all(workers.map((w) => w.ready));
    await using backend = await BackendSqlite.connect(path);
    const steps = defineStepsWorkflow(
      new OpenWorkflow({ backend }),
      effectsDir,
      0,
    );
    const total = 200;
    for (let n = 0; n < total; n++) await steps.run({ n });
    await waitUntilAllFinished(backend, 120_000);

    const runs = await allRuns(backend);
    assert.equal(runs.length, total);
    for (const run of runs) {
      assert.equal(run.status, "succeeded", `run ${run.id}: ${run.status}`);
      assert.equal(run.output, 3 * (run.input as { n: number }).n);
      // Claimed once, parked for the nap, claimed once more; or claimed
      // once when the nap was over by the time it was recorded.
      assert.ok(
        run.attempts === 1 || run.attempts === 2,
        `run ${run.id} claimed ${run.attempts}x`,
      );
      const attempts = await backend.listStepAttempts({
        workflowRunId: run.id,
      });
      assert.deepEqual(
        attempts.map((a) => [a.stepName, a.status]),
        [
          ["one", "succeeded"],
          ["nap", "succeeded"],
          ["two", "succeeded"],
          ["three", "succeeded"],
        ],
      );
    }
    assert.ok(runs.some((run) => run.attempts === 2), "no run ever parked");
    const effects = await readEffects(effectsDir);
    assert.equal(effects.size, total * STEPS.length);
    for (const run of runs) {
      for (const step of STEPS) {
        assert.equal(
          effects.get(`${run.id}.${step}`)?.length,
          1,
          `step ${step} of run ${run.id}`,
        );
      }
    }
    const pids = new Set([...effects.values()].flat());
    for (const worker of workers) {
      assert.ok(
        pids.has(String(worker.child.pid)),
        `worker ${worker.child.pid} ran no step`,
      );
    }
    for (const worker of workers.splice(0)) {
      const { code, stderr } = await stopWorker(worker);
      assert.equal(code, 0, stderr);
    }
  });
});

Deno.test("runs held by a killed worker process resume on the others; completed steps never run again", async () => {
  await withScene(async ({ path, effectsDir, workers }) => {
    await using backend = await BackendSqlite.connect(path);
    const victim = spawnWorker(path, effectsDir, {
      leaseDurationMs: 1_000,
      stepDelayMs: 200,
      concurrency: 10,
    });
    workers.push(victim);
    await victim.ready;
    const steps = defineStepsWorkflow(
      new OpenWorkflow({ backend }),
      effectsDir,
      0,
    );
    const total = 40;
    for (let n = 0; n < total; n++) await steps.run({ n });
    // Kill the worker while it is in the middle of its runs.
    while ((await readEffects(effectsDir)).size < 15) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const killed = await stopWorker(victim, "SIGKILL");
    assert.notEqual(killed.code, 0);
    for (let i = 0; i < 2; i++) {
      workers.push(spawnWorker(path, effectsDir, {
        leaseDurationMs: 1_000,
        stepDelayMs: 20,
        concurrency: 10,
      }));
    }
    await waitUntilAllFinished(backend, 60_000);

    const runs = await allRuns(backend);
    assert.equal(runs.length, total);
    const effects = await readEffects(effectsDir);
    const victimPid = String(victim.child.pid);
    let resumed = 0;
    for (const run of runs) {
      assert.equal(run.status, "succeeded", `run ${run.id}: ${run.status}`);
      assert.equal(run.output, 3 * (run.input as { n: number }).n);
      const attempts = await backend.listStepAttempts({
        workflowRunId: run.id,
      });
      for (const step of [...STEPS, "nap"]) {
        const mine = attempts.filter((a) => a.stepName === step);
        // Exactly one success, and nothing after it: a completed step is
        // never executed again.
        assert.deepEqual(
          mine.map((a) => a.status).filter((s) => s === "succeeded"),
          ["succeeded"],
          `step ${step} of run ${run.id}`,
        );
        assert.equal(mine.at(-1)?.status, "succeeded");
        if (step === "nap") continue;
        // Each execution of the step function belongs to an attempt.
        const ran = effects.get(`${run.id}.${step}`) ?? [];
        assert.ok(
          ran.length >= 1 && ran.length <= mine.length,
          `step ${step} of run ${run.id} ran ${ran.length}x in ${mine.length} attempts`,
        );
      }
      const pids = STEPS.flatMap((step) =>
        effects.get(`${run.id}.${step}`) ?? []
      );
      if (pids.includes(victimPid) && pids.some((p) => p !== victimPid)) {
        resumed++;
      }
    }
    assert.ok(resumed > 0, "no run started by the killed worker was resumed");
    for (const worker of workers.splice(1)) {
      const { code, stderr } = await stopWorker(worker);
      assert.equal(code, 0, stderr);
    }
  });
});
