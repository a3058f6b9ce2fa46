// Baseline side of the benchmark: npm `openworkflow@0.10.1` on Postgres.
//
// Plain Node script (Node >= 20). It imports openworkflow from a scratch
// folder outside the repository, never from the repo itself.
//
//   node bench/openworkflow/baseline.mjs install [--scratch DIR]
//   node bench/openworkflow/baseline.mjs throughput --database-url URL [--scratch DIR]
//   node bench/openworkflow/baseline.mjs latency --database-url URL [--scratch DIR]
//
// `install` writes a pinned package.json and package-lock.json (with integrity
// hashes) into DIR and runs `npm ci`. The benchmark workloads expect a fresh,
// empty database, created by the caller. Each workload prints exactly one JSON
// line on stdout; progress and errors go to stderr. Exit code 0 on success.
//
// Environment fallbacks: DATABASE_URL, OW_BASELINE_WORKLOAD, OW_BASELINE_DIR.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { emit, logger, percentile, round, runMain, sleep } from "../peer.mjs";

const log = logger("baseline");

const OPENWORKFLOW_VERSION = "0.10.1";
const POSTGRES_VERSION = "3.4.9";
const SYSTEM = `openworkflow@${OPENWORKFLOW_VERSION}`;
const DEFAULT_SCRATCH = "/tmp/ow-baseline";

const PACKAGE_JSON = {
  name: "ow-baseline-scratch",
  private: true,
  type: "module",
  dependencies: {
    openworkflow: OPENWORKFLOW_VERSION,
    postgres: POSTGRES_VERSION,
  },
};

// Exact npm lockfile so that `npm ci` installs byte-identical packages.
const PACKAGE_LOCK = {
  name: "ow-baseline-scratch",
  lockfileVersion: 3,
  requires: true,
  packages: {
    "": {
      name: "ow-baseline-scratch",
      dependencies: {
        openworkflow: OPENWORKFLOW_VERSION,
        postgres: POSTGRES_VERSION,
      },
    },
    "node_modules/openworkflow": {
      version: OPENWORKFLOW_VERSION,
      resolved:
        `https://registry.npmjs.org/openworkflow/-/openworkflow-${OPENWORKFLOW_VERSION}.tgz`,
      integrity:
        "sha512-BdgEjoaazhL26JgQ/SehD/tLVEUYsHD6oZWU79+04jnxc+hPlxmRRfVfaAGeUdS2YEPFr/53C0kcRNodzAdNnA==",
      license: "Apache-2.0",
      engines: { node: ">=20" },
      peerDependencies: { "@opentelemetry/api": "1", postgres: "^3.4.9" },
      peerDependenciesMeta: {
        "@opentelemetry/api": { optional: true },
        postgres: { optional: true },
      },
    },
    "node_modules/postgres": {
      version: POSTGRES_VERSION,
      resolved:
        `https://registry.npmjs.org/postgres/-/postgres-${POSTGRES_VERSION}.tgz`,
      integrity:
        "sha512-GD3qdB0x1z9xgFI6cdRD6xu2Sp2WCOEoe3mtnyB5Ee0XrrL5Pe+e4CCnJrRMnL1zYtRDZmQQVbvOttLnKDLnaw==",
      license: "Unlicense",
      engines: { node: ">=12" },
    },
  },
};

