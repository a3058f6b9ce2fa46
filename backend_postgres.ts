/**
 * The PostgreSQL backend: the production backend for many worker processes
 * on many machines.
 *
 * @example
 * ```ts ignore
 * import { OpenWorkflow } from "@openworkflow/core";
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
 * const ow = new OpenWorkflow({ backend });
 * ```
 *
 * @module
 */

export { BackendPostgres } from "./src/postgres/backend.ts";
export type { BackendPostgresOptions } from "./src/postgres/backend.ts";
