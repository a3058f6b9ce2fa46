/**
 * The portable suite: what a Node or Bun application sees after installing
 * the npm package. It imports the package by name only, and runs unchanged
 * under `node --test` (Node 20 and later) and `bun test`.
 *
 * `run.sh` installs the packed tarball into a scratch project next to a copy
 * of this file and runs it there; it is not a Deno test.
 *
 * Postgres: `DATABASE_URL` (default postgresql://postgres@127.0.0.1:5432/test);
 * every test uses a fresh random namespace. The SQLite cases need
 * `node:sqlite` (Bun, Node 22.13 or later) and are skipped, with the reason,
 * on older Node.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
// The suite's own admin connection: run.sh installs npm postgres for it (for
// `deno check`, deno.json maps it to the vendored copy in this folder's scope).
import postgres from "postgres";
import {
  BackendError,
  OpenWorkflow,
  WorkflowFailedError,
  WorkflowRunHandle,
} from "@openworkflow/core";
import { BackendPostgres } from "@openworkflow/core/postgres";

const DATABASE_URL = process.env.DATABASE_URL ??
  "postgresql://postgres@127.0.0.1:5432/test";
const RESULT_TIMEOUT_MS = 20_000;
const EXAMPLE_TIMEOUT_MS = 30_000;
/** A test that takes longer has hung (each takes about a second). */
const TEST_TIMEOUT_MS = 45_000;

const runtime = typeof globalThis.Bun === "undefined"
  ? `Node ${process.versions.node}`
  : `Bun ${globalThis.Bun.version}`;

/** Whether this runtime has `node:sqlite` (Bun; Node 22.13 and later). */
function hasNodeSqlite() {
  if (typeof globalThis.Bun !== "undefined") return true;
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 13);
}

// Only the SQLite entry point loads node:sqlite: where the runtime should
// have it, failing to import it is a failure, never a skip.
const sqliteModule = hasNodeSqlite()
  ? await import("@openworkflow/core/sqlite")
  : null;
const sqliteSkip = sqliteModule === null
  ? `${runtime} lacks node:sqlite (it needs Node 22.13 or later, or Bun)`
  : false;

// Where node:sqlite is missing, the SQLite entry point still imports, and
// connecting says what the runtime lacks.
describe("the SQLite entry point without node:sqlite", () => {
  it("connect() rejects with a BackendError naming what is needed", {
    skip: sqliteModule === null ? false : `${runtime} has node:sqlite`,
  }, async () => {
    const { BackendSqlite } = await import("@openworkflow/core/sqlite");
    await assert.rejects(
      BackendSqlite.connect(":memory:"),
      (error) =>
        error instanceof BackendError &&
        /node:sqlite.*Node 22\.13 or later/.test(error.message),
    );
  });
});

