/**
 * One benchmark workload of @openworkflow/core, printing one JSON line.
 *
 *   deno run -A bench/core.ts throughput --backend postgres --database-url URL
 *   deno run -A bench/core.ts latency --backend sqlite --path /tmp/bench.db
 *
 * Workloads (the same as bench/openworkflow/baseline.mjs runs):
 * - throughput: a worker (concurrency 100) is started; 1,000 runs of a
 *   workflow with 4 no-op steps are started concurrently and every result is
 *   awaited. Reports workflows per second from the first start to the last
 *   result.
 * - latency: with the worker idle, 50 sequential iterations of starting a
 *   one-step workflow and awaiting its result. Reports p50/p95/max in ms.
 *   The worker runs in a process of its own (this script's `worker`
 *   workload), as in production: the wake-ups measured are the ones that
 *   cross processes (`--same-process` keeps it in this one).
 * - backlog: the runs are all started first; then the worker starts and
 *   every result is awaited. Reports workflows and steps per second from
 *   the worker's start to the last result.
 * - floor (Postgres): the backlog workload with the worker replaced by a
 *   loop over the backend alone, making the calls the engine's worker makes
 *   for each run, in the same order and batches (see `startFloorWorker`):
 *   what the engine's statements, driver and client cost with nothing of
 *   the worker and the execution around them (bench/throughput_floor.ts
 *   sets it beside the engine). It also reports the round trips a run
 *   waits for (its share of the claim that took it, its steps' and its
 *   completion's) and how long they took on average: a run's time is
 *   those round trips one after another.
 * - floor-throughput (Postgres): the same loop in the throughput workload
 *   (started before the runs).
 *
 * On a Postgres server of this machine, the throughput, backlog and floor
 * workloads also report the server's CPU per run (the whole cluster's, its
 * background processes included) over the same span.
 *
 * In one process, the client and the worker use separate backends
 * (separate connection pools), as they would in separate processes.
 */

import process from "node:process";
import { parseArgs } from "node:util";
import postgres from "postgres";
import {
  type Backend,
  DEFAULT_STEP_RETRY_POLICY,
  OpenWorkflow,
  type WorkflowRun,
} from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";
import { nextTurn } from "../src/core/waits.ts";
import { clusterCpuSeconds, postmasterPid } from "./scaling/common.ts";

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    backend: { type: "string", default: "postgres" },
    "database-url": { type: "string" },
    path: { type: "string" },
    runs: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "100" },
    iterations: { type: "string", default: "50" },
    "shared-backend": { type: "boolean", default: false },
    "same-process": { type: "boolean", default: false },
    otel: { type: "boolean", default: false },
  },
});
const workload = positionals[0];

// With --otel, an OpenTelemetry SDK records every span and metric (as an
// application exporting them would), its exporters dropping what they get.
const sdk = values.otel ? await registerSdk() : null;

/** Registers the SDK; returns what shuts it down. */
async function registerSdk(): Promise<() => Promise<void>> {
  const { context, metrics, trace } = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import(
    "@opentelemetry/context-async-hooks"
  );
  const { BasicTracerProvider, BatchSpanProcessor } = await import(
    "@opentelemetry/sdk-trace-base"
  );
  const {
    AggregationTemporality,
    InMemoryMetricExporter,
    MeterProvider,
    PeriodicExportingMetricReader,
  } = await import("@opentelemetry/sdk-metrics");
  const exporter = {
    export(_spans: unknown[], done: (result: { code: 0 }) => void) {
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  context.setGlobalContextManager(
    new AsyncLocalStorageContextManager().enable(),
  );
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 1_000,
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  };
}

const databaseUrl = values["database-url"] ?? Deno.env.get("DATABASE_URL") ??
  "postgresql://postgres@127.0.0.1:5432/test";

async function connect(): Promise<Backend> {
  if (values.backend === "sqlite") {
    return await BackendSqlite.connect(values.path ?? ":memory:");
  }
  return await BackendPostgres.connect(databaseUrl);
}

/**
 * The CPU seconds the Postgres cluster has used so far, or `null` when it
 * does not run on this machine (or the backend is SQLite).
 */
async function serverCpuMeter(): Promise<(() => number) | null> {
  if (values.backend !== "postgres") return null;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const pid = await postmasterPid(admin);
    return pid === null ? null : () => clusterCpuSeconds(pid);
  } finally {
    await admin.end();
  }
}

/**
 * The floor workload's worker: for each run of the four-step workflow, the
 * backend calls the engine's worker makes, in the same order and batches:
 * runs claimed for every free slot (again once the runs finishing in one
 * turn have freed theirs); each step's attempt created in the same turn as
 * the previous step's result is stored (one batch, one transaction), both
 * awaited before the next; the run's completion carrying the last step's
 * result. Nothing else: no heartbeats, signals, step functions, history,
 * spans, metrics or events. Returns what stops it.
 */