function install(scratch) {
  mkdirSync(scratch, { recursive: true });
  writeFileSync(
    join(scratch, "package.json"),
    `${JSON.stringify(PACKAGE_JSON, null, 2)}\n`,
  );
  writeFileSync(
    join(scratch, "package-lock.json"),
    `${JSON.stringify(PACKAGE_LOCK, null, 2)}\n`,
  );
  execFileSync(
    "npm",
    ["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    { cwd: scratch, stdio: ["ignore", 2, 2] },
  );
  const installed = readInstalledVersion(scratch);
  if (installed !== OPENWORKFLOW_VERSION) {
    throw new Error(
      `expected openworkflow ${OPENWORKFLOW_VERSION}, got ${installed}`,
    );
  }
  emit({ system: SYSTEM, installed: true, scratch });
}

function readInstalledVersion(scratch) {
  const file = join(scratch, "node_modules", "openworkflow", "package.json");
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")).version;
}

async function loadOpenWorkflow(scratch) {
  const installed = readInstalledVersion(scratch);
  if (installed !== OPENWORKFLOW_VERSION) {
    throw new Error(
      `openworkflow ${OPENWORKFLOW_VERSION} not installed in ${scratch} ` +
        `(found ${installed}); run: node baseline.mjs install --scratch ${scratch}`,
    );
  }
  const require = createRequire(join(scratch, "package.json"));
  const main = await import(
    pathToFileURL(require.resolve("openworkflow")).href
  );
  const pg = await import(
    pathToFileURL(require.resolve("openworkflow/postgres")).href
  );
  return {
    OpenWorkflow: main.OpenWorkflow,
    BackendPostgres: pg.BackendPostgres,
  };
}

// Client and worker get separate pools, as they would in separate processes
// (openworkflow's default postgres.js pool: max 10 connections each).
async function setup(lib, databaseUrl, concurrency, defineWorkflows) {
  const clientBackend = await lib.BackendPostgres.connect(databaseUrl);
  const workerBackend = await lib.BackendPostgres.connect(databaseUrl, {
    runMigrations: false,
  });
  const client = new lib.OpenWorkflow({ backend: clientBackend });
  const workerSide = new lib.OpenWorkflow({ backend: workerBackend });
  const workflows = defineWorkflows(client);
  defineWorkflows(workerSide);
  const worker = workerSide.newWorker({ concurrency });
  return {
    client,
    workflows,
    worker,
    clientBackend,
    async stop() {
      await worker.stop();
      await clientBackend.stop();
      await workerBackend.stop();
    },
  };
}

function defineFourStep(ow) {
  return ow.defineWorkflow(
    { name: "bench-four-steps" },
    async ({ input, step }) => {
      await step.run({ name: "a" }, () => null);
      await step.run({ name: "b" }, () => null);
      await step.run({ name: "c" }, () => null);
      await step.run({ name: "d" }, () => null);
      return { i: input.i };
    },
  );
}

function defineOneStep(ow) {
  return ow.defineWorkflow(
    { name: "bench-one-step" },
    async ({ input, step }) => {
      await step.run({ name: "only" }, () => null);
      return { i: input.i };
    },
  );
}

// Runtime of the runs as recorded by the engine itself (first created_at to
// last finished_at), which excludes result()'s 1 s polling granularity.
async function dbMakespanSeconds(backend, workflowName) {
  const [row] = await backend.pg.unsafe(
    `SELECT EXTRACT(EPOCH FROM MAX(finished_at) - MIN(created_at))::float8 AS s,
            COUNT(*) FILTER (WHERE status = 'completed')::int AS completed
     FROM openworkflow.workflow_runs WHERE workflow_name = $1`,
    [workflowName],
  );
  return { seconds: row.s, completed: row.completed };
}

// throughput: the worker runs while the runs are started; backlog: every
// run is started first, then the worker starts (timed from its start).
async function throughput(lib, opts, workload = "throughput") {
  const runs = opts.runs ?? 1000;
  const concurrency = opts.concurrency ?? 100;
  const env = await setup(lib, opts.databaseUrl, concurrency, defineFourStep);
  try {
    let outputs;
    let t0;
    if (workload === "backlog") {
      const handles = await Promise.all(
        Array.from({ length: runs }, (_, i) => env.workflows.run({ i })),
      );
      t0 = performance.now();
      await env.worker.start();
      outputs = await Promise.all(handles.map((handle) => handle.result()));
    } else {
      await env.worker.start();
      t0 = performance.now();
      outputs = await Promise.all(
        Array.from({ length: runs }, async (_, i) => {
          const handle = await env.workflows.run({ i });
          return await handle.result();
        }),
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    outputs.forEach((output, i) => {
      if (output?.i !== i) {
        throw new Error(`run ${i}: bad output ${JSON.stringify(output)}`);
      }
    });
    const db = await dbMakespanSeconds(env.clientBackend, "bench-four-steps");
    emit({
      system: SYSTEM,
      workload,
      runs,
      stepsPerRun: 4,
      concurrency,
      seconds: round(seconds, 3),
      workflowsPerSecond: round(runs / seconds),
      stepsPerSecond: round((4 * runs) / seconds),
      completed: db.completed,
      dbMakespanSeconds: round(db.seconds, 3),
      dbWorkflowsPerSecond: round(runs / db.seconds),
    });
  } finally {
    await env.stop();
  }
}

async function latency(lib, opts) {
  const iterations = opts.runs ?? 50;
  const concurrency = opts.concurrency ?? 100;
  const env = await setup(lib, opts.databaseUrl, concurrency, defineOneStep);
  try {
    await env.worker.start();
    // Warm-up run (connections, JIT), then let the worker go idle again.
    await (await env.workflows.run({ i: -1 })).result();
    await sleep(2000);
    const samples = [];
    const dbSamples = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      const handle = await env.workflows.run({ i });
      const output = await handle.result();
      samples.push(performance.now() - t0);
      if (output?.i !== i) {
        throw new Error(`run ${i}: bad output ${JSON.stringify(output)}`);
      }
      const run = await env.clientBackend.getWorkflowRun({
        workflowRunId: handle.workflowRun.id,
      });
      dbSamples.push(run.finishedAt.getTime() - run.createdAt.getTime());
    }
    samples.sort((a, b) => a - b);
    dbSamples.sort((a, b) => a - b);
    emit({
      system: SYSTEM,
      workload: "latency",
      runs: iterations,
      stepsPerRun: 1,
      concurrency,
      p50Ms: round(percentile(samples, 50), 1),
      p95Ms: round(percentile(samples, 95), 1),
      maxMs: round(samples[samples.length - 1], 1),
      meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length, 1),
      dbP50Ms: percentile(dbSamples, 50),
      dbP95Ms: percentile(dbSamples, 95),
    });
  } finally {
    await env.stop();
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "database-url": { type: "string" },
      scratch: { type: "string" },
      runs: { type: "string" },
      concurrency: { type: "string" },
    },
  });
  const command = positionals[0] ?? process.env.OW_BASELINE_WORKLOAD;
  const scratch = resolve(
    values.scratch ?? process.env.OW_BASELINE_DIR ?? DEFAULT_SCRATCH,
  );
  if (command === "install") return install(scratch);
  if (!["throughput", "backlog", "latency"].includes(command)) {
    throw new Error(
      "usage: node baseline.mjs <install|throughput|backlog|latency> " +
        "[--database-url URL] [--scratch DIR] [--runs N] [--concurrency N]",
    );
  }
  const databaseUrl = values["database-url"] ?? process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("missing --database-url or DATABASE_URL");
  const opts = {
    databaseUrl,
    runs: values.runs === undefined ? undefined : Number(values.runs),
    concurrency: values.concurrency === undefined
      ? undefined
      : Number(values.concurrency),
  };
  const lib = await loadOpenWorkflow(scratch);
  log(`${command} on ${SYSTEM} from ${scratch}`);
  if (command === "latency") await latency(lib, opts);
  else await throughput(lib, opts, command);
}

runMain(main, log);
