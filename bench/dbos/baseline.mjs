// Second peer of the benchmark: npm `@dbos-inc/dbos-sdk@5.3.0` on Postgres.
//
// Plain Node script (Node >= 20), the same contract as
// bench/openworkflow/baseline.mjs. It imports DBOS from a scratch folder
// outside the repository, never from the repo itself.
//
//   node bench/dbos/baseline.mjs install [--scratch DIR]
//   node bench/dbos/baseline.mjs throughput --database-url URL [--scratch DIR]
//   node bench/dbos/baseline.mjs latency --database-url URL [--scratch DIR]
//
// `install` copies package.json and package-lock.json (next to this file;
// exact versions, resolved URLs and integrity hashes for all 22 packages)
// into DIR and runs `npm ci`. They are files rather than embedded like the
// openworkflow baseline's two entries because DBOS brings 21 transitive
// packages, and npm itself can regenerate and audit them:
// `npm install --package-lock-only --no-omit-lockfile-registry-resolved`.
//
// The workloads expect a fresh, empty database created by the caller; it
// becomes DBOS's system database (`systemDatabaseUrl`), and DBOS creates its
// `dbos` schema there at launch. Each workload prints exactly one JSON line
// on stdout; DBOS's own logs and progress go to stderr. Exit code 0 on
// success, 1 on error, 2 on the 10 minute watchdog.
//
// How the workloads map onto DBOS (one process runs everything, as in
// bench/core.ts, with DBOS's defaults for everything not named here):
// - The workflows are plain functions registered with DBOS 5's
//   non-decorator API, `DBOS.registerWorkflow(fn, { name })`, and their
//   steps run through `DBOS.runStep(fn, { name })`. DBOS checkpoints each
//   step by inserting its output into `dbos.operation_outputs` after it
//   returns; the run itself is one `dbos.workflow_status` row.
// - throughput (`--mode queue`, the default): a backlog like ours. DBOS 5
//   replaced `new WorkflowQueue(...)` with `DBOS.registerQueue(name,
//   options)`, called after `DBOS.launch()`; the queue gets
//   `workerConcurrency: 100` (the per-process limit, like our worker's
//   `concurrency: 100`) and DBOS's default polling (`minPollingIntervalMs`
//   1,000, with jitter: each poll claims up to the free slots).
//   `DBOS.startWorkflow(fn, { queueName })(i)` only enqueues (an ENQUEUED
//   row); the handle's `getResult()` polls the row every 1,000 ms (DBOS's
//   default for a workflow it did not start inline).
// - latency (`--mode direct`, the default): `DBOS.startWorkflow(fn)(i)` with
//   no queue, DBOS's usual way to start a workflow: it writes the status row
//   and runs the workflow at once in this process (no claim, no concurrency
//   limit), and `getResult()` awaits that in-process promise.
// `--mode` swaps these for either workload, to see both execution paths.
//
// Environment fallbacks: DATABASE_URL, DBOS_BASELINE_WORKLOAD,
// DBOS_BASELINE_DIR.

import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { emit, logger, percentile, round, runMain, sleep } from "../peer.mjs";

const log = logger("dbos");

const DBOS_VERSION = "5.3.0";
const SYSTEM = `dbos-sdk@${DBOS_VERSION}`;
const DEFAULT_SCRATCH = "/tmp/dbos-baseline";
const QUEUE_NAME = "bench";
const here = dirname(fileURLToPath(import.meta.url));

