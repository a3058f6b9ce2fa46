/**
 * Part 1, history size: do a million finished runs (and their step
 * attempts) and a hundred thousand unfinished ones slow the hot paths?
 *
 * Two databases per backend: one stays empty, the other is loaded in
 * stages (bulk SQL into the engine's tables). After each stage, a client
 * and fresh workers on each database measure run → result latency,
 * per-step latency and the claim, in alternating blocks (so that a shared
 * machine's drift hits both alike), and the engine's claim statement is
 * explained on both (Postgres: `EXPLAIN ANALYZE` of the prepared statement
 * once the plan cache has settled; SQLite: `EXPLAIN QUERY PLAN` and its
 * time; see explain.ts).
 *
 * @module
 */

import {
  type BackendKind,
  printSummary,
  printTable,
  ratio,
  retryOnRestart,
  round,
} from "./common.ts";
import {
  type BlockOptions,
  type Harness,
  type Latencies,
  LatencySamples,
  MANY_STEPS,
  measureBlock,
  ONE_STEP,
  openHarness,
  probeClaim,
  summarizeLatencies,
} from "./harness.ts";
import {
  type ClaimPlan,
  type Loader,
  NAMESPACE,
  postgresStores,
  sqliteStores,
  type Stores,
} from "./history_stores.ts";

/** Sizes of the history part. */
export interface HistoryOptions {
  databaseUrl: string;
  backends: readonly BackendKind[];
  /** Finished runs in the measured namespace. */
  finishedRuns: number;
  /** Step attempts of each finished run. */
  stepsPerRun: number;
  /** Unfinished runs of each unfinished stage. */
  unfinishedRuns: number;
  latency: {
    /** One-step runs per database and stage. */
    runs: number;
    /** At most this long on them per database and stage. */
    maxRunsMs: number;
    /** Steps of the many-step runs (one per block). */
    steps: number;
    /** Claim probes per database and stage. */
    probes: number;
  };
  log: (line: string) => void;
}

/** A latency may grow this much with the history before it fails. */
const MAX_RATIO = 1.5;

/** The claim may also grow by less than this (ms): below timing noise. */
const CLAIM_NOISE_MS = 1;

interface Stage {
  label: string;
  load: Loader;
}

function stages(o: HistoryOptions): Stage[] {
  const k = (n: number) =>
    n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
  const n = o.unfinishedRuns;
  return [
    {
      label: `+${k(o.finishedRuns)} finished runs, ${
        k(o.finishedRuns * o.stepsPerRun)
      } attempts`,
      load: { kind: "finished" },
    },
    {
      label: `+${k(n)} pending in another namespace, +${k(n)} sleeping (1 h)`,
      load: {
        kind: "unfinished",
        batches: [{
          namespaceId: "other-tenant",
          workflowName: ONE_STEP,
          status: "pending",
          dueInSeconds: -600,
          count: n,
        }, {
          namespaceId: NAMESPACE,
          workflowName: MANY_STEPS,
          status: "sleeping",
          dueInSeconds: 3600,
          count: n,
        }],
      },
    },
    {
      label: `+${k(n)} pending of an unregistered workflow`,
      load: {
        kind: "unfinished",
        batches: [{
          namespaceId: NAMESPACE,
          workflowName: "backlog-of-another-service",
          status: "pending",
          dueInSeconds: -600,
          count: n,
        }],
      },
    },
  ];
}

/** What one stage measured. */
interface StageResult {
  stage: string;
  loadSeconds: number | null;
  /** The database that stays empty, measured in the same blocks. */
  empty: Latencies;
  loaded: Latencies;
  ratios: {
    runToResult: number | null;
    perStep: number | null;
    claim: number | null;
  };
  pass: boolean;
  claimPlan: { empty: ClaimPlan; loaded: ClaimPlan };
}

/** Blocks per stage: the two databases are measured in turns. */
const BLOCKS = 10;

