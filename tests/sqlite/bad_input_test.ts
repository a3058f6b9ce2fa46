/**
 * `BackendSqlite.connect()` on bad input: malformed arguments, paths that
 * cannot hold a database, files it may not use, files that are not SQLite
 * databases, corrupt files and newer schemas. Each fails with a typed error
 * that names the path and the problem, and changes nothing.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import {
  BackendError,
  type BackendProblem,
  SchemaVersionError,
} from "../../mod.ts";
import { SCHEMA_VERSION } from "../../src/sqlite/schema.ts";
import {
  entries,
  rejection,
  RUN,
  withRawDatabase,
  withTempDir,
} from "./files.ts";

/**
 * Asserts that `error` is a `BackendError` for `location` with `problem`,
 * whose message names the location and says `text`.
 */
function assertOpenError(
  error: unknown,
  location: string,
  problem: BackendProblem,
  text: string,
): void {
  assert.ok(error instanceof BackendError, String(error));
  assert.equal(error.location, location);
  assert.equal(error.problem, problem);
  assert.ok(
    error.message.includes(
      `open SQLite database ${JSON.stringify(location)} (${text})`,
    ),
    error.message,
  );
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

Deno.test("BackendSqlite.connect() says which directory is missing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/missing/workflows.db`;
    const error = await rejection(BackendSqlite.connect(path));
    assertOpenError(
      error,
      path,
      "not-found",
      `its directory ${JSON.stringify(`${dir}/missing`)} does not exist`,
    );
    assert.ok((error as Error).cause instanceof Error);
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("BackendSqlite.connect() says when the file's directory is a file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/notes`, "notes");
    const path = `${dir}/notes/workflows.db`;
    assertOpenError(
      await rejection(BackendSqlite.connect(path)),
      path,
      "not-found",
      `its directory ${JSON.stringify(`${dir}/notes`)} is not a directory`,
    );
    assert.equal(await Deno.readTextFile(`${dir}/notes`), "notes");
  });
});

Deno.test("BackendSqlite.connect() says when the path is a directory", async () => {
  await withTempDir(async (dir) => {
    assertOpenError(
      await rejection(BackendSqlite.connect(dir)),
      dir,
      "is-directory",
      "it is a directory",
    );
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("BackendSqlite.connect() says when the database is opened read-only", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await Deno.writeFile(path, new Uint8Array());
    // Opened read-only through a URI: file permissions would not stop root
    // (the permission tests below run as a user without privileges).
    const uri = `file:${path}?mode=ro`;
    assertOpenError(
      await rejection(BackendSqlite.connect(uri)),
      uri,
      "read-only",
      "the database is read-only",
    );
    assert.equal((await Deno.stat(path)).size, 0);
  });
});

Deno.test("BackendSqlite.connect() leaves a file that is not a SQLite database untouched", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/notes.txt`;
    const text = "These are my notes, not a database.\n".repeat(20);
    await Deno.writeTextFile(path, text);
    assertOpenError(
      await rejection(BackendSqlite.connect(path)),
      path,
      "not-a-database",
      "the file is not a SQLite database",
    );
    assert.equal(await Deno.readTextFile(path), text);
    assert.deepEqual(entries(dir), ["notes.txt"]);
  });
});

/** Creates a database at `path` holding `count` runs with large inputs. */
async function createDatabase(path: string, count: number): Promise<void> {
  const backend = await BackendSqlite.connect(path);
  for (let i = 0; i < count; i++) {
    await backend.createWorkflowRun({ ...RUN, input: "x".repeat(2_000) });
  }
  await backend.stop();
}

Deno.test("BackendSqlite.connect() leaves a corrupt database untouched", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await createDatabase(path, 20);
    // Keep the 100-byte header, so SQLite takes it for a database; ruin
    // every page after it.
    const bytes = await Deno.readFile(path);
    bytes.fill(0xab, 100);
    await Deno.writeFile(path, bytes);
    assertOpenError(
      await rejection(BackendSqlite.connect(path)),
      path,
      "corrupt",
      "the file is corrupt",
    );
    assert.deepEqual(await Deno.readFile(path), bytes);
    assert.deepEqual(entries(dir), ["workflows.db"]);
  });
});

Deno.test("BackendSqlite reports corruption past the schema on first use, naming the path, and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/workflows.db`;
    await createDatabase(path, 200);
    // Ruin the pages of the runs table and its indexes (their root pages,
    // which every lookup goes through), and a page in the middle of the
    // file; the schema and the migrations table stay intact.
    const { pageSize, pages } = withRawDatabase(path, (db) => {
      const roots = db.prepare(
        `SELECT rootpage FROM sqlite_master
          WHERE tbl_name = 'openworkflow_workflow_runs' AND rootpage > 0`,
      ).all().map((row) => Number(row.rootpage));
      const kept = db.prepare(
        `SELECT rootpage FROM sqlite_master
          WHERE tbl_name = 'openworkflow_schema_migrations'`,
      ).all().map((row) => Number(row.rootpage));
      const pageCount = Number(
        db.prepare("PRAGMA page_count").get()?.page_count,
      );
      const middle = Math.floor(pageCount / 2);
      return {
        pageSize: Number(db.prepare("PRAGMA page_size").get()?.page_size),
        pages: [...roots, middle].filter((p) => p > 1 && !kept.includes(p)),
      };
    });
    assert.ok(pages.length >= 6, `pages: ${pages}`);
    const bytes = await Deno.readFile(path);
    for (const page of pages) {
      bytes.fill(0xab, (page - 1) * pageSize, page * pageSize);
    }
    await Deno.writeFile(path, bytes);

    // connect() reads the header and the schema only: it succeeds.
    const backend = await BackendSqlite.connect(path);
    try {
      for (
        const call of [
          () => backend.listWorkflowRuns({ limit: 10 }),
          () => backend.claimWorkflowRun({ workerId: "w", leaseDurationMs: 1 }),
          () => backend.createWorkflowRun(RUN),
        ]
      ) {
        const error = await rejection(call());
        assert.ok(error instanceof BackendError, String(error));
        assert.equal(error.location, path);
        assert.equal(error.problem, "corrupt");
        assert.ok(error.message.includes(JSON.stringify(path)), error.message);
        assert.ok(error.message.includes("the file is corrupt"), error.message);
      }
    } finally {
      await backend.stop();
    }
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
    const error = await rejection(BackendSqlite.connect(path));
    assert.ok(error instanceof SchemaVersionError);
    assert.equal(error.location, path);
    assert.equal(error.foundVersion, newer);
    assert.equal(error.supportedVersion, SCHEMA_VERSION);
    assert.ok(error.message.includes(path), error.message);
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(entries(dir), ["workflows.db"]);
  });
});
