/**
 * The SQLite backend: workflows in a single database file (or in memory),
 * with no database server. Built on `node:sqlite`, so it runs on Deno, Bun
 * and Node 22.13 or later; several worker processes on one machine may
 * share one file.
 *
 * Import it from its own entry point: the main module never loads
 * `node:sqlite`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({ backend });
 * const double = ow.defineWorkflow<number, number>(
 *   { name: "double" },
 *   async ({ input, step }) => await step.run({ name: "double" }, () => input * 2),
 * );
 * const worker = ow.newWorker();
 * await worker.start();
 * assert.equal(await (await double.run(21)).result(), 42);
 * await worker.stop();
 * ```
 *
 * @module
 */

export { BackendSqlite } from "./src/sqlite/backend.ts";
export type { BackendSqliteOptions, Clock } from "./src/sqlite/backend.ts";
