/**
 * The chaos harness: starts worker processes on a fresh database, starts
 * runs of the chaos workflows, and keeps killing workers (SIGKILL, and now
 * and then a graceful SIGTERM), restarting them, dropping their database
 * connections and restarting the database server until every run is
 * terminal. Then it checks every run's outcome and the side-effect ledger
 * (see `verify.ts`) and reports.
 *
 * Recovery time of a fault: from the moment the fault is injected (the
 * SIGKILL sent, the connections terminated, the restart begun) until every
 * run that was `running` under the fault's victims at that moment has been
 * written again (claimed by another worker, heartbeated, parked or
 * finished), as seen by polling the database every 25 ms. For a SIGKILL it
 * is the time the killed worker's runs waited for their leases to expire
 * and for another worker to claim them.
 */

import { OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import type { WorkflowRunHandle } from "../../mod.ts";
import { WorkerProcess } from "./processes.ts";
import {
  type ChaosStore,
  openStore,
  type RunMark,
  type StoreKind,
} from "./store.ts";
import {
  type ActualOutcome,
  type RunRecord,
  type Verification,
  verifyChaos,
} from "./verify.ts";
import {
  between,
  type DurationStats,
  retrying,
  seededRandom,
  sleep,
  stats,
} from "./util.ts";
import {
  type ChaosInput,
  type ChaosWorkflows,
  defineChaosWorkflows,
  DOOMED_RUN,
  PIPELINE,
} from "./workflows.ts";

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
  /** The longest the whole batch may take; later, runs count as stuck. */
  timeoutMs: number;
  /** Seeds the choice of victims and the fault timings. */
  seed: number;
  /** Receives progress lines. */
  log?: (line: string) => void;
  /** Keeps the database afterwards, for inspection. */
  keep?: boolean;
}

/** What a chaos run found. */
export interface ChaosReport {
  backend: StoreKind;
  runs: number;
  succeeded: number;
  failed: number;
  durationMs: number;
  kills: number;
  gracefulStops: number;
  connectionDrops: number;
  connectionsTerminated: number;
  serverRestarts: number;
  /** Worker processes that exited before ready (e.g. the server was down). */
  workerStartFailures: number;
  /** `result()` rejections on transient errors, by error name. */
  resultErrors: Record<string, number>;
  recovery: Record<"kill" | "drop" | "restart", DurationStats>;
  verification: Verification;
  /** Every broken guarantee; empty when the run passed. */
  violations: string[];
}

type FaultKind = "kill" | "drop" | "restart";

interface Slot {
  index: number;
  generation: number;
  process: WorkerProcess | null;
  busy: boolean;
}

