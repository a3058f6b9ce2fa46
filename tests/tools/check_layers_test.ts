/**
 * tools/check_layers.ts on small fixture trees written to temporary
 * directories, run as a subprocess with `--root`.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(
  new URL("../../tools/check_layers.ts", import.meta.url),
);

/** A tree that follows every rule. */
const CLEAN: Record<string, string> = {
  "mod.ts": `export { Client } from "./src/client/client.ts";\n` +
    `export type { Run } from "./src/core/records.ts";\n`,
  "backend_sqlite.ts":
    `export { SqliteBackend } from "./src/sqlite/backend.ts";\n`,
  "backend_postgres.ts":
    `export { PostgresBackend } from "./src/postgres/backend.ts";\n`,
  "src/core/records.ts": `export interface Run { id: string }\n`,
  "src/core/errors.ts": `import type { Run } from "./records.ts";\n` +
    `export class RunError extends Error { run?: Run }\n`,
  "src/sql/checks.ts": `import type { Run } from "../core/records.ts";\n` +
    `export const check = (run: Run): boolean => run.id !== "";\n`,
  "src/execution/execution.ts":
    `import { RunError } from "../core/errors.ts";\n` +
    `export const execute = (): Error => new RunError();\n`,
  "src/worker/worker.ts":
    `import { execute } from "../execution/execution.ts";\n` +
    `export type { Run } from "../core/records.ts";\n` +
    `export class Worker { run = execute; }\n`,
  "src/client/client.ts": `import { Worker } from "../worker/worker.ts";\n` +
    `import type { Run } from "../core/records.ts";\n` +
    `export class Client { worker = new Worker(); last?: Run; }\n`,
  "src/sqlite/backend.ts": `import { DatabaseSync } from "node:sqlite";\n` +
    `import { check } from "../sql/checks.ts";\n` +
    `export class SqliteBackend { db?: DatabaseSync; check = check; }\n`,
  "src/postgres/backend.ts": `import { connect } from "node:net";\n` +
    `import { check } from "../sql/checks.ts";\n` +
    `export class PostgresBackend { dial = connect; check = check; }\n`,
};

interface Result {
  code: number;
  output: string;
}

/** Writes `files` (the clean tree, with `changes` applied) and checks it. */
async function checkTree(
  changes: Record<string, string | null> = {},
): Promise<Result> {
  const root = await Deno.makeTempDir({ prefix: "check_layers_" });
  try {
    const files: Record<string, string | null> = { ...CLEAN, ...changes };
    for (const [path, text] of Object.entries(files)) {
      if (text === null) continue;
      await Deno.mkdir(join(root, dirname(path)), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-run", SCRIPT, "--root", root],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code,
      output: decoder.decode(stdout) + decoder.decode(stderr),
    };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function lines(result: Result): string[] {
  return result.output.trimEnd().split("\n");
}

Deno.test("check_layers passes a clean tree", async () => {
  const result = await checkTree();
  assert.equal(result.code, 0, result.output);
  assert.deepEqual(lines(result), [
    "layers: 11 modules, 0 cycles, 0 upward imports",
  ]);
});

Deno.test("check_layers reports a type-only import cycle", async () => {
  // records.ts -> errors.ts by `import type`, errors.ts -> records.ts by
  // `import type`: no runtime cycle, but a cycle all the same.
  const result = await checkTree({
    "src/core/records.ts": `import type { RunError } from "./errors.ts";\n` +
      `export interface Run { id: string; error?: RunError }\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "import cycle among 2 modules: src/core/errors.ts, src/core/records.ts",
    ),
    result.output,
  );
  assert.ok(
    lines(result).includes(
      "  src/core/errors.ts -> src/core/records.ts -> src/core/errors.ts",
    ),
    result.output,
  );
  assert.match(result.output, /, 1 cycle, 0 upward imports$/m);
});

Deno.test("check_layers reports a cycle closed by export type ... from", async () => {
  const result = await checkTree({
    "src/core/a.ts": `import { b } from "./b.ts";\nexport type A = typeof b;\n`,
    "src/core/b.ts": `import { c } from "./c.ts";\nexport const b = c;\n`,
    "src/core/c.ts": `export type { A } from "./a.ts";\nexport const c = 1;\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "  src/core/a.ts -> src/core/b.ts -> src/core/c.ts -> src/core/a.ts",
    ),
    result.output,
  );
});

Deno.test("check_layers reports an upward import with both files and the rule", async () => {
  const result = await checkTree({
    "src/core/errors.ts":
      `import type { Worker } from "../worker/worker.ts";\n` +
      `export class RunError extends Error { worker?: Worker }\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "src/core/errors.ts imports src/worker/worker.ts (core may import only: core)",
    ),
    result.output,
  );
  // worker -> execution -> core/errors.ts -> worker is a cycle too.
  assert.match(result.output, /, 1 cycle, 1 upward import$/m);
});

Deno.test("check_layers reports an entry file importing outside its layers", async () => {
  const result = await checkTree({
    "backend_sqlite.ts": `export { check } from "./src/sql/checks.ts";\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "backend_sqlite.ts imports src/sql/checks.ts (backend_sqlite.ts may import only: sqlite, core)",
    ),
    result.output,
  );
});

Deno.test("check_layers reports a file directly in src/", async () => {
  const result = await checkTree({
    "src/util.ts": `export const util = 1;\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes("src/util.ts is in no layer"),
    result.output,
  );
});

Deno.test("check_layers reports a src/ folder not in the layer table", async () => {
  const result = await checkTree({
    "src/misc/util.ts": `export const util = 1;\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes("src/misc/ is in no layer (not in the layer table)"),
    result.output,
  );
});

Deno.test("check_layers reports mod.ts reaching src/sqlite transitively", async () => {
  const result = await checkTree({
    "src/client/client.ts": `import { Worker } from "../worker/worker.ts";\n` +
      `import type { SqliteBackend } from "../sqlite/backend.ts";\n` +
      `export class Client { worker = new Worker(); db?: SqliteBackend; }\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "mod.ts reaches src/sqlite/backend.ts: mod.ts -> src/client/client.ts -> src/sqlite/backend.ts",
    ),
    result.output,
  );
});

Deno.test("check_layers reports mod.ts reaching node:sqlite from a layer that may", async () => {
  // Importing node:sqlite breaks no layer rule, but mod.ts must not reach it.
  const result = await checkTree({
    "src/core/records.ts":
      `import type { DatabaseSync } from "node:sqlite";\n` +
      `export interface Run { id: string; db?: DatabaseSync }\n`,
  });
  assert.equal(result.code, 1, result.output);
  assert.ok(
    lines(result).includes(
      "mod.ts reaches node:sqlite: mod.ts -> src/core/records.ts -> node:sqlite",
    ),
    result.output,
  );
  assert.match(
    result.output,
    /, 0 cycles, 0 upward imports, 1 other problem$/m,
  );
});

Deno.test("check_layers ignores bare specifiers and the vendored driver for cycles", async () => {
  const result = await checkTree({
    "src/core/log.ts": `import { getLogger } from "@logtape/logtape";\n` +
      `export const log = getLogger;\n`,
    "src/postgres/driver/index.js":
      `import "../backend.ts";\nexport default 1;\n`,
    "src/postgres/backend.ts": `import postgres from "./driver/index.js";\n` +
      `import { check } from "../sql/checks.ts";\n` +
      `export class PostgresBackend { sql = postgres; check = check; }\n`,
  });
  assert.equal(result.code, 0, result.output);
  assert.deepEqual(lines(result), [
    "layers: 12 modules, 0 cycles, 0 upward imports",
  ]);
});