/** Runs part 1 on the chosen backends; prints tables and the JSON line. */
export async function runHistory(o: HistoryOptions): Promise<void> {
  const summary: Record<string, unknown> = {};
  const verdicts: Record<string, boolean> = {};
  for (const kind of o.backends) {
    const startedAt = performance.now();
    const stores = kind === "postgres"
      ? await postgresStores(o)
      : await sqliteStores(o);
    let results: StageResult[];
    try {
      results = await measureStages(o, kind, stores);
    } finally {
      await stores.close();
    }
    const seconds = round((performance.now() - startedAt) / 1000, 1);
    report(kind, results, seconds);
    verdicts[kind] = results.every((r) => r.pass);
    summary[kind] = {
      seconds,
      stages: results.map((r) => ({
        ...r,
        claimPlan: {
          empty: { ...r.claimPlan.empty, lines: undefined },
          loaded: {
            ...r.claimPlan.loaded,
            lines: isSlow(r) ? r.claimPlan.loaded.lines : undefined,
          },
        },
      })),
    };
  }
  printSummary("history", {
    sizes: {
      finishedRuns: o.finishedRuns,
      stepAttempts: o.finishedRuns * o.stepsPerRun,
      unfinishedRunsPerStage: o.unfinishedRuns,
      ...o.latency,
    },
    maxRatio: MAX_RATIO,
    pass: verdicts,
    ...summary,
  });
}

async function measureStages(
  o: HistoryOptions,
  kind: BackendKind,
  stores: Stores,
): Promise<StageResult[]> {
  const results: StageResult[] = [];
  // Opening creates the schema, which the loaders need.
  for (const location of [stores.empty, stores.loaded]) {
    await (await openHarness(kind, location)).stop();
  }
  const block = {
    runs: Math.ceil(o.latency.runs / BLOCKS),
    maxRunsMs: o.latency.maxRunsMs / BLOCKS,
    stepRuns: 1,
    steps: o.latency.steps,
    probes: 0,
  };
  const calibration: Stage = {
    label: "empty (both databases)",
    load: { kind: "unfinished", batches: [] },
  };
  for (const stage of [calibration, ...stages(o)]) {
    let loadSeconds: number | null = null;
    let loaded = stage === calibration;
    const measure = async (): Promise<StageResult> => {
      if (!loaded) {
        o.log(`${kind}: loading ${stage.label}`);
        const startedAt = performance.now();
        await stores.load(stage.load);
        loaded = true;
        loadSeconds = round((performance.now() - startedAt) / 1000, 1);
      }
      await stores.prepare();
      o.log(`${kind}: measuring "${stage.label}" (empty and loaded in turns)`);
      const result = await measureStage(o, kind, stores, block);
      return { stage: stage.label, loadSeconds, ...result };
    };
    results.push(
      kind === "postgres"
        ? await retryOnRestart(
          o.databaseUrl,
          `history on postgres, "${stage.label}"`,
          measure,
          o.log,
        )
        : await measure(),
    );
  }
  return results;
}

/** Measures both databases in turns, then explains their claims. */
async function measureStage(
  o: HistoryOptions,
  kind: BackendKind,
  stores: Stores,
  block: BlockOptions,
): Promise<Omit<StageResult, "stage" | "loadSeconds">> {
  const empty = await openHarness(kind, stores.empty);
  const loaded = await openHarness(kind, stores.loaded);
  const samples = {
    empty: new LatencySamples(),
    loaded: new LatencySamples(),
  };
  try {
    const warmUp = { ...block, runs: 20, stepRuns: 2, steps: 10, probes: 3 };
    await measureBlock(empty, new LatencySamples(), warmUp);
    await measureBlock(loaded, new LatencySamples(), warmUp);
    empty.stats.reset();
    loaded.stats.reset();
    const turns: [Harness, LatencySamples][] = [
      [empty, samples.empty],
      [loaded, samples.loaded],
    ];
    for (let b = 0; b < BLOCKS; b++) {
      for (const [h, s] of turns) await measureBlock(h, s, block);
      turns.reverse();
    }
    // Claims alone, one each in turn.
    for (let i = 0; i < o.latency.probes; i++) {
      for (const [h, s] of turns) await probeClaim(h, s);
      turns.reverse();
    }
  } finally {
    await empty.stop();
    await loaded.stop();
  }
  const e = roundAll(summarizeLatencies(empty, samples.empty));
  const l = roundAll(summarizeLatencies(loaded, samples.loaded));
  const ratios = {
    runToResult: ratio(l.runToResultP50, e.runToResultP50),
    perStep: ratio(l.perStepP50, e.perStepP50),
    claim: ratio(l.claimProbeP50, e.claimProbeP50),
  };
  const within = (r: number | null) => r !== null && r <= MAX_RATIO;
  return {
    empty: e,
    loaded: l,
    ratios,
    pass: within(ratios.runToResult) && within(ratios.perStep) &&
      (within(ratios.claim) ||
        l.claimProbeP50 - e.claimProbeP50 < CLAIM_NOISE_MS),
    claimPlan: {
      empty: await stores.explain("empty", empty.selectors),
      loaded: await stores.explain("loaded", loaded.selectors),
    },
  };
}