function startFloorWorker(
  backend: Backend,
  concurrency: number,
): FloorWorker {
  const workerId = crypto.randomUUID();
  const trips = { claims: 0, claimMs: 0, runs: 0, runTrips: 0, runTripMs: 0 };
  /** Awaits `promise`, counting it as one of a run's round trips. */
  const trip = async <T>(promise: Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await promise;
    } finally {
      trips.runTrips++;
      trips.runTripMs += performance.now() - started;
    }
  };
  const workflows = [{ name: "bench-four-steps", version: null }];
  const config = { retry: { ...DEFAULT_STEP_RETRY_POLICY } };
  const running = new Set<Promise<void>>();
  let stopped = false;
  // A wake-up while the loop claims is kept for its next wait.
  let woken = false;
  let resume = () => {};
  const wake = () => {
    woken = true;
    resume();
  };
  const execute = async (run: WorkflowRun) => {
    const workflowRunId = run.id;
    let held: { stepAttemptId: string; output: number } | null = null;
    for (let i = 1; i <= 4; i++) {
      const created = backend.createStepAttempt({
        workflowRunId,
        workerId,
        stepName: `step-${i}`,
        kind: "run",
        config,
        context: null,
      });
      const stored = held === null
        ? undefined
        : backend.markStepAttemptSucceeded({
          workflowRunId,
          workerId,
          ...held,
        });
      // Both in one batch: one round trip.
      const attempt = await trip(created);
      await stored;
      held = { stepAttemptId: attempt.id, output: i };
    }
    await trip(backend.markWorkflowRunSucceededWithSteps!({
      workflowRunId,
      workerId,
      output: "done",
      stepAttempts: held === null ? [] : [held],
    }));
    trips.runs++;
  };
  // Runs started meanwhile (the throughput workload) wake the loop, as
  // they wake the engine's worker.
  const unsubscribe = backend.subscribe?.((notification) => {
    if (notification.kind === "available") wake();
  });
  const loop = (async () => {
    while (!stopped) {
      const free = concurrency - running.size;
      if (free > 0) {
        const started = performance.now();
        const claimed = await backend.claimWorkflowRuns({
          workerId,
          leaseDurationMs: 30_000,
          limit: free,
          workflows,
        });
        if (claimed.length > 0) {
          trips.claims++;
          trips.claimMs += performance.now() - started;
        }
        for (const run of claimed) {
          const done: Promise<void> = execute(run).finally(() => {
            running.delete(done);
            wake();
          });
          running.add(done);
        }
        if (claimed.length === free) continue;
      }
      await new Promise<void>((resolve) => {
        resume = resolve;
        if (stopped || woken) resolve();
      });
      woken = false;
      await nextTurn();
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      unsubscribe?.();
      await loop;
      await Promise.all(running);
    },
    roundTrips() {
      // Each run waits for the claim that took it, then its own trips.
      const perRun = trips.runs === 0
        ? 0
        : (trips.runTrips + trips.runs) / trips.runs;
      return {
        perRun: round(perRun, 2),
        meanMs: round(
          (trips.runTripMs + trips.claimMs * (trips.runs / trips.claims)) /
            (trips.runTrips + trips.runs),
          2,
        ),
        claimMeanMs: round(trips.claimMs / trips.claims, 2),
        runsPerClaim: round(trips.runs / trips.claims, 1),
      };
    },
  };
}

/** The floor's worker: what stops it, and the round trips its runs made. */
interface FloorWorker {
  stop(): Promise<void>;
  /**
   * The round trips a run waited for, one after another (its claim's
   * included), and their mean time, the claims weighed by the runs each
   * took; the claims' own mean time; the runs a claim took.
   */
  roundTrips(): {
    perRun: number;
    meanMs: number;
    claimMeanMs: number;
    runsPerClaim: number;
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  ];
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** The benchmark's workflows: four no-op steps, and one. */
function defineWorkflows(ow: OpenWorkflow) {
  return {
    four: ow.defineWorkflow({ name: "bench-four-steps" }, async ({ step }) => {
      for (let i = 1; i <= 4; i++) {
        await step.run({ name: `step-${i}` }, () => i);
      }
      return "done";
    }),
    one: ow.defineWorkflow({ name: "bench-one-step" }, async ({ step }) => {
      return await step.run({ name: "only" }, () => 1);
    }),
  };
}

/** The location options of this invocation, for a worker process. */
function locationArgs(): string[] {
  return values.backend === "sqlite"
    ? ["--backend", "sqlite", "--path", values.path ?? ":memory:"]
    : [
      "--backend",
      "postgres",
      ...(values["database-url"] === undefined
        ? []
        : ["--database-url", values["database-url"]]),
    ];
}

/**
 * Starts this script's `worker` workload in a process of its own; resolves
 * once its worker runs, with what stops it.
 */
async function startWorkerProcess(): Promise<() => Promise<void>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "worker",
      ...locationArgs(),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the worker process ended before it was ready");
    seen += value;
  }
  return async () => {
    await child.stdin.close();
    await reader.cancel();
    const status = await child.status;
    if (!status.success) {
      throw new Error(`the worker process exited with ${status.code}`);
    }
  };
}

