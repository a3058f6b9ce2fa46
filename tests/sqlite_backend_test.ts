/**
 * `BackendSqlite`'s own behaviour: opening files, bad input, schema
 * versions, WAL mode, busy retries, stopping. The Backend contract itself
 * is covered by the conformance suite (`backend_sqlite_test.ts`).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BackendSqlite } from "../backend_sqlite.ts";
import {
  BackendError,
  type CreateWorkflowRunParams,
  LeaseLostError,
  SchemaVersionError,
  type WorkflowRun,
} from "../mod.ts";
import { SCHEMA_VERSION } from "../src/sqlite/schema.ts";

const RUN: CreateWorkflowRunParams = {
  workflowName: "wf",
  version: null,
  config: {},
  context: null,
  input: null,
  availableAt: null,
  deadlineAt: null,
  idempotencyKey: null,
};

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-sqlite-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a plain connection on `path`, closed after `fn`. */
function withRawDatabase<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The names of the entries of `dir`, sorted. */
function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("BackendSqlite.connect() rejects a path that is not a non-empty string", async () => {
  for (const path of [undefined, null, 42, "", "a\0b"]) {
    await assert.rejects(
      BackendSqlite.connect(path as unknown as string),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith("Cannot open SQLite database: 'path'"),
    );
  }
});

Deno.test("BackendSqlite.connect() rejects malformed options", async () => {
  await assert.rejects(
    BackendSqlite.connect(":memory:", { namespaceId: "" }),
    TypeError,
  );
  await assert.rejects(
    BackendSqlite.connect(":memory:", { namespaceId: 7 as unknown as string }),
    TypeError,
  );
  await assert.rejects(
    BackendSqlite.connect(":memory:", { busyTimeoutMs: 0 }),
    RangeError,
  );
});

Deno.test("BackendSqlite.connect() names the path when its directory is missing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/missing/workflows.db`;
    const error = await BackendSqlite.connect(path).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BackendError);
    assert.ok(error.message.includes(JSON.stringify(path)), error.message);
    assert.ok(error.message.includes("cannot be opened"), error.message);
    assert.ok(error.cause instanceof Error);
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("BackendSqlite.connect() names the path when it is a directory", async () => {
  await withTempDir(async (dir) => {
    const error = await BackendSqlite.connect(dir).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BackendError);
    assert.ok(error.message.includes(JSON.stringify(dir)), error.message);
    assert.ok(error.message.includes("may be a directory"), error.message);
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("BackendSqlite.connect() names the path when the database cannot be written", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await Deno.writeFile(path, new Uint8Array());
    // Opened read-only through a URI: file permissions would not stop root.
    const uri = `file:${path}?mode=ro`;
    const error = await BackendSqlite.connect(uri).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BackendError);
    assert.ok(error.message.includes(JSON.stringify(uri)), error.message);
    assert.ok(error.message.includes("read-only"), error.message);
    assert.equal((await Deno.stat(path)).size, 0);
  });
});