function install(scratch) {
  mkdirSync(scratch, { recursive: true });
  for (const file of ["package.json", "package-lock.json"]) {
    copyFileSync(join(here, file), join(scratch, file));
  }
  execFileSync(
    "npm",
    ["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    { cwd: scratch, stdio: ["ignore", 2, 2] },
  );
  const installed = readInstalledVersion(scratch);
  if (installed !== DBOS_VERSION) {
    throw new Error(`expected dbos-sdk ${DBOS_VERSION}, got ${installed}`);
  }
  emit({ system: SYSTEM, installed: true, scratch });
}

function readInstalledVersion(scratch) {
  const file = join(
    scratch,
    "node_modules",
    "@dbos-inc",
    "dbos-sdk",
    "package.json",
  );
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")).version;
}

async function loadDbos(scratch) {
  const installed = readInstalledVersion(scratch);
  if (installed !== DBOS_VERSION) {
    throw new Error(
      `dbos-sdk ${DBOS_VERSION} not installed in ${scratch} ` +
        `(found ${installed}); run: node baseline.mjs install --scratch ${scratch}`,
    );
  }
  const require = createRequire(join(scratch, "package.json"));
  // The package is CommonJS: its exports arrive as `default`.
  const sdk = await import(
    pathToFileURL(require.resolve("@dbos-inc/dbos-sdk")).href
  );
  // pg is DBOS's own driver (a dependency of the SDK): used here only to
  // read the engine's timestamps after a workload.
  const pg = await import(pathToFileURL(require.resolve("pg")).href);
  return {
    DBOS: sdk.DBOS ?? sdk.default.DBOS,
    Client: pg.Client ?? pg.default.Client,
  };
}

// DBOS logs through this (info and up) to stderr, keeping stdout one line.
const stderrLogger = {
  info: (entry) => log(String(entry)),
  debug: () => {},
  warn: (entry) => log(`warn: ${String(entry)}`),
  error: (entry) => log(`error: ${entry?.stack ?? String(entry)}`),
};

async function setup(lib, opts) {
  const { DBOS } = lib;
  DBOS.setConfig({
    name: "owbench",
    applicationVersion: "bench",
    systemDatabaseUrl: opts.databaseUrl,
    logger: stderrLogger,
  });
  const four = DBOS.registerWorkflow(
    async (i) => {
      await DBOS.runStep(() => Promise.resolve(null), { name: "a" });
      await DBOS.runStep(() => Promise.resolve(null), { name: "b" });
      await DBOS.runStep(() => Promise.resolve(null), { name: "c" });
      await DBOS.runStep(() => Promise.resolve(null), { name: "d" });
      return { i };
    },
    { name: "bench-four-steps" },
  );
  const one = DBOS.registerWorkflow(
    async (i) => {
      await DBOS.runStep(() => Promise.resolve(null), { name: "only" });
      return { i };
    },
    { name: "bench-one-step" },
  );
  await DBOS.launch();
  if (opts.mode === "queue") {
    await DBOS.registerQueue(QUEUE_NAME, {
      workerConcurrency: opts.concurrency,
    });
  }
  const params = opts.mode === "queue" ? { queueName: QUEUE_NAME } : {};
  return {
    start: (workflow, i) => DBOS.startWorkflow(workflow, params)(i),
    four,
    one,
  };
}

async function withClient(lib, databaseUrl, fn) {
  const client = new lib.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// Runtime as recorded by DBOS itself (first created_at to last updated_at,
// epoch ms), which excludes getResult()'s 1 s polling granularity.
async function dbMakespanSeconds(lib, databaseUrl, workflowName) {
  return await withClient(lib, databaseUrl, async (client) => {
    const { rows: [row] } = await client.query(
      `SELECT ((MAX(updated_at) - MIN(created_at)) / 1000.0)::float8 AS s,
              COUNT(*) FILTER (WHERE status = 'SUCCESS')::int AS completed
       FROM dbos.workflow_status WHERE name = $1`,
      [workflowName],
    );
    return { seconds: row.s, completed: row.completed };
  });
}

async function dbDurationsMs(lib, databaseUrl, workflowIds) {
  return await withClient(lib, databaseUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT (updated_at - created_at)::float8 AS ms
       FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)`,
      [workflowIds],
    );
    return rows.map((row) => row.ms);
  });
}

async function throughput(lib, opts) {
  const runs = opts.runs ?? 1000;
  const env = await setup(lib, opts);
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  const handles = await Promise.all(
    Array.from({ length: runs }, (_, i) => env.start(env.four, i)),
  );
  const outputs = await Promise.all(handles.map((h) => h.getResult()));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  outputs.forEach((output, i) => {
    if (output?.i !== i) {
      throw new Error(`run ${i}: bad output ${JSON.stringify(output)}`);
    }
  });
  await lib.DBOS.shutdown();
  const db = await dbMakespanSeconds(lib, opts.databaseUrl, "bench-four-steps");
  emit({
    system: SYSTEM,
    workload: "throughput",
    mode: opts.mode,
    runs,
    stepsPerRun: 4,
    concurrency: opts.mode === "queue" ? opts.concurrency : null,
    seconds: round(seconds, 3),
    workflowsPerSecond: round(runs / seconds, 1),
    // This process's CPU time (client and executor) per run.
    cpuMsPerRun: round((cpu.user + cpu.system) / 1000 / runs, 3),
    completed: db.completed,
    dbMakespanSeconds: round(db.seconds, 3),
    dbWorkflowsPerSecond: round(runs / db.seconds, 1),
  });
}

async function latency(lib, opts) {
  const iterations = opts.runs ?? 50;
  const env = await setup(lib, opts);
  // Warm-up run (connections, JIT), then let DBOS go idle again.
  await (await env.start(env.one, -1)).getResult();
  await sleep(2000);
  const samples = [];
  const ids = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const handle = await env.start(env.one, i);
    const output = await handle.getResult();
    samples.push(performance.now() - t0);
    ids.push(handle.workflowID);
    if (output?.i !== i) {
      throw new Error(`run ${i}: bad output ${JSON.stringify(output)}`);
    }
  }
  await lib.DBOS.shutdown();
  const dbSamples = await dbDurationsMs(lib, opts.databaseUrl, ids);
  samples.sort((a, b) => a - b);
  dbSamples.sort((a, b) => a - b);
  emit({
    system: SYSTEM,
    workload: "latency",
    mode: opts.mode,
    iterations,
    stepsPerRun: 1,
    p50Ms: round(percentile(samples, 50)),
    p95Ms: round(percentile(samples, 95)),
    maxMs: round(samples[samples.length - 1]),
    meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length),
    dbP50Ms: percentile(dbSamples, 50),
    dbP95Ms: percentile(dbSamples, 95),
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "database-url": { type: "string" },
      scratch: { type: "string" },
      runs: { type: "string" },
      concurrency: { type: "string", default: "100" },
      mode: { type: "string" },
    },
  });
  const command = positionals[0] ?? process.env.DBOS_BASELINE_WORKLOAD;
  const scratch = resolve(
    values.scratch ?? process.env.DBOS_BASELINE_DIR ?? DEFAULT_SCRATCH,
  );
  if (command === "install") return install(scratch);
  if (command !== "throughput" && command !== "latency") {
    throw new Error(
      "usage: node baseline.mjs <install|throughput|latency> " +
        "[--database-url URL] [--scratch DIR] [--runs N] [--concurrency N] " +
        "[--mode queue|direct]",
    );
  }
  const mode = values.mode ?? (command === "throughput" ? "queue" : "direct");
  if (mode !== "queue" && mode !== "direct") {
    throw new Error(`--mode must be queue or direct, received ${mode}`);
  }
  const databaseUrl = values["database-url"] ?? process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("missing --database-url or DATABASE_URL");
  const opts = {
    databaseUrl,
    mode,
    runs: values.runs === undefined ? undefined : Number(values.runs),
    concurrency: Number(values.concurrency),
  };
  const lib = await loadDbos(scratch);
  log(`${command} (${mode}) on ${SYSTEM} from ${scratch}`);
  if (command === "throughput") await throughput(lib, opts);
  else await latency(lib, opts);
}

runMain(main, log);