/** Runs one chaos batch and reports. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const store = await openStore(options.backend, options.databaseUrl);
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
  readonly #slots: Slot[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #trackers: Promise<void>[] = [];
  readonly #recovery: Record<FaultKind, number[]> = {
    kill: [],
    drop: [],
    restart: [],
  };
  readonly #violations: string[] = [];
  readonly #resultErrors: Record<string, number> = {};
  readonly #finished = new AbortController();
  #done = 0;
  #kills = 0;
  #gracefulStops = 0;
  #drops = 0;
  #terminated = 0;
  #restarts = 0;
  #startFailures = 0;
  #lastDbFaultAt = -Infinity;

  constructor(options: ChaosOptions, store: ChaosStore) {
    this.#o = options;
    this.#store = store;
    this.#random = seededRandom(options.seed);
    this.#log = options.log ?? (() => {});
  }

  async run(): Promise<ChaosReport> {
    const o = this.#o;
    const startedAt = performance.now();
    const ow = new OpenWorkflow({ backend: this.#store.backend });
    const workflows = defineChaosWorkflows(ow, {
      record: () => Promise.resolve(),
    });
    for (let i = 0; i < o.workers; i++) {
      const slot: Slot = {
        index: i,
        generation: 0,
        process: null,
        busy: false,
      };
      this.#slots.push(slot);
      this.#spawn(slot);
    }
    const records: RunRecord[] = [];
    const waiters: Promise<void>[] = [];
    const deadline = startedAt + o.timeoutMs;
    const starting = this.#startRuns(workflows, records, waiters, deadline);
    await this.#chaos(starting);
    await starting;
    await Promise.all(waiters);
    this.#finished.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(this.#trackers);
    await this.#shutdown();
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
      gracefulStops: this.#gracefulStops,
      connectionDrops: this.#drops,
      connectionsTerminated: this.#terminated,
      serverRestarts: this.#restarts,
      workerStartFailures: this.#startFailures,
      resultErrors: this.#resultErrors,
      recovery: {
        kill: stats(this.#recovery.kill),
        drop: stats(this.#recovery.drop),
        restart: stats(this.#recovery.restart),
      },
      verification,
      violations: [...this.#violations, ...verification.violations],
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
  async #chaos(starting: Promise<void>): Promise<void> {
    const o = this.#o;
    let startedAll = false;
    starting.then(() => startedAll = true, () => startedAll = true);
    // Database faults strike while runs are in flight: when these shares
    // of the runs have finished.
    const plan: { at: number; kind: FaultKind }[] = [];
    for (let i = 0; i < o.connectionDrops; i++) {
      plan.push({
        at: 0.1 + (0.6 * i) / Math.max(1, o.connectionDrops),
        kind: "drop",
      });
    }
    for (let i = 0; i < o.serverRestarts; i++) {
      plan.push({
        at: 0.25 + (0.5 * i) / Math.max(1, o.serverRestarts),
        kind: "restart",
      });
    }
    plan.sort((a, b) => a.at - b.at);
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
      if (next !== undefined && startedAll && this.#done / o.runs >= next.at) {
        plan.shift();
        await (next.kind === "drop"
          ? this.#dropConnections()
          : this.#restartServer());
        continue;
      }
      const ready = this.#slots.filter((s) => !s.busy && s.process?.isReady);
      if (ready.length === 0) continue;
      const slot = ready[Math.floor(this.#random() * ready.length)];
      const graceful = o.gracefulEvery > 0 &&
        (this.#kills + this.#gracefulStops + 1) % o.gracefulEvery === 0;
      await (graceful ? this.#stopGracefully(slot, true) : this.#kill(slot));
    }
  }

  #spawn(slot: Slot): void {
    const o = this.#o;
    slot.generation++;
    const process = new WorkerProcess({
      backend: o.backend,
      engineUrl: this.#store.workerLocation(slot.index, "engine"),
      effectsUrl: this.#store.workerLocation(slot.index, "effects"),
      namespaceId: this.#store.namespaceId,
      workerId: `w${slot.index}g${slot.generation}`,
      leaseMs: o.leaseMs,
      pollMs: 50,
      concurrency: o.concurrency,
    });
    slot.process = process;
    process.exited.then((exit) => {
      if (slot.process !== process || slot.busy) return; // exit we caused
      slot.process = null;
      if (!exit.wasReady && exit.signal === null) {
        this.#startFailures++; // e.g. the server was restarting
        if (this.#startFailures <= 3) {
          this.#log(
            `worker ${process.workerId} failed to start: ${exit.stderrTail}`,
          );
        }
      } else {
        this.#violations.push(
          `worker ${process.workerId} exited on its own (code ${exit.code}, signal ${exit.signal}): ${exit.stderrTail}`,
        );
      }
      this.#respawnLater(slot, 200);
    });
  }

  #respawnLater(slot: Slot, delayMs: number): void {
    if (this.#finished.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#finished.signal.aborted) this.#spawn(slot);
    }, delayMs);
    this.#timers.add(timer);
  }

  async #kill(slot: Slot): Promise<void> {
    const process = slot.process!;
    slot.busy = true;
    const at = performance.now();
    process.kill("SIGKILL");
    await process.exited;
    this.#kills++;
    slot.busy = false;
    slot.process = null;
    this.#respawnLater(slot, between(this.#random, this.#o.respawnDelayMs));
    const held = await retrying(() => this.#store.heldRuns(process.workerId));
    this.#track("kill", at, held);
  }

  /**
   * SIGTERM: the worker stops gracefully (two overlapping `stop()` calls
   * and a third after). It must exit 0 having finished or parked every run
   * in flight, holding none.
   */
  async #stopGracefully(slot: Slot, respawn: boolean): Promise<void> {
    const process = slot.process!;
    slot.busy = true;
    process.kill("SIGTERM");
    const exited = new AbortController();
    const timeout = sleep(30_000, exited.signal).then(() => null);
    const exit = await Promise.race([process.exited, timeout]);
    exited.abort();
    if (exit === null) {
      this.#violations.push(
        `worker ${process.workerId}: graceful stop did not finish in 30 s`,
      );
      process.kill("SIGKILL");
      await process.exited;
    } else if (
      exit.wasReady && (exit.code !== 0 || exit.stopped?.activeCount !== 0)
    ) {
      this.#violations.push(
        `worker ${process.workerId}: graceful stop ended with code ${exit.code}, ${
          JSON.stringify(exit.stopped)
        }: ${exit.stderrTail}`,
      );
    }
    if (respawn) this.#gracefulStops++;
    slot.busy = false;
    slot.process = null;
    // A run whose execution a database fault aborted stays held until its
    // lease expires; only a stop well clear of such faults must hold none.
    const held = await retrying(() => this.#store.heldRuns(process.workerId));
    if (
      held.length > 0 &&
      performance.now() - this.#lastDbFaultAt > 3 * this.#o.leaseMs
    ) {
      this.#violations.push(
        `worker ${process.workerId}: ${held.length} run(s) still held after a graceful stop`,
      );
    }
    if (respawn) {
      this.#respawnLater(slot, between(this.#random, this.#o.respawnDelayMs));
    }
  }

  async #dropConnections(): Promise<void> {
    const held = await retrying(() => this.#store.heldRuns());
    const at = performance.now();
    this.#lastDbFaultAt = at;
    const count = await retrying(() => this.#store.dropWorkerConnections());
    this.#drops++;
    this.#terminated += count;
    this.#log(
      `dropped ${count} worker connections (${this.#done}/${this.#o.runs} runs done)`,
    );
    this.#track("drop", at, held);
  }

  async #restartServer(): Promise<void> {
    const held = await retrying(() => this.#store.heldRuns());
    const at = performance.now();
    this.#lastDbFaultAt = at;
    const tookMs = await this.#store.restartServer();
    this.#lastDbFaultAt = performance.now();
    this.#restarts++;
    this.#log(
      `restarted the database server in ${
        Math.round(tookMs)
      } ms (${this.#done}/${this.#o.runs} runs done)`,
    );
    this.#track("restart", at, held);
  }

  /** Measures how long until every run in `held` is written again. */
  #track(kind: FaultKind, at: number, held: readonly RunMark[]): void {
    if (held.length === 0) return;
    this.#trackers.push((async () => {
      const pending = new Map(held.map((mark) => [mark.id, mark]));
      while (pending.size > 0) {
        // Every run is terminal once the batch is over: a run still pending
        // here means the tracker cannot read the database; give up.
        if (this.#finished.signal.aborted) return;
        let marks: Map<string, RunMark>;
        try {
          marks = await this.#store.marks([...pending.keys()]);
        } catch {
          await sleep(100);
          continue;
        }
        for (const [id, before] of pending) {
          const now = marks.get(id);
          if (
            now === undefined || now.status !== "running" ||
            now.updatedAtMs > before.updatedAtMs ||
            now.workerId !== before.workerId
          ) pending.delete(id);
        }
        if (pending.size > 0) await sleep(25);
      }
      this.#recovery[kind].push(performance.now() - at);
    })());
  }

  /** Stops every worker gracefully once the batch is done. */
  async #shutdown(): Promise<void> {
    await Promise.all(this.#slots.map(async (slot) => {
      const process = slot.process;
      if (process === null) return;
      if (!process.isReady) {
        slot.busy = true;
        process.kill("SIGKILL");
        await process.exited;
        return;
      }
      await this.#stopGracefully(slot, false);
    }));
  }
}

