/**
 * `worker start --dir` and `doctor --dir`: imports the modules under a
 * folder and finds the workflows they export.
 *
 * @module
 */

import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { WorkerWorkflow } from "../worker/worker_options.ts";
import { CommandError } from "./output.ts";

/** The extensions of the modules imported. */
const MODULE = /\.(ts|mts|js|mjs)$/;
/** Files and folders skipped: tests, declarations, dependencies. */
const SKIPPED = /(^|\/)(node_modules|\.[^/]*)$|(_test|\.test|\.d)\.[mc]?[tj]s$/;

/** The workflows the modules under a folder export, and where. */
export interface LoadedWorkflows {
  /** The workflows, one per name and version. */
  workflows: WorkerWorkflow[];
  /** Each workflow's module, by `name@version`. */
  sources: Map<string, string>;
  /** How many modules were imported. */
  modules: number;
}

/**
 * Whether an export is a workflow: what `defineWorkflow()` or
 * `ow.defineWorkflow()` returns, also from another copy of this package
 * (so not by `instanceof`).
 */
function isWorkflow(value: unknown): value is WorkerWorkflow {
  if (value === null || typeof value !== "object") return false;
  const candidate = value as Partial<Record<keyof WorkerWorkflow, unknown>>;
  return typeof candidate.name === "string" &&
    typeof candidate.fn === "function" &&
    (candidate.version === null || typeof candidate.version === "string") &&
    typeof candidate.retry === "object" && "flowControl" in candidate;
}

/** The module files under `dir`, in a stable order. */
async function moduleFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (
    const entry of (await readdir(dir, { withFileTypes: true })).sort(
      (a, b) => a.name < b.name ? -1 : 1,
    )
  ) {
    const path = join(dir, entry.name);
    if (SKIPPED.test(path)) continue;
    if (entry.isDirectory()) files.push(...await moduleFiles(path));
    else if (entry.isFile() && MODULE.test(entry.name)) files.push(path);
  }
  return files;
}

/**
 * Imports every module under `dir` and collects the workflows they export
 * (declarations from `defineWorkflow()` and definitions from
 * `ow.defineWorkflow()`).
 *
 * @throws {CommandError} for a folder that does not exist, a module that
 * fails to import, or one workflow exported twice with different functions.
 */
export async function loadWorkflows(dir: string): Promise<LoadedWorkflows> {
  const root = resolve(dir);
  try {
    if (!(await stat(root)).isDirectory()) {
      throw new CommandError(`--dir ${dir} is not a folder`);
    }
  } catch (error) {
    if (error instanceof CommandError) throw error;
    throw new CommandError(`--dir ${dir} does not exist`);
  }
  const files = await moduleFiles(root);
  const workflows = new Map<string, WorkerWorkflow>();
  const sources = new Map<string, string>();
  for (const file of files) {
    let exports: Record<string, unknown>;
    try {
      // The user's modules, found at run time: nothing to rewrite when
      // publishing (a file URL uses no import map).
      exports = await import(pathToFileURL(file).href);
    } catch (error) {
      throw new CommandError(
        `Cannot import ${file}: ${
          error instanceof Error ? error.message.split("\n")[0] : String(error)
        }`,
      );
    }
    for (const value of Object.values(exports)) {
      if (!isWorkflow(value)) continue;
      const key = `${value.name}@${value.version ?? ""}`;
      const seen = workflows.get(key);
      if (seen !== undefined && seen.fn !== value.fn) {
        throw new CommandError(
          `Workflow '${value.name}'${
            value.version === null ? "" : ` version '${value.version}'`
          } is exported by both ${sources.get(key)} and ${file}`,
        );
      }
      workflows.set(key, value);
      sources.set(key, file);
    }
  }
  return { workflows: [...workflows.values()], sources, modules: files.length };
}
