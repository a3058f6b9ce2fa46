/**
 * Signal latency of @openworkflow/core: the time from just before
 * `sendSignal()` is called to the moment the workflow code after
 * `step.waitForSignal()` runs, with the system idle.
 *
 *   deno task bench:signals                        # 3 rounds of 200 runs
 *   deno run -A bench/signals.ts --rounds 3
 *   deno run -A bench/signals.ts --runs 50 --rounds 1 --only sqlite
 *
 * Each round, for each setup, on a fresh store (Postgres: a fresh schema
 * `owbench_signals_p<pid>_<random>` with a random namespace in the
 * database of `--database-url`, dropped afterwards; SQLite: a file in a
 * fresh temporary directory, removed afterwards):
 *
 * 1. `--warmup` + `--runs` runs of a workflow that waits for signal `go`
 *    are started, and the worker (concurrency `--concurrency`, every other
 *    option at its default) parks them all: every run is `sleeping` and,
 *    in-process, `worker.activeCount` is 0.
 * 2. The signals are sent one at a time, `--gap-ms` after the previous run
 *    finished (in-process, also once the worker holds no run), so that
 *    each measurement is of an idle system. The first `--warmup` are not
 *    counted.
 * 3. Latency = the time the workflow code after `waitForSignal()` first ran
 *    (taken in the workflow function, stored by a step, read back from the
 *    run's result) minus the time just before `sendSignal()` was called.
 *
 * Setups:
 * - Postgres, worker in this process: the client and the worker have
 *   separate backends (separate pools, as in bench/core.ts); the worker is
 *   woken by the NOTIFY of the send, through this process's LISTEN
 *   connection.
 * - Postgres, worker in a child process (bench/signals_worker.ts): woken by
 *   NOTIFY through the child's LISTEN connection.
 * - SQLite, worker in this process: client and worker share one backend
 *   (one connection per process), so the send wakes the worker in-process.
 * - SQLite, worker in a child process: SQLite has no cross-process
 *   wake-ups yet, so the worker finds the run on its next poll
 *   (`pollIntervalMs`, 100 ms by default): the latency is about the poll
 *   interval, not the engine's wake-up path. The worker's poll timer
 *   starts over when it finishes the previous run, so a send `--gap-ms`
 *   later waits about 100 ms minus the gap (and the time to see the
 *   result): near the worst case. A send at a random moment waits 0 to
 *   100 ms, about 50 ms on average (`--gap-ms 50` shows it).
 *
 * Across processes both sides read the same machine clock
 * (`performance.timeOrigin + performance.now()`, sub-millisecond); the
 * child's offset from this process is estimated over its stdin/stdout
 * (the ping with the shortest round trip) and subtracted.
 *
 * Prints the command line, a Markdown table of the medians over the rounds
 * (of each round's p50, p95, p99 and max), one of every round, and a JSON
 * summary line; progress goes to stderr. The machine may be shared:
 * compare setups of one invocation, not absolute numbers across machines.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { relative } from "node:path";
import postgres from "postgres";
import { type Backend, OpenWorkflow, type Worker } from "../mod.ts";
import {
  DEFAULT_DATABASE_URL,
  noteDisturbance,
  percentile,
  retryOnRestart,
  sleep,
} from "./scaling/common.ts";
import {
  defineSignalWait,
  epochNow,
  openBackend,
  SIGNAL,
  type StoreKind,
  type StoreLocation,
} from "./signals_worker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
    warmup: { type: "string", default: "10" },
    "gap-ms": { type: "string", default: "5" },
    concurrency: { type: "string", default: "10" },
    "database-url": { type: "string" },
  },
});

function positiveInteger(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer of at least ${min}: ${text}`);
    Deno.exit(2);
  }
  return n;
}

const runs = positiveInteger("runs", values.runs);
const rounds = positiveInteger("rounds", values.rounds);
const warmup = positiveInteger("warmup", values.warmup, 0);
const gapMs = positiveInteger("gap-ms", values["gap-ms"], 0);
const concurrency = positiveInteger("concurrency", values.concurrency);
const databaseUrl = values["database-url"] ?? Deno.env.get("DATABASE_URL") ??
  DEFAULT_DATABASE_URL;
if (
  values.only !== undefined && values.only !== "postgres" &&
  values.only !== "sqlite"
) {
  console.error(`--only must be postgres or sqlite: ${values.only}`);
  Deno.exit(2);
}

const log = (line: string) => console.error(`[signals] ${line}`);

// Other test runs on a shared server restart it now and then: a dropped
// connection must not end the run. The measurement it disturbed is taken
// again (see retryOnRestart).
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  noteDisturbance(event.reason);
});
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  noteDisturbance(event.error);
});

interface Setup {
  id: string;
  kind: StoreKind;
  /** Whether the worker runs in a child process. */
  child: boolean;
  store: string;
  worker: string;
  wakeUp: string;
}

