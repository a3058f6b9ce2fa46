/**
 * What waiting `result()` calls cost the process that awaits them: N runs
 * are started with no worker (they stay pending), `result()` is awaited on
 * every one, and once they have settled into their polling (6 s), the
 * process's CPU is measured over 15 s, with its heap after a collection.
 * With notifications live, each handle polls its run every 5 s
 * (`fallbackPollIntervalMs`): 100,000 handles are 20,000 polls a second.
 *
 *   deno run -A --v8-flags=--expose-gc bench/waiting_handles.ts
 *     [--database-url URL] [--waiting 100000] [--shared-signal]
 *
 * `--shared-signal` gives every `result()` the same `AbortSignal`, as an
 * application shutting down with one would. Prints one JSON line. Uses a
 * fresh database (`owbench_scale_waiting*`, dropped after; one left by a
 * run cut short is dropped by the next).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { OpenWorkflow } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import {
  createScratchDatabase,
  DEFAULT_DATABASE_URL,
  dropStaleScratchDatabases,
  round,
  sleep,
} from "./scaling/common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "database-url": { type: "string", default: DEFAULT_DATABASE_URL },
    waiting: { type: "string", default: "100000" },
    "shared-signal": { type: "boolean", default: false },
  },
});
const waiting = Number(values.waiting);
if (!Number.isInteger(waiting) || waiting < 1) {
  throw new TypeError(
    `--waiting must be a positive integer, received ${values.waiting}`,
  );
}
const baseUrl = values["database-url"]!;
await dropStaleScratchDatabases(baseUrl);
const db = await createScratchDatabase(baseUrl, "waiting");
const backend = await BackendPostgres.connect(db.url);
const controller = new AbortController();
try {
  const ow = new OpenWorkflow({ backend });
  const idle = ow.defineWorkflow({ name: "idle" }, () => null);
  const handles = [];
  for (let started = 0; started < waiting; started += 1_000) {
    const batch = Math.min(1_000, waiting - started);
    handles.push(
      ...await Promise.all(Array.from({ length: batch }, () => idle.run())),
    );
  }
  const signal = values["shared-signal"] ? controller.signal : undefined;
  const results = handles.map((handle) =>
    handle.result({ signal, timeoutMs: 3_600_000 }).catch(() => {})
  );
  await sleep(6_000); // the first reads done, the polls under way
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  await sleep(15_000);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - startedAt) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  console.log(JSON.stringify({
    bench: "waiting_handles",
    waiting,
    sharedSignal: signal !== undefined,
    cpuMsPerSecond: round((cpu.user + cpu.system) / 1000 / seconds, 1),
    heapMB: round(Deno.memoryUsage().heapUsed / 1e6, 1),
  }));
  controller.abort();
  if (signal !== undefined) await Promise.all(results);
} finally {
  await backend.stop();
  await db.drop();
}
Deno.exit(0);
