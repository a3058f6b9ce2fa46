/**
 * How the examples pick their backend: Postgres when `DATABASE_URL` is set,
 * otherwise the embedded SQLite backend on a file in `.openworkflow-demo/`.
 */

import type { Backend } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

const DIRECTORY = ".openworkflow-demo";
const SQLITE_PATH = `${DIRECTORY}/openworkflow.db`;

function databaseUrl(): string | undefined {
  return Deno.env.get("DATABASE_URL") || undefined;
}

/** Says where the examples keep their data. */
export function describeBackend(): string {
  const url = databaseUrl();
  return url === undefined
    ? `SQLite (${SQLITE_PATH})`
    : `Postgres (${url.replace(/:[^:@/]*@/, ":***@")})`;
}

/**
 * The namespace for `base`: with a generation suffix that `resetBackend()`
 * renews, so that a fresh start never sees earlier data.
 */
function namespaceFor(base: string): string {
  try {
    return `${base}-${
      Deno.readTextFileSync(`${DIRECTORY}/${base}.generation`).trim()
    }`;
  } catch {
    return base;
  }
}

/** Starts `base` afresh: a new namespace, and on SQLite a new file. */
export async function resetBackend(base: string): Promise<void> {
  await Deno.mkdir(DIRECTORY, { recursive: true });
  if (databaseUrl() === undefined) {
    for (const suffix of ["", "-wal", "-shm"]) {
      await Deno.remove(SQLITE_PATH + suffix).catch(() => {});
    }
  }
  await Deno.writeTextFile(
    `${DIRECTORY}/${base}.generation`,
    String(Date.now()),
  );
}

/** Connects the backend the examples use. */
export async function connectBackend(base = "examples"): Promise<Backend> {
  const namespaceId = namespaceFor(base);
  const url = databaseUrl();
  if (url !== undefined) {
    return await BackendPostgres.connect(url, { namespaceId });
  }
  await Deno.mkdir(DIRECTORY, { recursive: true });
  return await BackendSqlite.connect(SQLITE_PATH, { namespaceId });
}