async function main(): Promise<void> {
  if (workload === "worker") return await serveWorker();
  const separate = workload === "latency" && !values["same-process"];
  const stopWorkerProcess = separate ? await startWorkerProcess() : null;
  const workerBackend = await connect();
  // SQLite: one connection per process; a client in another process would
  // have its own, but in one process one backend serves both.
  const clientBackend = values.backend === "sqlite" || values["shared-backend"]
    ? workerBackend
    : await connect();
  const client = new OpenWorkflow({ backend: clientBackend });
  const workerSide = new OpenWorkflow({ backend: workerBackend });
  const define = defineWorkflows;
  const clientDefs = define(client);
  define(workerSide);
  const worker = workerSide.newWorker({
    concurrency: Number(values.concurrency),
  });
  const floor = workload === "floor" || workload === "floor-throughput";
  // backlog and floor: started once the runs wait (the floors: never).
  if (!separate && workload !== "backlog" && !floor) {
    await worker.start();
  }
  const system = `@openworkflow/core (${values.backend})`;
  try {
    if (workload === "backlog" || workload === "throughput" || floor) {
      if (floor && values.backend !== "postgres") {
        throw new Error(`the ${workload} workload runs on Postgres`);
      }
      const runs = Number(values.runs);
      const startRuns = () =>
        Promise.all(Array.from({ length: runs }, () => clientDefs.four.run()));
      const serverCpu = await serverCpuMeter();
      // backlog and floor: every run waits before the worker starts, timed
      // from its start; throughput: timed from the first run started.
      const streaming = workload === "throughput" ||
        workload === "floor-throughput";
      const waiting = streaming ? null : await startRuns();
      const cpuBefore = process.cpuUsage();
      const serverBefore = serverCpu?.() ?? 0;
      const started = performance.now();
      let floorWorker: FloorWorker | null = null;
      if (floor) {
        floorWorker = startFloorWorker(
          workerBackend,
          Number(values.concurrency),
        );
      } else if (waiting !== null) await worker.start();
      const handles = waiting ?? await startRuns();
      await Promise.all(handles.map((h) => h.result()));
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const serverS = serverCpu === null ? null : serverCpu() - serverBefore;
      await floorWorker?.stop();
      const cpuMsPerRun = round((cpu.user + cpu.system) / 1000 / runs, 3);
      const serverCpuMsPerRun = serverS === null
        ? null
        : round((serverS * 1000) / runs, 3);
      console.log(JSON.stringify({
        system,
        workload,
        runs,
        seconds: round(seconds, 3),
        workflowsPerSecond: round(runs / seconds),
        stepsPerSecond: round((4 * runs) / seconds, 0),
        // This process's CPU time (client and worker) per run: less
        // sensitive than the rate to other load on the machine.
        cpuMsPerRun,
        // The server's, on this machine (its clock ticks are 10 ms).
        serverCpuMsPerRun,
        ...(floorWorker === null
          ? {}
          : { roundTrips: floorWorker.roundTrips() }),
      }));
    } else if (workload === "latency") {
      const iterations = Number(values.iterations);
      await (await clientDefs.one.run()).result(); // warm-up
      await new Promise((r) => setTimeout(r, 2_000)); // let the worker idle
      const samples: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const started = performance.now();
        await (await clientDefs.one.run()).result();
        samples.push(performance.now() - started);
      }
      const sorted = [...samples].sort((a, b) => a - b);
      console.log(JSON.stringify({
        system,
        workload,
        iterations,
        workerProcess: separate ? "separate" : "same",
        p50Ms: round(percentile(sorted, 50), 2),
        p95Ms: round(percentile(sorted, 95), 2),
        maxMs: round(sorted.at(-1)!, 2),
        meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length, 2),
      }));
    } else {
      throw new Error(`unknown workload ${JSON.stringify(workload)}`);
    }
  } finally {
    await worker.stop();
    if (clientBackend !== workerBackend) await clientBackend.stop();
    await workerBackend.stop();
    await stopWorkerProcess?.();
  }
}

/**
 * The `worker` workload: a worker of both workflows, until standard input
 * closes; prints `ready` once it runs.
 */
async function serveWorker(): Promise<void> {
  const backend = await connect();
  const ow = new OpenWorkflow({ backend });
  defineWorkflows(ow);
  const worker = ow.newWorker({ concurrency: Number(values.concurrency) });
  await worker.start();
  console.log("ready");
  // Standard input closing (the parent done or gone) stops the worker.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await worker.stop();
  await backend.stop();
}

await main();
await sdk?.();
