/**
 * The workflow of bench/signals.ts, the backends it connects, and its
 * worker process. Not run by hand.
 *
 *   deno run -A bench/signals_worker.ts --backend postgres --location URL \
 *     --schema S --namespace N --concurrency C
 *   deno run -A bench/signals_worker.ts --backend sqlite --location PATH
 *
 * The process starts a worker of the signal-wait workflow with the default
 * options and prints `ready`. It answers each `ping` line on stdin with
 * `pong <epoch ms>` (the parent estimates the offset of this process's
 * clock from them), and stops gracefully when stdin closes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Backend, OpenWorkflow, type WorkflowDefinition } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

/** The signal the runs wait for. */
export const SIGNAL = "go";

/** The name of the workflow that waits for {@linkcode SIGNAL}. */
export const WORKFLOW = "bench-signal-wait";

/** Which store a measurement uses. */
export type StoreKind = "postgres" | "sqlite";

/** Where the backends of one measurement connect. */
export interface StoreLocation {
  kind: StoreKind;
  /** A Postgres URL or a SQLite file path. */
  location: string;
  /** Postgres: the schema (fresh per measurement). */
  schema?: string;
  /** Postgres: the namespace (fresh per measurement). */
  namespaceId?: string;
}

/**
 * The wall clock in epoch milliseconds with sub-millisecond resolution
 * (`Date.now()` has whole milliseconds). In one process, differences are
 * those of `performance.now()`.
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Connects a backend to `store`, with the library's default options. */
export async function openBackend(store: StoreLocation): Promise<Backend> {
  if (store.kind === "sqlite") {
    return await BackendSqlite.connect(store.location);
  }
  return await BackendPostgres.connect(store.location, {
    ...(store.schema === undefined ? {} : { schema: store.schema }),
    ...(store.namespaceId === undefined
      ? {}
      : { namespaceId: store.namespaceId }),
  });
}

/**
 * Defines the workflow: it waits for {@linkcode SIGNAL}, then returns the
 * time (by {@linkcode epochNow}) at which its code after the wait first
 * ran. The time is taken in the workflow function right after
 * `waitForSignal()` returns and stored by a step, so that a later replay
 * returns the first one.
 */
export function defineSignalWait(
  ow: OpenWorkflow,
): WorkflowDefinition<null, number> {
  return ow.defineWorkflow<null, number>(
    { name: WORKFLOW },
    async ({ step }) => {
      await step.waitForSignal({ signal: SIGNAL });
      const resumedAt = epochNow();
      return await step.run({ name: "resumed-at" }, () => resumedAt);
    },
  );
}

async function child(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backend: { type: "string", default: "postgres" },
      location: { type: "string" },
      schema: { type: "string" },
      namespace: { type: "string" },
      concurrency: { type: "string", default: "10" },
    },
  });
  if (values.location === undefined) {
    console.error("signals_worker.ts: --location is required");
    Deno.exit(2);
  }
  const backend = await openBackend({
    kind: values.backend === "sqlite" ? "sqlite" : "postgres",
    location: values.location,
    ...(values.schema === undefined ? {} : { schema: values.schema }),
    ...(values.namespace === undefined
      ? {}
      : { namespaceId: values.namespace }),
  });
  const ow = new OpenWorkflow({ backend });
  defineSignalWait(ow);
  const worker = ow.newWorker({ concurrency: Number(values.concurrency) });
  await worker.start();
  const encoder = new TextEncoder();
  const say = (line: string) =>
    Deno.stdout.writeSync(encoder.encode(`${line}\n`));
  say("ready");
  let buffer = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line === "ping") say(`pong ${epochNow()}`);
    }
  }
  // stdin closed: the parent is done.
  await worker.stop();
  await backend.stop();
}

if (import.meta.main) await child();
