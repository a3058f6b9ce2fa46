/**
 * The soak: mixed load for a while on a fresh Postgres database, with
 * worker kills and one server restart, then checks and figures.
 *
 * Two long-lived worker processes and one that is SIGKILLed every
 * `killEveryMs` and started again. The client starts soak orders
 * continuously (steps, sleeps, a retried step, a child workflow, a signal
 * wait), confirms half of them with a signal, and cancels one in ten. At
 * half time the server restarts (immediate shutdown). Once the time is up,
 * no new run starts and every run must end as expected: succeeded
 * (confirmed or not) or canceled. Measured: the long-lived workers'
 * resident memory (sampled every few seconds; the slope after the first
 * quarter, by least squares), the database's connection count (max), and
 * the tables' sizes.
 */

import postgres from "npm-postgres";
import { OpenWorkflow, type WorkflowRunHandle } from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { restartPostgres } from "../chaos/store_postgres.ts";
import { defineSoak, type SoakOrder } from "./workflows.ts";

const WORKER = new URL("./worker.ts", import.meta.url).pathname;

/** How a soak runs. */
export interface SoakOptions {
  databaseUrl: string;
  durationMs: number;
  /** How often the churning worker is killed. */
  killEveryMs: number;
  /** Orders started per second. */
  ratePerS: number;
  log?: (line: string) => void;
  /**
   * The Debian cluster `databaseUrl` is on, restarted at half time (the
   * machine's main one on 5432 by default).
   */
  cluster?: { name: string; port: number };
}

/** What a soak found. */
export interface SoakReport {
  runs: number;
  succeeded: number;
  canceled: number;
  /** Runs not as expected (lost, failed, or in the wrong state). */
  unexpected: string[];
  /** Steps that ran again after their success was stored. */
  duplicated: string[];
  kills: number;
  restartMs: number;
  /**
   * The schedule's runs: how many, its slots in the soak's time, slots
   * fired twice (must be none), runs not succeeded (must be none), and the
   * lag from slot to start (p50, p95, max, ms).
   */
  ticks: {
    runs: number;
    slots: number;
    duplicateSlots: string[];
    unfinished: string[];
    lagMs: { p50: number; p95: number; max: number };
  };
  /** Per long-lived worker: first and last RSS (MB), slope (MB/min). */
  memory: { firstMb: number; lastMb: number; slopeMbPerMin: number }[];
  maxConnections: number;
  /** Table (and its indexes) sizes, in kB. */
  tableKb: Record<string, number>;
  durationMs: number;
}

