/**
 * The Backend conformance suite, run against `BackendSqlite` in memory and
 * on a database file.
 */

import { BackendSqlite } from "../backend_sqlite.ts";
import type { Backend } from "../mod.ts";
import { backendConformance } from "./backend_conformance/suite.ts";
import type { BackendTarget, TestStore } from "./helpers.ts";

/**
 * In memory. A store must let several backends (several namespaces, or
 * several claimers) share its data, and each `":memory:"` connection is a
 * database of its own; so each store is one named in-memory database,
 * opened through a SQLite `file:` URI with a shared cache. Every case then
 * runs against an in-memory database, through as many connections as it
 * asks for.
 */
export const sqliteMemoryTarget: BackendTarget = {
  name: "sqlite :memory:",
  unavailable: null,
  open(): Promise<TestStore> {
    const uri =
      `file:openworkflow-${crypto.randomUUID()}?mode=memory&cache=shared`;
    return Promise.resolve(storeAt(uri, () => Promise.resolve()));
  },
};

/** On a database file in a fresh temporary directory, removed afterwards. */
export const sqliteFileTarget: BackendTarget = {
  name: "sqlite file",
  unavailable: null,
  async open(): Promise<TestStore> {
    const dir = await Deno.makeTempDir({ prefix: "openworkflow-sqlite-" });
    return storeAt(
      `${dir}/workflows.db`,
      () => Deno.remove(dir, { recursive: true }),
    );
  },
};

function storeAt(path: string, cleanUp: () => Promise<void>): TestStore {
  const backends: Backend[] = [];
  return {
    async connect(namespaceId: string): Promise<Backend> {
      const backend = await BackendSqlite.connect(path, { namespaceId });
      backends.push(backend);
      return backend;
    },
    async close(): Promise<void> {
      await Promise.all(backends.map((b) => b.stop()));
      await cleanUp();
    },
  };
}

backendConformance(sqliteMemoryTarget);
backendConformance(sqliteFileTarget);
