/**
 * Shared test helpers: the database targets every backend-level test runs
 * against, and small utilities.
 */

import type { Backend } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

/** The Postgres every test uses; `DATABASE_URL` overrides it. */
export const DATABASE_URL = Deno.env.get("DATABASE_URL") ??
  "postgresql://postgres@127.0.0.1:5432/test";

/** A store for one test: every backend it connects shares the same data. */
export interface TestStore {
  /** Connects a backend on the store, in `namespaceId`. */
  connect(namespaceId: string): Promise<Backend>;
  /** Stops every backend connected and removes the store's files. */
  close(): Promise<void>;
}

/** A kind of backend the shared suites run against. */
export interface BackendTarget {
  /** Shown in test names, e.g. "postgres". */
  name: string;
  /**
   * Why the target cannot run here, or `null` when it can. In CI a target
   * that cannot run fails instead of being skipped.
   */
  unavailable: string | null;
  /** Opens a fresh store for one test. */
  open(): Promise<TestStore>;
  /**
   * Cases of the shared suites this target cannot run, by name, each with
   * the reason (shown in the name of the ignored test).
   */
  skipped?: ReadonlyMap<string, string>;
}

async function postgresUnavailable(): Promise<string | null> {
  try {
    const backend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId: "probe",
    });
    await backend.stop();
    return null;
  } catch (error) {
    const reason =
      `Postgres at DATABASE_URL (${DATABASE_URL}) is unreachable: ${
        error instanceof Error ? error.message : String(error)
      }`;
    if (Deno.env.get("CI") === "true") {
      throw new Error(`${reason}; Postgres tests must run in CI`);
    }
    return `${reason}; set DATABASE_URL to run the Postgres tests`;
  }
}

const postgresUnavailableReason = await postgresUnavailable();

function postgresStore(listen: boolean): TestStore {
  const backends: Backend[] = [];
  return {
    async connect(namespaceId: string): Promise<Backend> {
      const backend = await BackendPostgres.connect(DATABASE_URL, {
        namespaceId,
        maxConnections: 4,
        listen,
      });
      backends.push(backend);
      return backend;
    },
    async close(): Promise<void> {
      await Promise.all(backends.map((b) => b.stop()));
    },
  };
}

/** The Postgres target: each test gets fresh random namespaces. */
export const postgresTarget: BackendTarget = {
  name: "postgres",
  unavailable: postgresUnavailableReason,
  open(): Promise<TestStore> {
    return Promise.resolve(postgresStore(true));
  },
};

/**
 * Postgres without notifications (`listen: false`): every backend learns
 * of other processes' changes only by reading.
 */
export const postgresUnlistenedTarget: BackendTarget = {
  name: "postgres listen: false",
  unavailable: postgresUnavailableReason,
  open(): Promise<TestStore> {
    return Promise.resolve(postgresStore(false));
  },
};

/**
 * SQLite in memory, shared. A store must let several backends (several
 * namespaces, or several claimers) share its data, and each `":memory:"`
 * connection is a database of its own; so each store is one named in-memory
 * database, opened through a SQLite `file:` URI with a shared cache.
 */
export const sqliteMemoryTarget: BackendTarget = {
  name: "sqlite memory (shared cache)",
  unavailable: null,
  open(): Promise<TestStore> {
    const uri =
      `file:openworkflow-${crypto.randomUUID()}?mode=memory&cache=shared`;
    return Promise.resolve(sqliteStoreAt(uri, () => Promise.resolve()));
  },
};

/**
 * SQLite in memory through the literal `":memory:"` that users pass. Each
 * such connection is a database of its own, so a store holds one backend:
 * connecting a second one fails, and the cases that need one are listed in
 * `skipped` where the target is used.
 */
export const sqliteLiteralMemoryTarget: BackendTarget = {
  name: 'sqlite ":memory:"',
  unavailable: null,
  open(): Promise<TestStore> {
    let backend: Backend | undefined;
    return Promise.resolve({
      async connect(namespaceId: string): Promise<Backend> {
        if (backend !== undefined) {
          throw new Error(
            'A ":memory:" store holds one backend: each ":memory:" ' +
              "connection is a database of its own. Skip this case for the " +
              "target, with the reason, where the target is used.",
          );
        }
        backend = await BackendSqlite.connect(":memory:", { namespaceId });
        return backend;
      },
      async close(): Promise<void> {
        await backend?.stop();
      },
    });
  },
};

/** SQLite on a file in a fresh temporary directory, removed afterwards. */
export const sqliteFileTarget: BackendTarget = {
  name: "sqlite file",
  unavailable: null,
  async open(): Promise<TestStore> {
    const dir = await Deno.makeTempDir({ prefix: "openworkflow-sqlite-" });
    return sqliteStoreAt(
      `${dir}/workflows.db`,
      () => Deno.remove(dir, { recursive: true }),
    );
  },
};

function sqliteStoreAt(path: string, cleanUp: () => Promise<void>): TestStore {
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

/**
 * The targets the engine suites run against: Postgres, and SQLite on a
 * file (the conformance suite also covers SQLite in memory).
 */
export const targets: BackendTarget[] = [postgresTarget, sqliteFileTarget];

/** What a backend test receives. */
export interface TestContext {
  /** A backend in a fresh namespace. */
  backend: Backend;
  /** The store it is on, to connect more backends. */
  store: TestStore;
  /** The backend's namespace. */
  namespaceId: string;
}

/** A random namespace id for one test. */
export function randomNamespace(): string {
  return `test-${crypto.randomUUID()}`;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Registers a test once per target, with a fresh store and a backend in a
 * fresh namespace.
 */
export function testEachBackend(
  name: string,
  fn: (context: TestContext) => Promise<void>,
): void {
  for (const target of targets) testBackend(target, name, fn);
}

/**
 * Registers one test for `target`, with a fresh store and a backend in a
 * fresh namespace.
 */
export function testBackend(
  target: BackendTarget,
  name: string,
  fn: (context: TestContext) => Promise<void>,
): void {
  const skipped = target.skipped?.get(name);
  Deno.test({
    name: `[${target.name}] ${name}${
      skipped === undefined ? "" : ` (skipped: ${skipped})`
    }`,
    ignore: target.unavailable !== null || skipped !== undefined,
    async fn() {
      const store = await target.open();
      try {
        const namespaceId = randomNamespace();
        const backend = await store.connect(namespaceId);
        await fn({ backend, store, namespaceId });
      } finally {
        await store.close();
      }
    },
  });
}

if (postgresTarget.unavailable !== null) {
  console.warn(`Skipping Postgres tests: ${postgresTarget.unavailable}`);
}
