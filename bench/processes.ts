/**
 * How throughput scales with worker processes sharing one Postgres: for 1,
 * 2, 4 and 8 worker processes (each a `Worker` of concurrency `C / N`, so
 * that the total concurrency stays the same), a backlog of runs of a 4-step
 * no-op workflow is started first, then the processes, and the time until
 * the last run has finished is measured. Each round uses a fresh namespace;
 * rounds alternate the process counts.
 *
 *   deno task bench:processes [--runs 2000] [--rounds 3] [--concurrency 64]
 *     [--processes 1,2,4,8] [--database-url URL]
 *
 * Also reports, per count, the server's CPU time (from /proc, the
 * postgres processes' utime + stime) and the workers' (their children's
 * rusage), per run, so that the limit can be named: on a box whose cores
 * the database shares, more processes only add contention once the cores
 * are busy.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { OpenWorkflow } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { defineBenchProc } from "./processes_worker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    processes: { type: "string", default: "1,2,4,8" },
    "database-url": { type: "string" },
  },
});
const URL_ = values["database-url"] ?? Deno.env.get("DATABASE_URL") ??
  "postgresql://postgres@127.0.0.1:5432/test";
const runs = Number(values.runs);
const rounds = Number(values.rounds);
const total = Number(values.concurrency);
const counts = values.processes.split(",").map(Number);
const WORKER = new URL("./processes_worker.ts", import.meta.url).pathname;
const TICKS = 100; // USER_HZ

/** CPU seconds used so far by processes whose command line matches. */
function cpuSeconds(match: (cmdline: string) => boolean): number {
  let ticks = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!match(cmdline)) continue;
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone
    }
  }
  return ticks / TICKS;
}

const isPostgres = (cmdline: string) => cmdline.startsWith("postgres");
const isWorker = (cmdline: string) => cmdline.includes("processes_worker.ts");

async function round(processes: number): Promise<{
  wfPerS: number;
  pgCpuMsPerRun: number;
  workerCpuMsPerRun: number;
}> {
  const namespaceId = `bench-proc-${crypto.randomUUID()}`;
  const backend = await BackendPostgres.connect(URL_, { namespaceId });
  const ow = new OpenWorkflow({ backend });
  const wf = defineBenchProc(ow);
  try {
    const handles = [];
    for (let i = 0; i < runs; i += 200) {
      handles.push(
        ...await Promise.all(
          Array.from(
            { length: Math.min(200, runs - i) },
            (_, j) => wf.run(i + j),
          ),
        ),
      );
    }
    const children = Array.from(
      { length: processes },
      () =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            WORKER,
            URL_,
            namespaceId,
            String(Math.max(1, Math.round(total / processes))),
          ],
          stdin: "piped",
          stdout: "piped",
          stderr: "inherit",
        }).spawn(),
    );
    // Wait for every process to be ready before the clock starts? No: as
    // in production, workers start and take the backlog as they come up;
    // the clock starts when the first is ready.
    const readers = children.map(async (child) => {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      while (!text.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("a worker exited before it was ready");
        text += value;
      }
      reader.releaseLock();
    });
    await Promise.any(readers);
    const pg0 = cpuSeconds(isPostgres);
    const w0 = cpuSeconds(isWorker);
    const started = performance.now();
    await Promise.all(handles.map((h) => h.result({ timeoutMs: 600_000 })));
    const seconds = (performance.now() - started) / 1000;
    const pg1 = cpuSeconds(isPostgres);
    const w1 = cpuSeconds(isWorker);
    await Promise.all(readers);
    for (const child of children) await child.stdin.close();
    await Promise.all(children.map((c) => c.status));
    return {
      wfPerS: runs / seconds,
      pgCpuMsPerRun: (pg1 - pg0) * 1000 / runs,
      workerCpuMsPerRun: (w1 - w0) * 1000 / runs,
    };
  } finally {
    await backend.stop();
  }
}

const results = new Map<number, Awaited<ReturnType<typeof round>>[]>();
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? counts : [...counts].reverse();
  for (const n of order) {
    const result = await round(n);
    console.error(
      `round ${r + 1}, ${n} process(es): ${result.wfPerS.toFixed(0)} wf/s`,
    );
    results.set(n, [...(results.get(n) ?? []), result]);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
console.log(
  `deno task bench:processes --runs ${runs} --rounds ${rounds} --concurrency ${total} (${navigator.hardwareConcurrency} cores)`,
);
console.log(
  "| processes | workflows/s | steps/s | Postgres CPU ms/run | workers CPU ms/run |",
);
console.log("| --- | --- | --- | --- | --- |");
for (const n of counts) {
  const rs = results.get(n)!;
  const wf = median(rs.map((x) => x.wfPerS));
  console.log(
    `| ${n} | ${wf.toFixed(0)} | ${(wf * 4).toFixed(0)} | ${
      median(rs.map((x) => x.pgCpuMsPerRun)).toFixed(2)
    } | ${median(rs.map((x) => x.workerCpuMsPerRun)).toFixed(2)} |`,
  );
}
