/**
 * Shared test helpers: the database targets every backend-level test runs
 * against, and small utilities.
 */

import type { Backend } from "../mod.ts";
import {
  BackendPostgres,
  type BackendPostgresOptions,
} from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";
import { pgbouncerUnavailable, pgbouncerUrl } from "./pgbouncer.ts";

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
   * Why the target's tests are skipped (`SKIP_POSTGRES=1` outside CI), or
   * `null` when they run.
   */
  unavailable: string | null;
  /** Opens a fresh store for one test. */
  open(): Promise<TestStore>;
}

/**
 * Why the Postgres tests do not run: only when `SKIP_POSTGRES=1` asks for it
 * outside CI. Nothing probes the server when a test module loads; a test
 * that cannot reach it fails, naming `DATABASE_URL`.
 */
function postgresSkipReason(): string | null {
  if (Deno.env.get("SKIP_POSTGRES") !== "1") return null;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      "SKIP_POSTGRES=1 is refused in CI: Postgres tests must run",
    );
  }
  return "SKIP_POSTGRES=1";
}

const postgresUnavailableReason = postgresSkipReason();

/** Connects to Postgres, or fails naming the server and how to skip it. */
async function connectPostgres(
  options: BackendPostgresOptions,
  url = DATABASE_URL,
): Promise<BackendPostgres> {
  try {
    return await BackendPostgres.connect(url, options);
  } catch (error) {
    throw new Error(
      `Postgres at DATABASE_URL (${DATABASE_URL}) is unreachable; start it, set DATABASE_URL, or run with SKIP_POSTGRES=1 outside CI`,
      { cause: error },
    );
  }
}

function postgresStore(
  listen: boolean,
  pooler: "pgbouncer" | null = null,
): TestStore {
  const backends: Backend[] = [];
  return {
    async connect(namespaceId: string): Promise<Backend> {
      const backend = await connectPostgres(
        pooler === null
          ? { namespaceId, maxConnections: 4, listen }
          // Notifications over a direct connection, as the README says.
          : { namespaceId, maxConnections: 4, listenUrl: DATABASE_URL },
        pooler === null ? DATABASE_URL : await pgbouncerUrl(),
      );
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
 * Postgres through PgBouncer in transaction pooling mode (found by
 * `connect()` itself), with notifications over a direct connection
 * (`listenUrl`).
 */
export const postgresPgbouncerTarget: BackendTarget = {
  name: "postgres via pgbouncer",
  unavailable: postgresUnavailableReason ?? pgbouncerUnavailable(),
  open(): Promise<TestStore> {
    return Promise.resolve(postgresStore(true, "pgbouncer"));
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
export const targets: BackendTarget[] = [
  postgresTarget,
  postgresPgbouncerTarget,
  sqliteFileTarget,
];

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

/** Options of {@linkcode testEachBackend}. */
export interface TestEachOptions {
  /** The targets to run on. Default: {@linkcode targets}. */
  targets?: readonly BackendTarget[];
  /** Registers the test as ignored (a repro of a known bug). */
  ignore?: boolean;
}

/** Only the Postgres target. */
export const POSTGRES_ONLY: readonly BackendTarget[] = [postgresTarget];

/**
 * Registers a test once per target (Postgres and a SQLite file unless
 * `options.targets` says otherwise), each with a fresh store and a backend
 * in a fresh namespace.
 */
export function testEachBackend(
  name: string,
  fn: (context: TestContext) => Promise<void>,
  options: TestEachOptions = {},
): void {
  for (const target of options.targets ?? targets) {
    testBackend(target, name, fn, options.ignore);
  }
}

/** Registers a test on one target; see {@linkcode testEachBackend}. */
export function testBackend(
  target: BackendTarget,
  name: string,
  fn: (context: TestContext) => Promise<void>,
  ignore = false,
): void {
  Deno.test({
    name: `[${target.name}] ${name}`,
    ignore: ignore || target.unavailable !== null,
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

/**
 * A backend whose process "dies" on `crash()`: from then on every call
 * fails, as if the worker's host were gone. No write reaches the database.
 */
export function crashable(
  backend: Backend,
): { backend: Backend; crash(): void } {
  let crashed = false;
  const proxy = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (crashed) return Promise.reject(new Error("process crashed"));
        return value.apply(target, args);
      };
    },
  });
  return { backend: proxy, crash: () => crashed = true };
}
