/**
 * What tracing and metrics cost: `bench/core.ts`'s workloads for three
 * variants, alternated over several rounds in one invocation, each run on a
 * fresh database:
 *
 * - `before`: the engine at a commit before it was instrumented (default
 *   827f49f), extracted with `git archive` into a scratch folder;
 * - `no-sdk`: the engine as it is, no OpenTelemetry SDK registered (the
 *   instrumentation's calls are the API's no-ops; the process's own
 *   Prometheus totals are kept);
 * - `sdk`: the same with an SDK registered that records every span and
 *   metric (batch span processor, metric reader every second), its
 *   exporters dropping what they get.
 *
 *   deno task bench:telemetry                       # 5 rounds, throughput
 *   deno task bench:telemetry --rounds 7 --workloads throughput,latency
 *
 * Prints medians, ranges and ratios to `before`, and a JSON summary line.
 */

import { parseArgs } from "node:util";
import postgres from "postgres";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    workloads: { type: "string", default: "throughput" },
    backends: { type: "string", default: "postgres,sqlite" },
    before: { type: "string", default: "827f49f" },
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

async function sh(command: string, args: string[], cwd = root) {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed:\n${text}\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return text;
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

const trees: Record<Variant, string> = {
  before: await checkout(values.before),
  "no-sdk": root,
  sdk: root,
};
const key = (workload: string) =>
  workload === "throughput" ? "workflowsPerSecond" : "p50Ms";
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
          const id = `${backend}/${workload}/${variant}`;
          results.set(id, [...(results.get(id) ?? []), result[key(workload)]]);
          console.error(`round ${round + 1}: ${id} ${result[key(workload)]}`);
        }
      }
    }
  }
} finally {
  await admin.end();
}

const summary: Record<string, unknown> = {};
console.log(
  "\nbackend   workload    variant  median    range              vs before",
);
for (const backend of backends) {
  for (const workload of workloads) {
    const base = median(results.get(`${backend}/${workload}/before`)!);
    for (const variant of VARIANTS) {
      const xs = results.get(`${backend}/${workload}/${variant}`)!;
      const m = median(xs);
      const ratio = m / base;
      summary[`${backend}/${workload}/${variant}`] = {
        median: m,
        samples: xs,
        ratio: Number(ratio.toFixed(3)),
      };
      console.log(
        `${backend.padEnd(9)} ${workload.padEnd(11)} ${variant.padEnd(8)} ${
          m.toFixed(1).padStart(7)
        }   ${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`
          .padEnd(62) + `${(ratio * 100).toFixed(1)}%`,
      );
    }
  }
}
console.log(
  JSON.stringify({
    unit: { throughput: "workflows/s", latency: "p50 ms" },
    ...summary,
  }),
);