Deno.test("BackendSqlite.connect() leaves a file that is not a SQLite database untouched", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/notes.txt`;
    const text = "These are my notes, not a database.\n".repeat(20);
    await Deno.writeTextFile(path, text);
    const error = await BackendSqlite.connect(path).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BackendError);
    assert.ok(error.message.includes(JSON.stringify(path)), error.message);
    assert.ok(
      error.message.includes("the file is not a SQLite database"),
      error.message,
    );
    assert.equal(await Deno.readTextFile(path), text);
    assert.deepEqual(entries(dir), ["notes.txt"]);
  });
});

Deno.test("BackendSqlite.connect() leaves a corrupt database untouched", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    const backend = await BackendSqlite.connect(path);
    for (let i = 0; i < 20; i++) {
      await backend.createWorkflowRun({ ...RUN, input: "x".repeat(2_000) });
    }
    await backend.stop();
    // Keep the 100-byte header, so SQLite takes it for a database; ruin
    // every page after it.
    const bytes = await Deno.readFile(path);
    bytes.fill(0xab, 100);
    await Deno.writeFile(path, bytes);
    const error = await BackendSqlite.connect(path).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BackendError);
    assert.ok(error.message.includes(JSON.stringify(path)), error.message);
    assert.ok(error.message.includes("the file is corrupt"), error.message);
    assert.deepEqual(await Deno.readFile(path), bytes);
    assert.deepEqual(entries(dir), ["workflows.db"]);
  });
});

Deno.test("BackendSqlite.connect() refuses a schema newer than the library, changing nothing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await (await BackendSqlite.connect(path)).stop();
    const newer = SCHEMA_VERSION + 1;
    withRawDatabase(path, (db) => {
      db.prepare(
        "INSERT INTO openworkflow_schema_migrations (version, applied_at) VALUES (?, ?)",
      ).run(newer, Date.now());
    });
    const before = await Deno.readFile(path);
    const error = await BackendSqlite.connect(path).then(
      () => assert.fail("connected"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof SchemaVersionError);
    assert.equal(error.location, path);
    assert.equal(error.foundVersion, newer);
    assert.equal(error.supportedVersion, SCHEMA_VERSION);
    assert.ok(error.message.includes(path), error.message);
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(entries(dir), ["workflows.db"]);
  });
});

Deno.test("BackendSqlite.connect() creates the schema once, in WAL mode, and keeps data across connections", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    const first = await BackendSqlite.connect(path);
    assert.equal(first.path, path);
    const run = await first.createWorkflowRun({ ...RUN, input: { n: 1 } });
    await first.stop();
    const second = await BackendSqlite.connect(path);
    try {
      assert.deepEqual(
        await second.getWorkflowRun({ workflowRunId: run.id }),
        run,
      );
      withRawDatabase(path, (db) => {
        assert.deepEqual(
          { ...db.prepare("PRAGMA journal_mode").get() },
          { journal_mode: "wal" },
        );
        assert.deepEqual(
          db.prepare("SELECT version FROM openworkflow_schema_migrations")
            .all().map((row) => row.version),
          Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
        );
      });
    } finally {
      await second.stop();
    }
  });
});

Deno.test("BackendSqlite.connect() migrates a fresh file once when many backends open it at once", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    const backends = await Promise.all(
      Array.from({ length: 8 }, () => BackendSqlite.connect(path)),
    );
    try {
      const run = await backends[0].createWorkflowRun(RUN);
      for (const backend of backends) {
        assert.equal(
          (await backend.getWorkflowRun({ workflowRunId: run.id }))?.id,
          run.id,
        );
      }
      withRawDatabase(path, (db) => {
        assert.deepEqual(
          db.prepare("SELECT version FROM openworkflow_schema_migrations")
            .all().map((row) => row.version),
          Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
        );
      });
    } finally {
      await Promise.all(backends.map((b) => b.stop()));
    }
  });
});

Deno.test("BackendSqlite: each :memory: backend is a database of its own", async () => {
  await using a = await BackendSqlite.connect(":memory:");
  await using b = await BackendSqlite.connect(":memory:");
  const run = await a.createWorkflowRun(RUN);
  assert.equal((await a.getWorkflowRun({ workflowRunId: run.id }))?.id, run.id);
  assert.equal(await b.getWorkflowRun({ workflowRunId: run.id }), null);
});

Deno.test("BackendSqlite finds runs by upper-case ids, as a UUID column would", async () => {
  await using backend = await BackendSqlite.connect(":memory:");
  const run = await backend.createWorkflowRun(RUN);
  const upper = run.id.toUpperCase();
  assert.equal(
    (await backend.getWorkflowRun({ workflowRunId: upper }))?.id,
    run.id,
  );
});

Deno.test("BackendSqlite retries a locked database on timers, without blocking the event loop", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await using backend = await BackendSqlite.connect(path);
    const other = new DatabaseSync(path, { timeout: 0 });
    try {
      other.exec("BEGIN IMMEDIATE");
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      const startedAt = performance.now();
      const created = backend.createWorkflowRun(RUN);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The backend is still waiting, and the event loop kept running.
      assert.ok(ticks >= 10, `only ${ticks} ticks in 200 ms`);
      other.exec("COMMIT");
      const run = await created;
      clearInterval(ticker);
      assert.ok(performance.now() - startedAt >= 200);
      assert.equal(run.status, "pending");
    } finally {
      other.close();
    }
  });
});

Deno.test("BackendSqlite commits writes queued behind a lock in call order; one failing write rolls back alone", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await using backend = await BackendSqlite.connect(path);
    const other = new DatabaseSync(path, { timeout: 0 });
    try {
      other.exec("BEGIN IMMEDIATE");
      const writes = [
        backend.createWorkflowRun({ ...RUN, input: 1 }),
        backend.heartbeatWorkflowRun({
          workflowRunId: crypto.randomUUID(),
          workerId: "nobody",
          leaseDurationMs: 1_000,
        }),
        backend.createWorkflowRun({ ...RUN, input: 2 }),
        backend.createWorkflowRun({ ...RUN, input: 3 }),
      ];
      await new Promise((resolve) => setTimeout(resolve, 50));
      other.exec("COMMIT");
      const [first, lost, second, third] = await Promise.allSettled(writes);
      assert.equal(lost.status, "rejected");
      assert.ok(lost.reason instanceof LeaseLostError);
      const ids = [first, second, third].map((result) => {
        assert.equal(result.status, "fulfilled");
        return (result.value as WorkflowRun).id;
      });
      const { runs } = await backend.listWorkflowRuns({ limit: 10 });
      assert.deepEqual(runs.map((run) => run.id), ids.reverse());
      assert.deepEqual(runs.map((run) => run.input), [3, 2, 1]);
    } finally {
      other.close();
    }
  });
});

Deno.test("BackendSqlite fails with BackendError once busyTimeoutMs has passed", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await using backend = await BackendSqlite.connect(path, {
      busyTimeoutMs: 100,
    });
    const other = new DatabaseSync(path, { timeout: 0 });
    try {
      other.exec("BEGIN IMMEDIATE");
      const startedAt = performance.now();
      const error = await backend.createWorkflowRun(RUN).then(
        () => assert.fail("created"),
        (error: unknown) => error,
      );
      const elapsedMs = performance.now() - startedAt;
      assert.ok(error instanceof BackendError);
      assert.ok(error.message.includes("stayed locked"), error.message);
      assert.ok(error.message.includes(JSON.stringify(path)), error.message);
      assert.ok(elapsedMs >= 100 && elapsedMs < 2_000, `${elapsedMs} ms`);
      other.exec("ROLLBACK");
      // The lock is gone: the backend works again.
      assert.equal((await backend.createWorkflowRun(RUN)).status, "pending");
    } finally {
      other.close();
    }
  });
});

Deno.test("BackendSqlite.stop() is idempotent and fails waiting and later operations", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    const backend = await BackendSqlite.connect(path);
    const other = new DatabaseSync(path, { timeout: 0 });
    try {
      other.exec("BEGIN IMMEDIATE");
      const waiting = backend.createWorkflowRun(RUN);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await backend.stop();
      await backend.stop();
      await assert.rejects(waiting, BackendError);
      await assert.rejects(
        backend.getWorkflowRun({ workflowRunId: crypto.randomUUID() }),
        BackendError,
      );
      other.exec("ROLLBACK");
    } finally {
      other.close();
    }
  });
});

Deno.test("BackendSqlite.stop() commits the writes issued just before it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    const backend = await BackendSqlite.connect(path);
    const writes = Array.from(
      { length: 50 },
      (_, i) => backend.createWorkflowRun({ ...RUN, input: { i } }),
    );
    await backend.stop();
    const created = await Promise.all(writes);
    const reopened = await BackendSqlite.connect(path);
    try {
      const stored = await Promise.all(
        created.map((run) =>
          reopened.getWorkflowRun({ workflowRunId: run.id })
        ),
      );
      assert.deepEqual(
        stored.map((run) => run?.input),
        Array.from({ length: 50 }, (_, i) => ({ i })),
      );
    } finally {
      await reopened.stop();
    }
  });
});

/** The specifiers of every module `entry` loads, per `deno info`. */
async function moduleGraph(entry: string): Promise<string[]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(`../${entry}`, import.meta.url).href],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success, `deno info ${entry} failed`);
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string }[];
  };
  return graph.modules.map((m) => m.specifier);
}

Deno.test("mod.ts and the Postgres entry point never load node:sqlite", async () => {
  assert.ok((await moduleGraph("backend_sqlite.ts")).includes("node:sqlite"));
  for (const entry of ["mod.ts", "backend_postgres.ts"]) {
    const sqlite = (await moduleGraph(entry)).filter((s) =>
      s.includes("sqlite")
    );
    assert.deepEqual(sqlite, [], `${entry} loads SQLite modules`);
  }
});
