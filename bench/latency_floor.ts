/**
 * The floor under run → result latency on Postgres: what the same
 * sequence of statements and wake-ups costs with nothing of the engine
 * around it, measured beside the engine, alternating, in one invocation.
 *
 * The floor is a client and a worker, in separate processes, talking only
 * through Postgres as the engine's do, each statement one round trip, each
 * prepared and committed on its own:
 *
 * 1. the client inserts a run and notifies (`pg_notify`, at commit);
 * 2. the worker, woken by its LISTEN connection, claims the run (an
 *    `UPDATE … RETURNING`), inserts the step's attempt, marks the attempt
 *    succeeded, and marks the run succeeded with its output, notifying;
 * 3. the client, woken by its LISTEN connection, has the result.
 *
 * Against it, the engine's own `bench/core.ts latency` (a one-step
 * workflow, its worker in another process). The gap between the two is
 * what the engine adds (its statements' work, its JavaScript, its
 * bookkeeping); the floor itself is the round trips and wake-ups of this
 * machine.
 *
 *   deno run -A bench/latency_floor.ts [--database-url URL]
 *     [--iterations 200] [--rounds 3]
 *
 * Prints a table and one JSON line. Each round uses fresh databases
 * (`owbench_scale_floor*`, dropped after; those of a run cut short are
 * dropped by the next).
 *
 * @module
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import {
  createScratchDatabase,
  DEFAULT_DATABASE_URL,
  dropStaleScratchDatabases,
  percentile,
  ratio,
  round,
} from "./scaling/common.ts";

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    "database-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ?? DEFAULT_DATABASE_URL,
    },
    iterations: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
  },
});

const ITERATIONS = Number(values.iterations);
const ROUNDS = Number(values.rounds);
const AVAILABLE = "floor_available";
const FINISHED = "floor_finished";

/** The tables of the floor: a run and a step attempt, keyed by UUID. */
async function createTables(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`CREATE TABLE runs (id uuid PRIMARY KEY, status text NOT NULL,
      worker_id text, output text, created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz)`;
    await sql`CREATE TABLE steps (id uuid PRIMARY KEY, run_id uuid NOT NULL,
      name text NOT NULL, status text NOT NULL, output text,
      created_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz)`;
    await sql`CREATE INDEX steps_run ON steps (run_id)`;
  } finally {
    await sql.end();
  }
}

/** The floor's worker: claims each run announced and runs its one step. */
async function worker(url: string): Promise<void> {
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  const workerId = crypto.randomUUID();
  let queue = Promise.resolve();
  await sql.listen(AVAILABLE, (id) => {
    queue = queue.then(async () => {
      const [run] = await sql`UPDATE runs SET status = 'running',
          worker_id = ${workerId}, updated_at = now()
        WHERE id = ${id} AND status = 'pending' RETURNING id`;
      if (run === undefined) return;
      const stepId = crypto.randomUUID();
      await sql`INSERT INTO steps (id, run_id, name, status)
        VALUES (${stepId}, ${id}, 'only', 'running')`;
      await sql`UPDATE steps SET status = 'succeeded', output = '1',
          completed_at = now()
        WHERE id = ${stepId} AND status = 'running'`;
      await sql`UPDATE runs SET status = 'succeeded', output = '1',
          updated_at = now()
        WHERE id = ${id} AND worker_id = ${workerId}
        RETURNING pg_notify(${FINISHED}, id::text || ' ' || output)`;
    });
  });
  console.log("ready");
  // Runs until the client closes standard input.
  for await (const _ of Deno.stdin.readable) {
    // nothing to read
  }
  await sql.end();
}

/** The floor's client: `ITERATIONS` runs, one after another. */
async function floorLatencies(url: string): Promise<number[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "worker", url],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const ready = await lines.read();
  if (!ready.value?.includes("ready")) throw new Error("the worker failed");
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  const waiting = new Map<string, () => void>();
  await sql.listen(FINISHED, (payload) => {
    waiting.get(payload.split(" ")[0])?.();
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < ITERATIONS + 10; i++) {
      const id = crypto.randomUUID();
      const started = performance.now();
      const done = new Promise<void>((resolve) => waiting.set(id, resolve));
      await sql`INSERT INTO runs (id, status) VALUES (${id}, 'pending')
        RETURNING pg_notify(${AVAILABLE}, id::text)`;
      await done;
      waiting.delete(id);
      // The first ten warm the connections and prepared statements up.
      if (i >= 10) times.push(performance.now() - started);
    }
  } finally {
    await sql.end();
    await child.stdin.close();
    await child.status;
    lines.releaseLock();
  }
  return times;
}

/** The engine's run → result latency (`bench/core.ts latency`). */
async function engineLatency(
  url: string,
): Promise<{ p50: number; p95: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./core.ts", import.meta.url).pathname,
      "latency",
      "--backend",
      "postgres",
      "--database-url",
      url,
      "--iterations",
      String(ITERATIONS),
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("bench/core.ts latency failed");
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const result = JSON.parse(lines[lines.length - 1]);
  return { p50: result.p50Ms, p95: result.p95Ms };
}

/** The median of `xs`, rounded. */
const median = (xs: readonly number[]) => round(percentile(xs, 50))!;

async function main(): Promise<void> {
  const url = values["database-url"];
  await dropStaleScratchDatabases(url);
  const rounds: {
    floor: { p50: number; p95: number };
    engine: { p50: number; p95: number };
  }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const floorDb = await createScratchDatabase(url, "floor");
    const engineDb = await createScratchDatabase(url, "floor_engine");
    try {
      await createTables(floorDb.url);
      const times = await floorLatencies(floorDb.url);
      const floor = {
        p50: round(percentile(times, 50))!,
        p95: round(percentile(times, 95))!,
      };
      const engine = await engineLatency(engineDb.url);
      rounds.push({ floor, engine });
      console.error(
        `round ${
          r + 1
        }: floor p50 ${floor.p50} ms, engine p50 ${engine.p50} ms`,
      );
    } finally {
      await floorDb.drop();
      await engineDb.drop();
    }
  }
  const summary = {
    floorP50: median(rounds.map((r) => r.floor.p50)),
    floorP95: median(rounds.map((r) => r.floor.p95)),
    engineP50: median(rounds.map((r) => r.engine.p50)),
    engineP95: median(rounds.map((r) => r.engine.p95)),
  };
  console.log(
    `\`deno run -A bench/latency_floor.ts --iterations ${ITERATIONS} --rounds ${ROUNDS}\`: run → result, ms (medians of the rounds)\n`,
  );
  console.log("| | p50 | p95 |\n| --- | --- | --- |");
  console.log(
    `| floor (the same statements and wake-ups, nothing else) | ${summary.floorP50} | ${summary.floorP95} |`,
  );
  console.log(
    `| engine (bench/core.ts latency) | ${summary.engineP50} | ${summary.engineP95} |`,
  );
  console.log(
    `| engine / floor | ${ratio(summary.engineP50, summary.floorP50)} | ${
      ratio(summary.engineP95, summary.floorP95)
    } |\n`,
  );
  console.log(JSON.stringify({ bench: "latency_floor", rounds, ...summary }));
}

if (positionals[0] === "worker") await worker(positionals[1]);
else await main();
