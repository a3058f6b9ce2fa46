/**
 * What tracing and metrics cost: `bench/core.ts`'s workloads for three
 * variants, alternated over several rounds in one invocation, each run on a
 * fresh database:
 *
 * - `before`: the engine at a commit before it was instrumented (default
 *   7354b69), extracted with `git archive` into a scratch folder (with
 *   this tree's `bench/core.ts`, so that only the engine differs);
 * - `no-sdk`: the engine at `--after` (default HEAD: what is committed,
 *   not the working tree), no OpenTelemetry SDK registered (the engine
 *   makes no spans; the process's own Prometheus totals are kept);
 * - `sdk`: the same with an SDK registered that records every span and
 *   metric (batch span processor, metric reader every second), its
 *   exporters dropping what they get.
 *
 *   deno task bench:telemetry                       # 5 rounds, throughput
 *   deno task bench:telemetry --rounds 7 --workloads throughput,latency
 *
 * Throughput is reported as workflows/s and as the benchmark process's CPU
 * time per run (client and worker; less sensitive to other load on the
 * machine than the rate). Prints medians, ranges and ratios to `before`,
 * and a JSON summary line.
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import { output } from "./command.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    workloads: { type: "string", default: "throughput" },
    backends: { type: "string", default: "postgres,sqlite" },
    before: { type: "string", default: "7354b69" },
    after: { type: "string", default: "HEAD" },
    "admin-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ??
        "postgresql://postgres@127.0.0.1:5432/test",
    },
  },
});

const root = new URL("..", import.meta.url).pathname;
const rounds = Number(values.rounds);
const workloads = values.workloads.split(",");
const backends = values.backends.split(",");
type Variant = "before" | "no-sdk" | "sdk";
const VARIANTS: Variant[] = ["before", "no-sdk", "sdk"];

function sh(command: string, args: string[], cwd = root): Promise<string> {
  return output(command, args, cwd);
}

/** The engine at `commit`, extracted once into a scratch folder. */
async function checkout(commit: string): Promise<string> {
  const sha = await sh("git", ["rev-parse", "--short=12", commit]);
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/openworkflow-bench-${sha}`;
  try {
    await Deno.stat(`${dir}/bench/core.ts`);
  } catch {
    await Deno.mkdir(dir, { recursive: true });
    await sh("bash", ["-c", `git archive ${sha} | tar -x -C '${dir}'`]);
  }
  // The same workload script for every variant: only the engine differs.
  await Deno.copyFile(`${root}bench/core.ts`, `${dir}/bench/core.ts`);
  return dir;
}

const admin = postgres(values["admin-url"], { max: 1, onnotice: () => {} });

async function measure(
  variant: Variant,
  tree: string,
  backend: string,
  workload: string,
  round: number,
): Promise<Record<string, number>> {
  const args = ["run", "-A", `${tree}/bench/core.ts`, workload];
  if (variant === "sdk") args.push("--otel");
  if (backend === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "owbench-otel-" });
    try {
      return JSON.parse(
        await sh(Deno.execPath(), [
          ...args,
          "--backend",
          "sqlite",
          "--path",
          `${dir}/bench.db`,
        ], tree),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const db = `owbench_otel_${variant.replace(/\W/g, "_")}_${round}`;
  await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${db}`);
  try {
    const url = new URL(values["admin-url"]);
    url.pathname = `/${db}`;
    return JSON.parse(
      await sh(Deno.execPath(), [
        ...args,
        "--backend",
        "postgres",
        "--database-url",
        url.href,
      ], tree),
    );
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const after = await checkout(values.after);
const trees: Record<Variant, string> = {
  before: await checkout(values.before),
  "no-sdk": after,
  sdk: after,
};
/** What each workload reports, by the name of its result's field. */
const metricsOf = (workload: string) =>
  workload === "throughput" ? ["workflowsPerSecond", "cpuMsPerRun"] : [
    "p50Ms",
  ];
const results = new Map<string, number[]>();
try {
  for (let round = 0; round < rounds; round++) {
    // Each round in another order, so that no variant always goes first.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % 3]);
    for (const backend of backends) {
      for (const workload of workloads) {
        for (const variant of order) {
          const result = await measure(
            variant,
            trees[variant],
            backend,
            workload,
            round,
          );
          for (const metric of metricsOf(workload)) {
            const id = `${backend}/${workload}/${metric}/${variant}`;
            results.set(id, [...(results.get(id) ?? []), result[metric]]);
            console.error(`round ${round + 1}: ${id} ${result[metric]}`);
          }
        }
      }
    }
  }
} finally {
  await admin.end();
}

const summary: Record<string, unknown> = {};
console.log(
  "\nbackend   measure               variant  median    range            vs before",
);
for (const backend of backends) {
  for (const workload of workloads) {
    for (const metric of metricsOf(workload)) {
      const base = median(
        results.get(`${backend}/${workload}/${metric}/before`)!,
      );
      for (const variant of VARIANTS) {
        const xs = results.get(`${backend}/${workload}/${metric}/${variant}`)!;
        const m = median(xs);
        const ratio = m / base;
        summary[`${backend}/${workload}/${metric}/${variant}`] = {
          median: m,
          samples: xs,
          ratio: Number(ratio.toFixed(3)),
        };
        const digits = metric === "cpuMsPerRun" ? 3 : 1;
        console.log(
          `${backend.padEnd(9)} ${metric.padEnd(21)} ${variant.padEnd(8)} ${
            m.toFixed(digits).padStart(7)
          }   ${Math.min(...xs).toFixed(digits)}–${
            Math.max(...xs).toFixed(digits)
          }`.padEnd(74) + `${(ratio * 100).toFixed(1)}%`,
        );
      }
    }
  }
}
console.log(
  JSON.stringify({
    unit: {
      workflowsPerSecond: "workflows/s",
      cpuMsPerRun: "ms of CPU per run (client and worker)",
      p50Ms: "p50 ms",
    },
    ...summary,
  }),
);