/** One line per figure, for logs and the bench output. */
export function formatReport(report: ChaosReport): string {
  const r = report.recovery;
  const recovery = (name: string, s: DurationStats) =>
    `${name}: ${s.count} measured, max ${s.maxMs} ms, mean ${s.meanMs} ms`;
  return [
    `backend: ${report.backend}`,
    `runs: ${report.runs} (${report.succeeded} succeeded, ${report.failed} failed as designed or not)`,
    `duration: ${report.durationMs} ms`,
    `kills (SIGKILL): ${report.kills}`,
    `graceful stops (SIGTERM) during load: ${report.gracefulStops}`,
    `connection drops: ${report.connectionDrops} (${report.connectionsTerminated} connections terminated)`,
    `server restarts: ${report.serverRestarts}`,
    `worker start failures (server down): ${report.workerStartFailures}`,
    `result() transient rejections: ${JSON.stringify(report.resultErrors)}`,
    `step attempts: ${report.verification.stepAttempts}`,
    `side effects: ${report.verification.sideEffects}`,
    `steps re-executed before their success was recorded: ${report.verification.reexecutedSteps}`,
    `side effects after success (duplicates): ${
      report.violations.filter((v) => v.includes("side effect")).length
    }`,
    `recovery ${recovery("after kill", r.kill)}`,
    `recovery ${recovery("after connection drop", r.drop)}`,
    `recovery ${recovery("after server restart", r.restart)}`,
    `violations: ${report.violations.length}`,
    ...report.violations.slice(0, 20).map((v) => `  - ${v}`),
  ].join("\n");
}