/** Whether the claim statement is clearly slower on the loaded database. */
function isSlow({ claimPlan: { empty, loaded } }: StageResult): boolean {
  return loaded.ms > Math.max(MAX_RATIO * empty.ms, empty.ms + 2);
}

function roundAll(latencies: Latencies): Latencies {
  return Object.fromEntries(
    Object.entries(latencies).map(([key, value]) => [key, round(value)]),
  ) as unknown as Latencies;
}

function report(
  kind: BackendKind,
  results: StageResult[],
  seconds: number | null,
): void {
  const pair = (a: unknown, b: unknown) => `${a ?? "-"} / ${b ?? "-"}`;
  printTable(
    `History size on ${kind} (${seconds} s). p50 in ms, "empty DB / loaded DB" measured in alternating blocks; ratio = loaded / empty, target <= ${MAX_RATIO} (the claim may also grow by < ${CLAIM_NOISE_MS} ms)`,
    [
      "stage (loaded DB)",
      "load s",
      "runs",
      "run→result",
      "ratio",
      "per step",
      "ratio",
      "claim probe",
      "ratio",
      "verdict",
    ],
    results.map((r) => [
      r.stage,
      r.loadSeconds,
      pair(r.empty.runs, r.loaded.runs),
      pair(r.empty.runToResultP50, r.loaded.runToResultP50),
      r.ratios.runToResult,
      pair(r.empty.perStepP50, r.loaded.perStepP50),
      r.ratios.perStep,
      pair(r.empty.claimProbeP50, r.loaded.claimProbeP50),
      r.ratios.claim,
      r.pass ? "PASS" : "FAIL",
    ]),
  );
  printTable(
    `Backend calls on the loaded ${kind} DB (p50 ms)`,
    [
      "stage",
      "run→result p95",
      "claim (worker)",
      "createRun",
      "getRun",
      "createStep",
      "finishStep",
      "finishRun",
    ],
    results.map((r) => [
      r.stage,
      r.loaded.runToResultP95,
      r.loaded.claimP50,
      r.loaded.createWorkflowRunP50,
      r.loaded.getWorkflowRunP50,
      r.loaded.createStepAttemptP50,
      r.loaded.markStepAttemptSucceededP50,
      r.loaded.markWorkflowRunSucceededP50,
    ]),
  );
  if (kind === "postgres") {
    printTable(
      "The engine's claim statement, EXPLAIN ANALYZE of the prepared statement once the plan cache has settled (ms, median of 5)",
      [
        "stage",
        "claim (empty / loaded)",
        "candidate scan (loaded)",
        "rows read",
        "plan",
      ],
      results.map(({ stage, claimPlan: { empty, loaded } }) => [
        stage,
        pair(empty.ms, loaded.ms),
        loaded.scan,
        loaded.rowsRead,
        loaded.genericPlan ? "generic" : "custom",
      ]),
    );
  } else {
    printTable(
      "The engine's claim statement (ms, median of 5, rolled back)",
      ["stage", "claim (empty / loaded)", "candidate scan (loaded)"],
      results.map(({ stage, claimPlan: { empty, loaded } }) => [
        stage,
        pair(empty.ms, loaded.ms),
        loaded.scan,
      ]),
    );
  }
  const worst = results.reduce((a, b) =>
    b.claimPlan.loaded.ms > a.claimPlan.loaded.ms ? b : a
  );
  const { empty, loaded } = worst.claimPlan;
  console.log(
    `\n${
      isSlow(worst) ? "Slow claim" : "Slowest claim"
    } on the loaded ${kind} DB ("${worst.stage}", ${loaded.ms} ms; empty DB ${empty.ms} ms), plan:\n  ${
      loaded.lines.join("\n  ")
    }`,
  );
}
