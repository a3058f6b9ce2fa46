/**
 * The `openworkflow` command line: run workers, find, inspect, cancel,
 * retry, fork and delete runs, manage schedules, apply the schema, check
 * a deployment, and serve the web dashboard. On Deno, Node and Bun.
 *
 * ```sh
 * deno run -A jsr:@openworkflow/core/cli --help
 * deno run -A jsr:@openworkflow/core/cli worker start --dir ./workflows --sqlite app.db
 * deno run -A jsr:@openworkflow/core/cli runs list --status failed --database-url postgresql://…
 * deno run -A jsr:@openworkflow/core/cli runs retry 0b0e…
 * npx openworkflow doctor --dir ./workflows   # from the npm package, on Node
 * OPENWORKFLOW_DASHBOARD_TOKEN=… deno run -A jsr:@openworkflow/core/cli dashboard --port 8080
 * ```
 *
 * Exit codes: 0 success, 1 a failure (an unknown run, a refused action,
 * the database unreachable) with a one-line message on stderr, 2 a usage
 * error with the usage on stderr.
 *
 * @example Run the CLI from code (as the tests do)
 * ```ts ignore
 * import { main } from "@openworkflow/core/cli";
 * const code = await main(["runs", "list", "--sqlite", "app.db"], cliProcess());
 * ```
 *
 * @module
 */

import process from "node:process";
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { type CliProcess, main } from "./src/cli/main.ts";
import type { Io } from "./src/cli/output.ts";

export { type CliProcess, type Io, main };

/**
 * This process as the CLI sees it: its standard output and error, whether
 * standard output is a terminal, its environment, and SIGINT/SIGTERM.
 *
 * @returns The process.
 *
 * @example
 * ```ts ignore
 * process.exitCode = await main(process.argv.slice(2), cliProcess());
 * ```
 */
export function cliProcess(): CliProcess {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    isTty: process.stdout.isTTY === true,
    env: (name) => process.env[name],
    stopRequested: () =>
      new Promise((resolve) => {
        for (const signal of ["SIGINT", "SIGTERM"] as const) {
          process.once(signal, () => resolve(signal));
        }
      }),
  };
}

/** Whether this module is the program that was run (Deno, Bun, Node). */
function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = await main(process.argv.slice(2), cliProcess());
}