// The reasons a path cannot hold a database come from node:fs, which must
// tell the same on every runtime.
describe("BackendSqlite.connect() on a path that cannot hold a database", () => {
  it("says it is a directory, or which directory is missing", {
    skip: sqliteSkip,
  }, async () => {
    const directory = await mkdtemp(join(tmpdir(), "openworkflow-sqlite-"));
    try {
      const missing = join(directory, "missing", "test.db");
      for (
        const [path, problem, text] of [
          [directory, "is-directory", "it is a directory"],
          [
            missing,
            "not-found",
            `its directory ${
              JSON.stringify(join(directory, "missing"))
            } does not exist`,
          ],
        ]
      ) {
        await assert.rejects(
          sqliteModule.BackendSqlite.connect(path),
          (error) =>
            error instanceof BackendError && error.location === path &&
            error.problem === problem &&
            error.message.includes(`${JSON.stringify(path)} (${text})`),
        );
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

/** Whether this runtime runs a `.ts` file as is (Bun; Node 22.18 and later). */
function runsTypeScript() {
  if (typeof globalThis.Bun !== "undefined") return true;
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 18);
}

const typeStrippingSkip = runsTypeScript()
  ? false
  : `${runtime} does not run TypeScript files (it needs Node 22.18 or later, or Bun)`;

function randomNamespace() {
  return `node-bun-${randomUUID()}`;
}

/** A kind of backend the cases run against. */
const targets = [
  {
    name: "postgres",
    skip: false,
    async open() {
      const backend = await BackendPostgres.connect(DATABASE_URL, {
        namespaceId: randomNamespace(),
        maxConnections: 4,
      });
      return { backend, close: () => backend.stop() };
    },
  },
  {
    name: "sqlite",
    skip: sqliteSkip,
    async open() {
      const directory = await mkdtemp(join(tmpdir(), "openworkflow-sqlite-"));
      const backend = await sqliteModule.BackendSqlite.connect(
        join(directory, "test.db"),
        { namespaceId: randomNamespace() },
      );
      return {
        backend,
        async close() {
          await backend.stop();
          await rm(directory, { recursive: true, force: true });
        },
      };
    },
  },
];

/** Runs `fn` with `worker` started, and stops the worker after. */
async function withStartedWorker(worker, fn) {
  await worker.start();
  try {
    await fn();
  } finally {
    await worker.stop();
  }
}

/**
 * The cases run against every backend, each with a client on a fresh
 * backend: `[name, fn(ow)]`.
 */
const cases = [
  [
    "a defined workflow runs on a started worker and result() returns its output",
    async (ow) => {
      const greet = ow.defineWorkflow(
        { name: "greet" },
        async ({ input, step }) => {
          const greeting = await step.run(
            { name: "generate" },
            () => `Hello, ${input.name}!`,
          );
          return { greeting };
        },
      );
      assert.equal(greet.name, "greet");
      const worker = ow.newWorker({ pollIntervalMs: 20 });
      await withStartedWorker(worker, async () => {
        const handle = await greet.run({ name: "Alice" });
        assert.ok(handle instanceof WorkflowRunHandle);
        assert.equal(handle.workflowRun.status, "pending");
        assert.deepEqual(
          await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }),
          { greeting: "Hello, Alice!" },
        );
        assert.equal((await handle.refresh()).status, "succeeded");
      });
    },
  ],
  [
    "worker.tick() claims and executes one pending run",
    async (ow) => {
      const double = ow.defineWorkflow(
        { name: "double" },
        async ({ input, step }) =>
          await step.run({ name: "double" }, () => input * 2),
      );
      const handle = await double.run(21);
      assert.equal(await ow.newWorker().tick(), 1);
      assert.equal(await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }), 42);
    },
  ],
  [
    "a completed step is not executed again when the run is replayed",
    async (ow) => {
      const calls = { body: 0, before: 0, flaky: 0 };
      const replayed = ow.defineWorkflow(
        { name: "replayed" },
        async ({ step }) => {
          calls.body++;
          const a = await step.run({ name: "before" }, () => {
            calls.before++;
            return 20;
          });
          // Fails once: the run parks until the retry is due, and then the
          // workflow function is replayed from the top.
          const b = await step.run(
            { name: "flaky", retry: { maxAttempts: 2, initialIntervalMs: 10 } },
            ({ attempt }) => {
              calls.flaky++;
              if (attempt === 1) throw new Error("temporarily unavailable");
              return 22;
            },
          );
          return a + b;
        },
      );
      const worker = ow.newWorker({ pollIntervalMs: 20 });
      await withStartedWorker(worker, async () => {
        const handle = await replayed.run();
        assert.equal(await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }), 42);
        assert.deepEqual(calls, { body: 2, before: 1, flaky: 2 });
        const attempts = await handle.listStepAttempts();
        assert.deepEqual(attempts.map((a) => [a.stepName, a.status]), [
          ["before", "succeeded"],
          ["flaky", "failed"],
          ["flaky", "succeeded"],
        ]);
      });
    },
  ],
  [
    "step.sleep() waits, then the run resumes without executing completed steps again",
    async (ow) => {
      const calls = { before: 0, after: 0 };
      const napper = ow.defineWorkflow({ name: "napper" }, async ({ step }) => {
        const a = await step.run({ name: "before" }, () => {
          calls.before++;
          return 20;
        });
        await step.sleep("nap", 300);
        const b = await step.run({ name: "after" }, () => {
          calls.after++;
          return 22;
        });
        return a + b;
      });
      const worker = ow.newWorker({ pollIntervalMs: 20 });
      await withStartedWorker(worker, async () => {
        const startedAt = Date.now();
        const handle = await napper.run();
        assert.equal(await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }), 42);
        assert.ok(Date.now() - startedAt >= 300, "the sleep lasts 300 ms");
        assert.deepEqual(calls, { before: 1, after: 1 });
        const attempts = await handle.listStepAttempts();
        assert.deepEqual(
          attempts.map((a) => [a.stepName, a.kind, a.status]),
          [
            ["before", "run", "succeeded"],
            ["nap", "sleep", "succeeded"],
            ["after", "run", "succeeded"],
          ],
        );
      });
    },
  ],
  [
    "a step's failure rejects step.run() and the workflow can catch it",
    async (ow) => {
      let calls = 0;
      const charge = ow.defineWorkflow({ name: "charge" }, async ({ step }) => {
        try {
          await step.run(
            { name: "charge-card", retry: { maxAttempts: 1 } },
            () => {
              calls++;
              throw new TypeError("card declined");
            },
          );
          return { charged: true };
        } catch (error) {
          return {
            charged: false,
            isError: error instanceof Error,
            name: error.name,
            message: error.message,
          };
        }
      });
      const handle = await charge.run();
      assert.equal(await ow.newWorker().tick(), 1);
      assert.deepEqual(await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }), {
        charged: false,
        isError: true,
        name: "TypeError",
        message: "card declined",
      });
      assert.equal(calls, 1);
    },
  ],
  [
    "result() rejects with WorkflowFailedError when the workflow throws",
    async (ow) => {
      const doomed = ow.defineWorkflow({ name: "doomed" }, async ({ step }) => {
        await step.run({ name: "prepare" }, () => "ready");
        throw new RangeError("boom");
      });
      const worker = ow.newWorker({ pollIntervalMs: 20 });
      await withStartedWorker(worker, async () => {
        const handle = await doomed.run();
        await assert.rejects(
          handle.result({ timeoutMs: RESULT_TIMEOUT_MS }),
          (error) => {
            assert.ok(error instanceof WorkflowFailedError);
            assert.equal(error.name, "WorkflowFailedError");
            assert.equal(error.workflowRunId, handle.id);
            assert.ok(error.cause instanceof Error);
            assert.equal(error.cause.name, "RangeError");
            assert.equal(error.cause.message, "boom");
            return true;
          },
        );
        assert.equal((await handle.refresh()).status, "failed");
      });
    },
  ],
  [
    "worker.stop() waits for the run in flight",
    async (ow) => {
      let enter;
      const entered = new Promise((resolve) => enter = resolve);
      let release;
      const gate = new Promise((resolve) => release = resolve);
      const slow = ow.defineWorkflow({ name: "slow" }, async ({ step }) => {
        return await step.run({ name: "wait" }, async () => {
          enter();
          await gate;
          return "done";
        });
      });
      const worker = ow.newWorker({ pollIntervalMs: 20 });
      await worker.start();
      const handle = await slow.run();
      await entered;
      let stopped = false;
      const stopping = worker.stop().then(() => stopped = true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(stopped, false);
      release();
      await stopping;
      assert.equal(worker.activeCount, 0);
      assert.equal((await handle.refresh()).status, "succeeded");
    },
  ],
];

