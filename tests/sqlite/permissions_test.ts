/**
 * `BackendSqlite.connect()` on files and directories it may not use: the
 * error says "permission denied", names the path and what may not be read,
 * written or searched, and carries `problem: "permission-denied"`.
 *
 * Root ignores file permissions, so when the tests run as root the
 * connections are made by a child process running as `nobody` (through
 * `setpriv`); otherwise by a child running as the current user.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { entries, withTempDir } from "./files.ts";

const OPEN_SCRIPT = new URL("../fixtures/sqlite_open.ts", import.meta.url);

/** What the child printed for one path. */
interface Outcome {
  path: string;
  uid: number;
  connected: boolean;
  isBackendError?: boolean;
  location?: string;
  problem?: string;
  message?: string;
}

/** How to run a command without privileges, or why it cannot be done. */
type Runner = { prefix: string[] } | { unavailable: string };

async function unprivilegedRunner(): Promise<Runner> {
  if (Deno.uid() !== 0) return { prefix: [] };
  const passwd = await Deno.readTextFile("/etc/passwd").catch(() => "");
  const nobody = passwd.split("\n").map((line) => line.split(":"))
    .find((fields) => fields[0] === "nobody");
  if (nobody === undefined) {
    return { unavailable: "the tests run as root and there is no user nobody" };
  }
  try {
    await new Deno.Command("setpriv", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    return {
      unavailable:
        "the tests run as root (which ignores file permissions) and setpriv, to run as nobody, is missing",
    };
  }
  return {
    prefix: [
      "setpriv",
      `--reuid=${nobody[2]}`,
      `--regid=${nobody[3]}`,
      "--clear-groups",
      "--",
    ],
  };
}

const runner = await unprivilegedRunner();

/** Connects to each path in a child process without privileges. */
async function openUnprivileged(
  dir: string,
  paths: string[],
): Promise<Map<string, Outcome>> {
  if (!("prefix" in runner)) throw new Error(runner.unavailable);
  // The child's own Deno cache, which it may write.
  const denoDir = `${dir}/deno-dir`;
  await Deno.mkdir(denoDir, { mode: 0o777 });
  await Deno.chmod(denoDir, 0o777);
  const [command, ...args] = [
    ...runner.prefix,
    Deno.execPath(),
    "run",
    // Only the library's own modules, which need no npm packages.
    "--no-config",
    "--allow-read",
    "--allow-write",
    "--allow-sys=uid",
    OPEN_SCRIPT.pathname,
    ...paths,
  ];
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    env: { DENO_DIR: denoDir, HOME: dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr) + text);
  const outcomes = text.trim().split("\n").map((line) =>
    JSON.parse(line) as Outcome
  );
  return new Map(outcomes.map((outcome) => [outcome.path, outcome]));
}

Deno.test({
  name:
    `BackendSqlite.connect() says "permission denied" and what may not be read, written or searched${
      "unavailable" in runner ? ` (skipped: ${runner.unavailable})` : ""
    }`,
  ignore: "unavailable" in runner,
  async fn() {
    await withTempDir(async (dir) => {
      // The user may create files here (SQLite's journal files, say).
      await Deno.chmod(dir, 0o777);
      const database = async (path: string) =>
        await (await BackendSqlite.connect(path)).stop();
      // A database the user may not read.
      const unreadable = `${dir}/unreadable.db`;
      await database(unreadable);
      // A database in WAL mode with the current schema that the user may
      // read but not write: SQLite opens it read-only without complaint.
      const readOnly = `${dir}/read-only.db`;
      await database(readOnly);
      // A directory the user may not write: no new file, and no journal
      // files next to an existing one.
      const lockedDir = `${dir}/locked`;
      await Deno.mkdir(lockedDir);
      const existing = `${lockedDir}/existing.db`;
      await database(existing);
      // A directory the user may not search.
      const closedDir = `${dir}/closed`;
      await Deno.mkdir(closedDir);
      const cases: [string, string][] = [
        [unreadable, "the file cannot be read"],
        [readOnly, "the file cannot be written"],
        [
          `${lockedDir}/new.db`,
          `the file cannot be created in its directory ${
            JSON.stringify(lockedDir)
          }`,
        ],
        [
          existing,
          `its directory ${JSON.stringify(lockedDir)} is not writable`,
        ],
        [
          `${closedDir}/workflows.db`,
          "a directory on its path may not be searched",
        ],
      ];
      const files = [unreadable, readOnly, existing];
      const before = await Promise.all(files.map((f) => Deno.readFile(f)));
      await Deno.chmod(unreadable, 0o200);
      await Deno.chmod(readOnly, 0o444);
      await Deno.chmod(existing, 0o666);
      await Deno.chmod(lockedDir, 0o555);
      await Deno.chmod(closedDir, 0o666);
      let outcomes: Map<string, Outcome>;
      try {
        outcomes = await openUnprivileged(dir, cases.map(([path]) => path));
      } finally {
        await Deno.chmod(closedDir, 0o755);
        await Deno.chmod(lockedDir, 0o755);
        await Deno.chmod(unreadable, 0o644);
      }
      for (const [path, text] of cases) {
        const outcome = outcomes.get(path);
        assert.ok(outcome !== undefined, `no outcome for ${path}`);
        assert.notEqual(outcome.uid, 0, "the child ran as root");
        assert.equal(outcome.connected, false, `${path} connected`);
        assert.equal(outcome.isBackendError, true, outcome.message);
        assert.equal(outcome.location, path);
        assert.equal(outcome.problem, "permission-denied", outcome.message);
        assert.ok(
          outcome.message?.includes(
            `open SQLite database ${
              JSON.stringify(path)
            } (permission denied: ${text}`,
          ),
          outcome.message,
        );
      }
      // Nothing was written: the databases are as they were, and no file
      // appeared where the user may not write. (Reading the read-only
      // database in WAL mode made SQLite create its shared-memory and
      // empty WAL files next to it.)
      assert.deepEqual(
        await Promise.all(files.map((f) => Deno.readFile(f))),
        before,
      );
      assert.deepEqual(entries(lockedDir), ["existing.db"]);
      assert.deepEqual(entries(closedDir), []);
      const wal = `${readOnly}-wal`;
      const walSize = await Deno.stat(wal).then((s) => s.size, () => 0);
      assert.equal(walSize, 0);
    });
  },
});