const SETUPS: Setup[] = [
  {
    id: "postgres-same-process",
    kind: "postgres",
    child: false,
    store: "Postgres",
    worker: "same process",
    wakeUp: "NOTIFY (this process's LISTEN connection)",
  },
  {
    id: "postgres-child-process",
    kind: "postgres",
    child: true,
    store: "Postgres",
    worker: "child process",
    wakeUp: "NOTIFY (the child's LISTEN connection)",
  },
  {
    id: "sqlite-same-process",
    kind: "sqlite",
    child: false,
    store: "SQLite file",
    worker: "same process",
    wakeUp: "in-process wake-up (one shared backend)",
  },
  {
    id: "sqlite-child-process",
    kind: "sqlite",
    child: true,
    store: "SQLite file",
    worker: "child process",
    wakeUp:
      "none across processes yet: the worker's next poll (pollIntervalMs 100)",
  },
];
const setups = SETUPS.filter((s) =>
  values.only === undefined || s.kind === values.only
);

/** One round of one setup. */
interface Round {
  /** Send → resume, ms, per counted run, in send order. */
  latenciesMs: number[];
  /** How long each `sendSignal()` call took, ms. */
  sendMs: number[];
  /** Child process: the estimated offset of its clock, and its bound. */
  clock: { offsetMs: number; boundMs: number } | null;
}