for (const target of targets) {
  describe(`[${target.name}] on ${runtime}`, () => {
    for (const [name, fn] of cases) {
      it(name, { skip: target.skip, timeout: TEST_TIMEOUT_MS }, async () => {
        const { backend, close } = await target.open();
        try {
          await fn(new OpenWorkflow({ backend }));
        } finally {
          await close();
        }
      });
    }
  });
}

/**
 * Runs an example file of the runtime documentation with this runtime, in a
 * scratch directory, and returns what it printed.
 */
async function runExample(file, env) {
  const cwd = await mkdtemp(join(tmpdir(), "openworkflow-example-"));
  try {
    const path = fileURLToPath(new URL(file, import.meta.url));
    return await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [path],
        { cwd, env: { ...process.env, ...env }, timeout: EXAMPLE_TIMEOUT_MS },
        (error, stdout, stderr) => {
          if (error) {
            reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
          } else resolve(stdout);
        },
      );
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

/**
 * Runs `fn` with the URL of a fresh, empty Postgres database, dropped after:
 * the examples use the default namespace, which must not see earlier runs.
 */
async function withFreshDatabase(fn) {
  const name = `openworkflow_example_${randomUUID().replaceAll("-", "")}`;
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(DATABASE_URL);
      url.pathname = `/${name}`;
      await fn(url.href);
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

describe(`the time-skipping test environment on ${runtime}`, () => {
  it("a 30-day sleep ends with advance('30d'), in real milliseconds", {
    skip: sqliteSkip,
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { createTestEnvironment } = await import(
      "@openworkflow/core/testing"
    );
    const env = await createTestEnvironment();
    try {
      const trial = env.ow.defineWorkflow(
        { name: "trial" },
        async ({ step }) => {
          await step.sleep("trial-period", "30d");
          return await step.run({ name: "charge" }, () => "charged");
        },
      );
      await env.ow.newWorker().start();
      const started = env.now().getTime();
      const handle = await trial.run();
      await env.advance("29d");
      assert.equal((await handle.refresh()).status, "sleeping");
      await env.advance("1d");
      assert.equal(
        await handle.result({ timeoutMs: RESULT_TIMEOUT_MS }),
        "charged",
      );
      assert.ok(env.now().getTime() - started >= 30 * 86_400_000);
    } finally {
      await env.stop();
    }
  });
});

describe(`runtime documentation examples on ${runtime}`, () => {
  it("the Node example (Postgres) runs and prints the greeting", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withFreshDatabase(async (url) => {
      const printed = await runExample("./example_node.mjs", {
        DATABASE_URL: url,
      });
      assert.match(printed, /greeting: ["']Hello, Alice!["']/);
    });
  });

  it("the Bun example (SQLite, TypeScript) runs and prints the greeting", {
    skip: sqliteSkip || typeStrippingSkip,
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const printed = await runExample("./example_bun.ts", {});
    assert.match(printed, /greeting: ["']Hello, Alice!["']/);
  });
});

/** Runs the package's CLI with this runtime; resolves { code, stdout, stderr }. */
function runCli(args, env = {}) {
  const cli = fileURLToPath(import.meta.resolve("@openworkflow/core/cli"));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...process.env, ...env }, timeout: EXAMPLE_TIMEOUT_MS },
      (error, stdout, stderr) =>
        resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }),
    );
  });
}

