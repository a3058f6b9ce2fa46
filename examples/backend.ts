/**
 * How the examples pick their backend: Postgres when `DATABASE_URL` is set,
 * otherwise Postgres on this machine's default URL.
 */

import type { Backend } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";

/** Connects the backend the examples use. */
export async function connectBackend(
  namespaceId = "examples",
): Promise<Backend> {
  const url = Deno.env.get("DATABASE_URL") ??
    "postgresql://postgres@127.0.0.1:5432/test";
  return await BackendPostgres.connect(url, { namespaceId });
}