class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly ready: Promise<void>;

  constructor(url: string, namespaceId: string, id: string, effects: string) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER, url, namespaceId, id],
      env: { SOAK_EFFECTS: effects },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.child = child;
    this.ready = (async () => {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      while (!text.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) return;
        text += value;
      }
      // Drain the rest.
      (async () => {
        while (!(await reader.read()).done) { /* nothing */ }
      })();
    })();
  }

  rssMb(): number | null {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.child.pid}/status`);
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      return Number.isFinite(kb) ? kb / 1024 : null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    await this.child.stdin.close().catch(() => {});
    await this.child.status;
    await this.ready;
  }

  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.stdin.close().catch(() => {});
    await this.child.status;
    await this.ready;
  }
}

function slope(samples: [number, number][]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((s, [x]) => s + x, 0) / n;
  const my = samples.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of samples) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * The schedule's runs once it is paused: each finishes, no slot fires
 * twice, and how late each started after its slot.
 */
async function checkTicks(
  ow: OpenWorkflow,
  seconds: number,
): Promise<SoakReport["ticks"]> {
  const runs = [];
  let cursor: string | null = null;
  do {
    const page = await ow.listRuns({
      workflowName: "soak-tick",
      limit: 1000,
      cursor,
    });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== null);
  const slots = new Map<string, number>();
  const lags: number[] = [];
  const unfinished: string[] = [];
  for (const run of runs) {
    const handle = (await ow.getRun(run.id))!;
    const outcome = await handle.result({ timeoutMs: 60_000 }).catch((e) =>
      e as Error
    );
    if (outcome !== "ticked") unfinished.push(`${run.id}: ${String(outcome)}`);
    const context = run.context as { slot?: string | null } | null;
    const slot = context?.slot;
    if (typeof slot !== "string") continue;
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
    const started = (await handle.refresh()).startedAt;
    if (started !== null) lags.push(started.getTime() - Date.parse(slot));
  }
  lags.sort((a, b) => a - b);
  const at = (p: number) =>
    lags.length === 0
      ? 0
      : lags[Math.min(lags.length - 1, Math.ceil(p * lags.length) - 1)];
  return {
    runs: runs.length,
    slots: Math.floor(seconds / 2),
    duplicateSlots: [...slots].filter(([, n]) => n > 1).map(([slot, n]) =>
      `${slot}: ${n} runs`
    ),
    unfinished,
    lagMs: { p50: at(0.5), p95: at(0.95), max: lags.at(-1) ?? 0 },
  };
}

/** Runs a soak and reports. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const tag = crypto.randomUUID().slice(0, 6);
  const database = `owsoak_${tag}`;
  const admin = postgres(options.databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const dbUrl = new URL(options.databaseUrl);
  dbUrl.pathname = `/${database}`;
  const url = dbUrl.toString();
  const namespaceId = `soak-${tag}`;
  const effects = await Deno.makeTempFile({ prefix: "soak-effects-" });
  const backend = await BackendPostgres.connect(url, { namespaceId });
  const ow = new OpenWorkflow({ backend });
  const { order } = defineSoak(ow, "client");
  const stable = [0, 1].map((i) =>
    new WorkerProcess(url, namespaceId, `stable-${i}`, effects)
  );
  let churn = new WorkerProcess(url, namespaceId, "churn-0", effects);
  let kills = 0;
  let restartMs = 0;
  const memory: [number, number][][] = [[], []];
  let maxConnections = 0;
  let scheduleStarted = performance.now();
  const handles: { handle: WorkflowRunHandle<string>; cancel: boolean }[] = [];
  try {
    await Promise.all([...stable, churn].map((w) => w.ready));
    scheduleStarted = performance.now();
    const endAt = performance.now() + options.durationMs;
    let nextKill = performance.now() + options.killEveryMs;
    let restarted = false;
    let nextSample = 0;
    let n = 0;
    while (performance.now() < endAt) {
      const now = performance.now();
      // Start this second's orders.
      for (let i = 0; i < options.ratePerS; i++, n++) {
        const input: SoakOrder = {
          n,
          flaky: n % 3 === 0,
          sleepMs: 100 + (n % 5) * 100,
          waitMs: 1_500,
        };
        const handle = await order.run(input);
        handles.push({ handle, cancel: n % 10 === 7 });
        if (n % 2 === 0) await handle.sendSignal("confirm", { n });
      }
      for (const entry of handles.slice(-options.ratePerS * 2)) {
        if (entry.cancel && entry.handle.workflowRun.status !== "canceled") {
          await entry.handle.cancel().catch(() => {});
        }
      }
      if (now >= nextKill) {
        await churn.kill();
        kills++;
        churn = new WorkerProcess(url, namespaceId, `churn-${kills}`, effects);
        nextKill = now + options.killEveryMs;
      }
      if (!restarted && now - started >= options.durationMs / 2) {
        restarted = true;
        restartMs = await restartPostgres(options.cluster);
        log(`server restarted in ${Math.round(restartMs)} ms`);
      }
      if (now >= nextSample) {
        nextSample = now + 2_000;
        const minute = (now - started) / 60_000;
        stable.forEach((w, i) => {
          const mb = w.rssMb();
          if (mb !== null) memory[i].push([minute, mb]);
        });
        try {
          const [row] = await admin<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${database}`;
          maxConnections = Math.max(maxConnections, row.n);
        } catch {
          // the server is restarting
        }
        log(
          `${
            Math.round((now - started) / 1000)
          } s: ${handles.length} runs, ${kills} kills, rss ${
            stable.map((w) => w.rssMb()?.toFixed(1)).join("/")
          } MB, ${maxConnections} connections max`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    // No more orders or ticks: every run ends.
    const scheduleStopped = performance.now();
    await ow.pauseSchedule("soak-tick");
    const outcomes = await Promise.all(handles.map(async ({ handle }) => {
      try {
        return await handle.result({ timeoutMs: 120_000 });
      } catch (error) {
        return error as Error;
      }
    }));
    const unexpected: string[] = [];
    let succeeded = 0;
    let canceled = 0;
    for (let i = 0; i < handles.length; i++) {
      const run = await handles[i].handle.refresh();
      const outcome = outcomes[i];
      if (run.status === "succeeded") succeeded++;
      else if (run.status === "canceled" && handles[i].cancel) canceled++;
      else {
        unexpected.push(
          `${run.id}: ${run.status} ${
            outcome instanceof Error ? outcome.message : ""
          }`,
        );
      }
    }
    // No step ran again once its success was stored: a step's starts are
    // never more than its attempts, and a step with a success has one.
    const starts = new Map<string, number>();
    for (const line of (await Deno.readTextFile(effects)).split("\n")) {
      if (line === "") continue;
      const [run, step] = line.split(" ");
      starts.set(`${run} ${step}`, (starts.get(`${run} ${step}`) ?? 0) + 1);
    }
    const duplicated: string[] = [];
    const ticks = await checkTicks(
      ow,
      (scheduleStopped - scheduleStarted) / 1000,
    );
    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await db<
        { run: string; step: string; attempts: number; successes: number }[]
      >`
        SELECT workflow_run_id::text AS run, step_name AS step,
          count(*)::int AS attempts,
          count(*) FILTER (WHERE status = 'succeeded')::int AS successes
        FROM openworkflow.step_attempts WHERE namespace_id = ${namespaceId}
        GROUP BY 1, 2`;
      for (const row of rows) {
        const key = `${row.run} ${row.step}`;
        if (row.successes > 1 || (starts.get(key) ?? 0) > row.attempts) {
          duplicated.push(
            `${key}: ${
              starts.get(key)
            } starts, ${row.attempts} attempts, ${row.successes} successes`,
          );
        }
      }
      const sizes = await db<{ name: string; kb: number }[]>`
        SELECT c.relname AS name,
          (pg_total_relation_size(c.oid) / 1024)::int AS kb
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'openworkflow' AND c.relkind = 'r'`;
      return {
        runs: handles.length,
        succeeded,
        canceled,
        unexpected,
        duplicated,
        kills,
        restartMs,
        ticks,
        memory: memory.map((samples) => {
          const warm = samples.slice(Math.floor(samples.length / 4));
          return {
            firstMb: warm[0]?.[1] ?? 0,
            lastMb: warm.at(-1)?.[1] ?? 0,
            slopeMbPerMin: slope(warm),
          };
        }),
        maxConnections,
        tableKb: Object.fromEntries(sizes.map((s) => [s.name, s.kb])),
        durationMs: performance.now() - started,
      };
    } finally {
      await db.end({ timeout: 1 });
    }
  } finally {
    await Promise.all([...stable, churn].map((w) => w.stop()));
    await backend.stop();
    await Deno.remove(effects).catch(() => {});
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
      .catch(() => {});
    await admin.end({ timeout: 1 });
  }
}