describe(`the CLI from the npm package on ${runtime}`, () => {
  it("prints its help, and refuses a bad command line with exit code 2", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /runs retry/);
    const bad = await runCli(["runs", "list", "--bogus"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--bogus'/);
  });

  it("migrates, lists, retries and deletes on Postgres", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const namespace = `cli-${randomUUID()}`;
    const common = ["--database-url", DATABASE_URL, "--namespace", namespace];
    assert.equal((await runCli(["migrate", ...common])).code, 0);
    const backend = await BackendPostgres.connect(DATABASE_URL, {
      namespaceId: namespace,
    });
    try {
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow(
        { name: "cli-portable", retry: { maxAttempts: 1 } },
        () => Promise.reject(new Error("broken")),
      );
      const handle = await wf.run();
      const worker = ow.newWorker();
      await worker.start();
      try {
        await assert.rejects(handle.result({ timeoutMs: RESULT_TIMEOUT_MS }));
      } finally {
        await worker.stop();
      }
      const list = await runCli([
        "runs",
        "list",
        "--status",
        "failed",
        "--json",
        ...common,
      ]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(JSON.parse(list.stdout).runs.map((r) => r.id), [
        handle.id,
      ]);
      const retry = await runCli(["runs", "retry", handle.id, ...common]);
      assert.equal(retry.code, 0, retry.stderr);
      assert.equal((await handle.refresh()).status, "pending");
      const again = await runCli(["runs", "retry", handle.id, ...common]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /it is pending/);
      await handle.cancel();
      const deleted = await runCli([
        "runs",
        "delete",
        "--finished-before",
        "0s",
        "--json",
        ...common,
      ]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(JSON.parse(deleted.stdout).deleted, 1);
    } finally {
      await backend.stop();
    }
  });
});