/** Reads a stream line by line. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line, or `null` at the end of the stream. */
  async next(): Promise<string | null> {
    while (true) {
      const end = this.#buffer.indexOf("\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#buffer += value;
    }
  }

  /** Reads until `predicate` holds for a line; throws at the end. */
  async until(predicate: (line: string) => boolean): Promise<string> {
    while (true) {
      const line = await this.next();
      if (line === null) throw new Error("the worker process exited");
      if (predicate(line)) return line;
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** The worker process of a measurement. */
class ChildWorker {
  readonly #process: Deno.ChildProcess;
  readonly #lines: Lines;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();

  constructor(store: StoreLocation) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./signals_worker.ts", import.meta.url).pathname,
        "--backend",
        store.kind,
        "--location",
        store.location,
        ...(store.schema === undefined ? [] : ["--schema", store.schema]),
        ...(store.namespaceId === undefined
          ? []
          : ["--namespace", store.namespaceId]),
        "--concurrency",
        String(concurrency),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = new Lines(this.#process.stdout);
    this.#stdin = this.#process.stdin.getWriter();
  }

  /** Waits (up to 60 s) for the child's worker to start. */
  async ready(): Promise<void> {
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), 60_000);
    try {
      await this.#lines.until((line) => line === "ready");
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Estimates the child's clock minus this process's: of `pings` round
   * trips, the one with the shortest; the error is at most half of it.
   */
  async clockOffset(
    pings = 50,
  ): Promise<{ offsetMs: number; boundMs: number }> {
    let best = { offsetMs: 0, boundMs: Infinity };
    for (let i = 0; i < pings; i++) {
      const sentAt = epochNow();
      await this.#stdin.write(this.#encoder.encode("ping\n"));
      const line = await this.#lines.until((l) => l.startsWith("pong "));
      const receivedAt = epochNow();
      const childAt = Number(line.slice(5));
      const boundMs = (receivedAt - sentAt) / 2;
      if (boundMs < best.boundMs) {
        best = { offsetMs: childAt - (sentAt + receivedAt) / 2, boundMs };
      }
    }
    return best;
  }

  /** Closes the child's stdin (it stops gracefully); kills it after 15 s. */
  async stop(): Promise<void> {
    const timer = setTimeout(() => {
      try {
        this.#process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 15_000);
    try {
      await this.#stdin.close().catch(() => {});
      await this.#lines.cancel();
      await this.#process.status;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How many runs of the namespace are `sleeping`. */
async function countSleeping(ow: OpenWorkflow): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page = await ow.listRuns({ status: "sleeping", limit: 1000, cursor });
    count += page.runs.length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return count;
}

/** Waits (up to `timeoutMs`) for `condition`, checking every `everyMs`. */
async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  everyMs: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(everyMs);
  }
}

/** Measures one round of `setup` on the fresh `store`. */
async function measure(setup: Setup, store: StoreLocation): Promise<Round> {
  const clientBackend = await openBackend(store);
  const backends: Backend[] = [clientBackend];
  let worker: Worker | null = null;
  let child: ChildWorker | null = null;
  try {
    const client = new OpenWorkflow({ backend: clientBackend });
    const wf = defineSignalWait(client);
    let clock: Round["clock"] = null;
    if (setup.child) {
      child = new ChildWorker(store);
      await child.ready();
      clock = await child.clockOffset();
    } else {
      // Postgres: a backend of its own, as a worker process would have;
      // SQLite: one connection per process, shared.
      const workerBackend = setup.kind === "postgres"
        ? await openBackend(store)
        : clientBackend;
      if (workerBackend !== clientBackend) backends.push(workerBackend);
      const workerSide = workerBackend === clientBackend
        ? client
        : new OpenWorkflow({ backend: workerBackend });
      if (workerSide !== client) defineSignalWait(workerSide);
      worker = workerSide.newWorker({ concurrency });
      await worker.start();
    }
    const total = warmup + runs;
    const handles = await Promise.all(
      Array.from({ length: total }, () => wf.run(null)),
    );
    await waitFor(
      `${total} parked runs`,
      async () =>
        await countSleeping(client) === total &&
        (worker === null || worker.activeCount === 0),
      20,
    );
    // A child's executions wind down just after parking the runs.
    await sleep(200);
    const idle = worker;
    const offsetMs = clock?.offsetMs ?? 0;
    // SQLite without wake-ups across processes: read the result often (it
    // only tells this process when the run is done; the time measured was
    // taken in the child).
    const resultOptions = setup.kind === "sqlite" && setup.child
      ? { timeoutMs: 60_000, pollIntervalMs: 5 }
      : { timeoutMs: 60_000 };
    const latenciesMs: number[] = [];
    const sendMs: number[] = [];
    for (const [i, handle] of handles.entries()) {
      if (idle !== null) {
        await waitFor("an idle worker", () => idle.activeCount === 0, 1);
      }
      await sleep(gapMs);
      const sentAt = epochNow();
      const sent = await client.sendSignal({
        signal: SIGNAL,
        data: i,
        workflowRunId: handle.id,
      });
      const sendEndedAt = epochNow();
      if (sent.workflowRunIds.length !== 1) {
        throw new Error(`run ${handle.id} was not waiting for the signal`);
      }
      const resumedAt = await handle.result(resultOptions);
      if (i < warmup) continue;
      latenciesMs.push(resumedAt - offsetMs - sentAt);
      sendMs.push(sendEndedAt - sentAt);
    }
    return { latenciesMs, sendMs, clock };
  } finally {
    await worker?.stop();
    await child?.stop();
    for (const backend of backends.reverse()) await backend.stop();
  }
}

/** Drops the schemas of this benchmark left by processes that are gone. */
async function dropStaleSchemas(): Promise<void> {
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`
      SELECT nspname FROM pg_namespace
      WHERE nspname LIKE 'owbench\_signals\_p%'`;
    for (const { nspname } of rows) {
      const pid = String(nspname).match(/^owbench_signals_p(\d+)_/)?.[1];
      if (pid === undefined || isAlive(Number(pid))) continue;
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${nspname} CASCADE`);
      log(`dropped schema ${nspname}, left by a run that was cut short`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Runs one round of `setup` on a fresh store, and removes the store. */
async function measureFresh(setup: Setup): Promise<Round> {
  if (setup.kind === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "owbench_signals_" });
    try {
      return await measure(setup, {
        kind: "sqlite",
        location: `${dir}/signals.db`,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  return await retryOnRestart(databaseUrl, setup.id, async () => {
    const random = crypto.randomUUID().replaceAll("-", "");
    const schema = `owbench_signals_p${Deno.pid}_${random.slice(0, 8)}`;
    try {
      return await measure(setup, {
        kind: "postgres",
        location: databaseUrl,
        schema,
        namespaceId: `bench-signals-${random}`,
      });
    } finally {
      const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    }
  }, log);
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface Stats {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  sendP50: number;
}

function statsOf(round: Round): Stats {
  return {
    p50: percentile(round.latenciesMs, 50),
    p95: percentile(round.latenciesMs, 95),
    p99: percentile(round.latenciesMs, 99),
    max: Math.max(...round.latenciesMs),
    sendP50: percentile(round.sendMs, 50),
  };
}

const ms = (n: number) => n.toFixed(2);

function markdownTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (r: string[]) =>
    `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(headers),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

function commandLine(): string {
  const script = relative(Deno.cwd(), new URL(import.meta.url).pathname);
  const quote = (arg: string) =>
    /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
  return ["deno", "run", "-A", script, ...Deno.args].map(quote).join(" ");
}

async function main(): Promise<void> {
  console.log(`\`${commandLine()}\``);
  console.log();
  console.log(
    `${
      new Date().toISOString()
    }, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs; ${runs} measured runs (after ${warmup} warm-up) per setup and round, ${rounds} round(s), gap ${gapMs} ms, worker concurrency ${concurrency}`,
  );
  if (setups.some((s) => s.kind === "postgres")) await dropStaleSchemas();
  const results = new Map<Setup, Round[]>(setups.map((s) => [s, []]));
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so that no setup always runs first.
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) {
      const result = await measureFresh(setup);
      results.get(setup)!.push(result);
      const s = statsOf(result);
      log(
        `round ${round + 1}/${rounds} ${setup.id}: p50 ${ms(s.p50)} p95 ${
          ms(s.p95)
        } p99 ${ms(s.p99)} max ${ms(s.max)} ms${
          result.clock === null
            ? ""
            : ` (child clock offset ${ms(result.clock.offsetMs)} ± ${
              ms(result.clock.boundMs)
            } ms)`
        }`,
      );
    }
  }

  const summary: Record<string, unknown> = {
    bench: "signals",
    date: new Date().toISOString(),
    runs,
    rounds,
    warmup,
    gapMs,
  };
  const rows = setups.map((setup) => {
    const stats = results.get(setup)!.map(statsOf);
    const of = (key: keyof Stats) => median(stats.map((s) => s[key]));
    const p50s = stats.map((s) => s.p50);
    summary[setup.id] = {
      p50Ms: Number(ms(of("p50"))),
      p95Ms: Number(ms(of("p95"))),
      p99Ms: Number(ms(of("p99"))),
      maxMs: Number(ms(of("max"))),
      sendSignalP50Ms: Number(ms(of("sendP50"))),
    };
    return [
      setup.store,
      setup.worker,
      setup.wakeUp,
      ms(of("p50")),
      ms(of("p95")),
      ms(of("p99")),
      ms(of("max")),
      `${ms(Math.min(...p50s))}–${ms(Math.max(...p50s))}`,
      ms(of("sendP50")),
    ];
  });
  console.log();
  console.log(
    `Send → resume latency, ms: median over ${rounds} round(s) of each round's percentile of ${runs} runs`,
  );
  console.log();
  console.log(markdownTable([
    "store",
    "worker",
    "wake-up path",
    "p50",
    "p95",
    "p99",
    "max",
    "p50 range",
    "sendSignal() p50",
  ], rows));

  const roundRows: string[][] = [];
  for (const setup of setups) {
    for (const [i, result] of results.get(setup)!.entries()) {
      const s = statsOf(result);
      roundRows.push([
        setup.id,
        String(i + 1),
        ms(s.p50),
        ms(s.p95),
        ms(s.p99),
        ms(s.max),
        result.clock === null
          ? "-"
          : `${result.clock.offsetMs.toFixed(3)} ± ${
            result.clock.boundMs.toFixed(3)
          }`,
      ]);
    }
  }
  console.log();
  console.log("Every round, ms:");
  console.log();
  console.log(markdownTable([
    "setup",
    "round",
    "p50",
    "p95",
    "p99",
    "max",
    "child clock offset (subtracted)",
  ], roundRows));
  console.log();
  console.log(JSON.stringify(summary));
}

try {
  await main();
} catch (error) {
  // The handlers above would otherwise swallow it.
  console.error("[signals] failed:", error);
  Deno.exit(1);
}
