/**
 * SQLite wake-ups across processes: a client process creates runs of a
 * one-step workflow one at a time; a worker process, idle in between,
 * claims them. Prints the time from create to claim and from `run()` to
 * `result()`, p50 and p95 over the runs, and the backend calls per second
 * of the idle worker process.
 *
 * Usage: deno task bench:wakeups [--runs 50] [--idle-s 5]
 */

import { parseArgs } from "node:util";
import { OpenWorkflow } from "../mod.ts";
import type { Backend } from "../backend.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

/** Splits a stream of text into lines. */
async function* linesOf(stream: ReadableStream<Uint8Array>) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
    }
  }
}

/** Epoch ms with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

function define(ow: OpenWorkflow) {
  return ow.defineWorkflow(
    { name: "ping" },
    async ({ step }) => await step.run({ name: "pong" }, () => "pong"),
  );
}

/** Counts the calls made through `backend`, by method. */
function counted(backend: Backend, counts: Map<string, number>): Backend {
  return new Proxy(backend, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key === "subscribe" || typeof key !== "string") {
        return value.bind(target);
      }
      return (...args: unknown[]) => {
        counts.set(key, (counts.get(key) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
}

/** The worker process: reports each claim, and its calls when asked. */
async function workerProcess(path: string): Promise<void> {
  const backend = await BackendSqlite.connect(path);
  const counts = new Map<string, number>();
  const ow = new OpenWorkflow({ backend: counted(backend, counts) });
  define(ow);
  const worker = ow.newWorker();
  worker.addEventListener("run-claimed", (event) => {
    console.log(`claimed ${event.workflowRunId} ${now()}`);
  });
  await worker.start();
  console.log("ready");
  let since = now();
  for await (const line of linesOf(Deno.stdin.readable)) {
    if (line === "reset") {
      counts.clear();
      since = now();
    } else if (line === "report") {
      const seconds = (now() - since) / 1000;
      console.log(
        `calls ${JSON.stringify(Object.fromEntries(counts))} ${seconds}`,
      );
    } else if (line === "stop") break;
  }
  await worker.stop();
  await backend.stop();
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "50" },
      "idle-s": { type: "string", default: "5" },
    },
  });
  const runs = Number(values.runs);
  const idleS = Number(values["idle-s"]);
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-wakeups-" });
  const path = `${dir}/wakeups.db`;
  // Create the schema before the worker starts.
  const backend = await BackendSqlite.connect(path);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.url, "worker", path],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const input = child.stdin.getWriter();
  const send = (line: string) =>
    input.write(new TextEncoder().encode(`${line}\n`));
  const claimed = new Map<string, PromiseWithResolvers<number>>();
  const claimOf = (id: string) => {
    let entry = claimed.get(id);
    if (entry === undefined) {
      entry = Promise.withResolvers<number>();
      claimed.set(id, entry);
    }
    return entry;
  };
  const ready = Promise.withResolvers<void>();
  const report = Promise.withResolvers<string>();
  const reading = (async () => {
    for await (const line of linesOf(child.stdout)) {
      const [word, ...rest] = line.split(" ");
      if (word === "ready") ready.resolve();
      else if (word === "claimed") claimOf(rest[0]).resolve(Number(rest[1]));
      else if (word === "calls") report.resolve(rest.join(" "));
    }
  })();
  try {
    await ready.promise;
    const ow = new OpenWorkflow({ backend });
    const ping = define(ow);
    const toClaim: number[] = [];
    const toResult: number[] = [];
    for (let i = 0; i < runs; i++) {
      // The worker is idle: its last poll was a moment ago or long ago.
      await new Promise((resolve) => setTimeout(resolve, 20 + i % 7 * 13));
      const startedAt = now();
      const handle = await ping.run();
      await handle.result();
      toResult.push(now() - startedAt);
      toClaim.push(await claimOf(handle.id).promise - startedAt);
    }
    await send("reset");
    await new Promise((resolve) => setTimeout(resolve, idleS * 1000));
    await send("report");
    const [counts, seconds] = (await report.promise).split(" ");
    const calls = Object.values(JSON.parse(counts) as Record<string, number>)
      .reduce((a, b) => a + b, 0);
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    console.log(`runs: ${runs}, client and worker in two processes`);
    console.log(
      `create -> claim:  p50 ${ms(percentile(toClaim, 0.5))}, p95 ${
        ms(percentile(toClaim, 0.95))
      }`,
    );
    console.log(
      `run -> result:    p50 ${ms(percentile(toResult, 0.5))}, p95 ${
        ms(percentile(toResult, 0.95))
      }`,
    );
    console.log(
      `idle worker:      ${
        (calls / Number(seconds)).toFixed(2)
      } calls/s ${counts}`,
    );
  } finally {
    await send("stop").catch(() => {});
    await input.close().catch(() => {});
    await child.status;
    await reading;
    await backend.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (Deno.args[0] === "worker") await workerProcess(Deno.args[1]);
else await main();
