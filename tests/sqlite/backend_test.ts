/**
 * `BackendSqlite`'s own behaviour: opening files, schema versions, WAL
 * mode, busy retries, stopping. Bad input is in `sqlite_bad_input_test.ts`;
 * the Backend contract itself is covered by the conformance suite
 * (`backend_sqlite_test.ts`).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { BackendError, LeaseLostError, type WorkflowRun } from "../../mod.ts";
import { SCHEMA_VERSION } from "../../src/sqlite/schema.ts";
import { rejection, RUN, withRawDatabase, withTempDir } from "./files.ts";

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
      const error = await rejection(backend.createWorkflowRun(RUN));
      const elapsedMs = performance.now() - startedAt;
      assert.ok(error instanceof BackendError);
      assert.equal(error.problem, "locked");
      assert.equal(error.location, path);
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
      const later = await rejection(
        backend.getWorkflowRun({ workflowRunId: crypto.randomUUID() }),
      );
      assert.ok(later instanceof BackendError);
      assert.equal(later.location, path);
      assert.ok(later.message.includes("is stopped"), later.message);
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

/**
 * The specifiers of every module `entry` loads, per `deno info`; the
 * project's own modules relative to its root (whose own path may contain
 * any word).
 */
async function moduleGraph(entry: string): Promise<string[]> {
  const root = new URL("../../", import.meta.url).href;
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(`../../${entry}`, import.meta.url).href],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success, `deno info ${entry} failed`);
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string }[];
  };
  return graph.modules.map((m) =>
    m.specifier.startsWith(root) ? m.specifier.slice(root.length) : m.specifier
  );
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
