/**
 * Helpers for the SQLite tests that work on database files: temporary
 * directories, raw connections, and a run to create.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { CreateWorkflowRunParams } from "../../mod.ts";
import { runParams } from "../../src/testing/conformance/runs.ts";

/** A run to create, with no options. */
export const RUN: CreateWorkflowRunParams = runParams("wf", { input: null });

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-sqlite-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a plain connection on `path`, closed after `fn`. */
export function withRawDatabase<T>(
  path: string,
  fn: (db: DatabaseSync) => T,
): T {
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The names of the entries of `dir`, sorted. */
export function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** What `promise` rejects with; fails the test when it resolves. */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("expected a rejection"),
    (error: unknown) => error,
  );
}
