/**
 * The chaos harness: starts worker processes on a fresh database, starts
 * runs of the chaos workflows, and keeps killing workers (SIGKILL, and now
 * and then a graceful SIGTERM), restarting them, dropping their database
 * connections and restarting the database server until every run is
 * terminal. Then it checks every run's outcome and the side-effect ledger
 * (see `verify.ts`) and reports.
 *
 * Recovery times are defined in recovery.ts.
 */

import { OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import type { WorkflowRunHandle } from "../../mod.ts";
import { WorkerPool } from "./pool.ts";
import { RecoveryTracker } from "./recovery.ts";
import type { ChaosReport } from "./report.ts";
import { type ChaosStore, openStore, type StoreKind } from "./store.ts";
import { type ActualOutcome, type RunRecord, verifyChaos } from "./verify.ts";
import { between, retrying, seededRandom, sleep } from "./util.ts";
import {
  type ChaosInput,
  type ChaosWorkflows,
  defineChaosWorkflows,
  DOOMED_RUN,
  PIPELINE,
} from "./workflows.ts";

export { type ChaosReport, formatReport } from "./report.ts";

/** What a chaos run does. */
export interface ChaosOptions {
  backend: StoreKind;
  /** The Postgres server to create the database on. */
  databaseUrl: string;
  /** How many worker processes run at once. */
  workers: number;
  /** How many workflow runs to start. */
  runs: number;
  /** Every n-th run is of the workflow that fails on purpose. */
  doomedEvery: number;
  /** The runs are started in this many waves… */
  waves: number;
  /** …this far apart. */
  waveIntervalMs: number;
  /** The shape of each run. */
  shape: Omit<ChaosInput, "seed">;
  /** The workers' lease duration. */
  leaseMs: number;
  /** Runs per worker process at once. */
  concurrency: number;
  /** The wait between two faults. */
  faultIntervalMs: readonly [number, number];
  /** The wait before a killed worker is started again. */
  respawnDelayMs: readonly [number, number];
  /** Every n-th kill is a graceful SIGTERM instead of SIGKILL; 0: never. */
  gracefulEvery: number;
  /** Postgres: how many times to terminate the workers' connections. */
  connectionDrops: number;
  /** Postgres: how many times to restart the server. */
  serverRestarts: number;
  /** How many times to freeze a worker (SIGSTOP) past its lease. */
  freezes?: number;
  /** How long a frozen worker stays stopped (default: twice the lease). */
  freezeMs?: number;
  /** The longest the whole batch may take; later, runs count as stuck. */
  timeoutMs: number;
  /** Seeds the choice of victims and the fault timings. */
  seed: number;
  /** Receives progress lines. */
  log?: (line: string) => void;
  /** Keeps the database afterwards, for inspection. */
  keep?: boolean;
  /** A PgBouncer in front of `databaseUrl` for the workers' engines. */
  poolerUrl?: string;
}

/** Runs one chaos batch and reports. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const store = await openStore(
    options.backend,
    options.databaseUrl,
    options.poolerUrl,
  );
  try {
    return await new ChaosRun(options, store).run();
  } finally {
    await store.close({ keep: options.keep });
  }
}

class ChaosRun {
  readonly #o: ChaosOptions;
  readonly #store: ChaosStore;
  readonly #random: () => number;
  readonly #log: (line: string) => void;
  readonly #violations: string[] = [];
  readonly #knownIssues: string[] = [];
  readonly #resultErrors: Record<string, number> = {};
  readonly #recovery: RecoveryTracker;
  #pool: WorkerPool | null = null;
  #done = 0;
  #kills = 0;
  #freezes = 0;
  /** Freezes under way; awaited before the pool stops. */
  readonly #frozen: Promise<void>[] = [];
  #gracefulStops = 0;
  #drops = 0;
  #terminated = 0;
  #restarts = 0;

  constructor(options: ChaosOptions, store: ChaosStore) {
    this.#o = options;
    this.#store = store;
    this.#random = seededRandom(options.seed);
    this.#log = options.log ?? (() => {});
    this.#recovery = new RecoveryTracker(store);
  }

  async run(): Promise<ChaosReport> {
    const o = this.#o;
    const startedAt = performance.now();
    const ow = new OpenWorkflow({ backend: this.#store.backend });
    const workflows = defineChaosWorkflows(ow, {
      record: () => Promise.resolve(),
    });
    const pool = this.#pool = new WorkerPool({
      store: this.#store,
      workers: o.workers,
      leaseMs: o.leaseMs,
      concurrency: o.concurrency,
      respawnDelayMs: o.respawnDelayMs,
      random: this.#random,
      onViolation: (violation) => this.#violations.push(violation),
      onKnownIssue: (issue) => this.#knownIssues.push(issue),
      log: this.#log,
    });
    const records: RunRecord[] = [];
    const waiters: Promise<void>[] = [];
    const deadline = startedAt + o.timeoutMs;
    const starting = this.#startRuns(workflows, records, waiters, deadline);
    await this.#chaos(pool, starting);
    await starting;
    await Promise.all(waiters);
    await Promise.all(this.#frozen);
    const recovery = await this.#recovery.finish();
    await pool.shutdown();
    const unfinished = records.filter((r) => r.outcome === null);
    if (unfinished.length > 0) {
      const marks = await this.#store.marks(unfinished.map((r) => r.id));
      for (const run of unfinished.slice(0, 10)) {
        this.#violations.push(
          `stuck run: ${JSON.stringify(marks.get(run.id) ?? run.id)}`,
        );
      }
    }
    const verification = verifyChaos(
      records,
      await this.#store.attempts(),
      await this.#store.effects(),
    );
    return {
      backend: o.backend,
      runs: records.length,
      succeeded:
        records.filter((r) => r.outcome?.status === "succeeded").length,
      failed: records.filter((r) => r.outcome?.status === "failed").length,
      durationMs: Math.round(performance.now() - startedAt),
      kills: this.#kills,
      freezes: this.#freezes,
      gracefulStops: this.#gracefulStops,
      connectionDrops: this.#drops,
      connectionsTerminated: this.#terminated,
      serverRestarts: this.#restarts,
      workerStartFailures: pool.startFailures,
      resultErrors: this.#resultErrors,
      recovery,
      verification,
      violations: [...this.#violations, ...verification.violations],
      knownIssues: this.#knownIssues,
    };
  }

  /** Starts the runs in waves, each with a `result()` caller. */
  async #startRuns(
    workflows: ChaosWorkflows,
    records: RunRecord[],
    waiters: Promise<void>[],
    deadline: number,
  ): Promise<void> {
    const o = this.#o;
    const perWave = Math.ceil(o.runs / o.waves);
    for (let wave = 0; wave < o.waves; wave++) {
      if (wave > 0) await sleep(o.waveIntervalMs);
      const count = Math.min(perWave, o.runs - records.length);
      const started = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const seed = records.length + i + 1;
          const input: ChaosInput = { seed, ...o.shape };
          const doomed = o.doomedEvery > 0 && seed % o.doomedEvery === 0;
          const handle: WorkflowRunHandle<unknown> = await retrying(() =>
            doomed
              ? workflows.doomedRun.run(input)
              : workflows.pipeline.run(input)
          );
          return {
            handle,
            input,
            workflowName: doomed ? DOOMED_RUN : PIPELINE,
          };
        }),
      );
      for (const { handle, input, workflowName } of started) {
        const record: RunRecord = {
          id: handle.id,
          workflowName,
          input,
          outcome: null,
        };
        records.push(record);
        waiters.push(this.#await(handle, record, deadline));
      }
      this.#log(`started ${records.length}/${o.runs} runs`);
    }
  }

  /**
   * Waits for one run's result. A rejection that is not the run's own
   * outcome (a connection error while the server restarts) is counted and
   * the wait goes on: the caller must still get the result.
   */
  async #await(
    handle: WorkflowRunHandle<unknown>,
    record: RunRecord,
    deadline: number,
  ): Promise<void> {
    while (true) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) break;
      try {
        const output = await handle.result({
          timeoutMs: remainingMs,
          pollIntervalMs: 500,
        });
        record.outcome = { status: "succeeded", output };
        break;
      } catch (error) {
        if (error instanceof WorkflowFailedError) {
          const cause = error.cause as Error;
          record.outcome = {
            status: "failed",
            errorName: cause.name,
            errorMessage: cause.message,
          };
          break;
        }
        const name = error instanceof Error ? error.name : typeof error;
        if (name === "ResultTimeoutError") break;
        if (
          name === "WorkflowCanceledError" ||
          name === "WorkflowRunNotFoundError"
        ) {
          record.outcome = {
            status: "other",
            detail: name,
          } satisfies ActualOutcome;
          break;
        }
        this.#resultErrors[name] = (this.#resultErrors[name] ?? 0) + 1;
        await sleep(250);
      }
    }
    this.#done++;
  }

  /** Injects faults until every run is terminal (or the time is up). */
  async #chaos(pool: WorkerPool, starting: Promise<void>): Promise<void> {
    const o = this.#o;
    let startedAll = false;
    starting.then(() => startedAll = true, () => startedAll = true);
    // Database faults strike while runs are in flight: at these shares of
    // the time over which the runs are started (new runs keep arriving
    // until then, so there is always work in flight), in this order.
    const startingMs = Math.max(1, o.waves * o.waveIntervalMs);
    const plan: { at: number; kind: "drop" | "restart" | "freeze" }[] = [];
    for (let i = 0; i < (o.freezes ?? 0); i++) {
      plan.push({
        at: startingMs * (0.2 + (0.6 * i) / Math.max(1, o.freezes ?? 0)),
        kind: "freeze",
      });
    }
    for (let i = 0; i < o.connectionDrops; i++) {
      plan.push({
        at: startingMs * (0.1 + (0.7 * i) / Math.max(1, o.connectionDrops)),
        kind: "drop",
      });
    }
    for (let i = 0; i < o.serverRestarts; i++) {
      plan.push({
        at: startingMs * (0.3 + (0.5 * i) / Math.max(1, o.serverRestarts)),
        kind: "restart",
      });
    }
    plan.sort((a, b) => a.at - b.at);
    const startedAt = performance.now();
    const deadline = performance.now() + o.timeoutMs;
    let loggedAt = performance.now();
    while (performance.now() < deadline) {
      await sleep(between(this.#random, o.faultIntervalMs));
      if (performance.now() - loggedAt > 5000) {
        loggedAt = performance.now();
        this.#log(
          `${this.#done}/${o.runs} runs done, ${this.#kills} kills, ${this.#gracefulStops} graceful stops`,
        );
      }
      if (startedAll && this.#done >= o.runs) break;
      const next = plan[0];
      if (next !== undefined && performance.now() - startedAt >= next.at) {
        plan.shift();
        if (next.kind === "freeze") {
          const frozen = pool.pickReady();
          if (frozen !== null) {
            const ms = o.freezeMs ?? o.leaseMs * 2;
            this.#freezes++;
            this.#log(`froze a worker for ${ms} ms`);
            // In the background: the other faults go on meanwhile.
            this.#frozen.push(pool.freeze(frozen, ms));
          }
          continue;
        }
        await (next.kind === "drop"
          ? this.#dropConnections()
          : this.#restartServer());
        continue;
      }
      const slot = pool.pickReady();
      if (slot === null) continue;
      const graceful = o.gracefulEvery > 0 &&
        (this.#kills + this.#gracefulStops + 1) % o.gracefulEvery === 0;
      if (graceful) {
        await pool.stopGracefully(slot);
        this.#gracefulStops++;
      } else {
        const { at, held } = await pool.kill(slot);
        this.#kills++;
        this.#recovery.track("kill", at, held);
      }
    }
  }

  async #dropConnections(): Promise<void> {
    const held = await retrying(() => this.#store.heldRuns());
    const at = performance.now();
    this.#pool!.lastDatabaseFaultAt = at;
    const count = await retrying(() => this.#store.dropWorkerConnections());
    this.#drops++;
    this.#terminated += count;
    this.#log(
      `dropped ${count} worker connections (${this.#done}/${this.#o.runs} runs done)`,
    );
    this.#recovery.track("drop", at, held);
  }

  async #restartServer(): Promise<void> {
    const held = await retrying(() => this.#store.heldRuns());
    this.#log(
      `restarting the database server (${this.#done}/${this.#o.runs} runs done, ${held.length} running)`,
    );
    const at = performance.now();
    this.#pool!.lastDatabaseFaultAt = at;
    const tookMs = await this.#store.restartServer();
    this.#pool!.lastDatabaseFaultAt = performance.now();
    this.#restarts++;
    this.#log(
      `the database server was back after ${Math.round(tookMs)} ms`,
    );
    this.#recovery.track("restart", at, held);
  }
}
