/**
 * What the SQLite halves of the benchmarks share: a fresh database file
 * with the engine's schema, filled in one transaction straight through
 * `node:sqlite` (far faster than through the engine), analyzed, then
 * measured through a `BackendSqlite`; the file is removed after.
 */

import { DatabaseSync } from "node:sqlite";
import { BackendSqlite } from "../backend_sqlite.ts";

/** Fills a fresh database with `fill`, then returns what `measure` finds. */
export async function withSeededSqlite<T>(
  fill: (db: DatabaseSync) => void,
  measure: (backend: BackendSqlite) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/bench.db`;
  try {
    (await BackendSqlite.connect(path)).stop();
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    fill(db);
    db.exec("COMMIT");
    db.exec("ANALYZE");
    db.close();
    await using backend = await BackendSqlite.connect(path);
    return await measure(backend);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
