/**
 * The CLI: parses a command line (`parseArgs` from `node:util`, on Deno,
 * Node and Bun alike), prints help at every level, connects to the backend
 * the options name, runs the command, and turns its outcome into an exit
 * code: 0 success, 1 a failure (one line on stderr), 2 a usage error (the
 * usage on stderr).
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Backend } from "../core/backend.ts";
import {
  type CommandContext,
  doctor,
  migrate,
  runsCancel,
  runsDelete,
  runsFork,
  runsList,
  runsRetry,
  runsShow,
  schedulesAct,
  schedulesList,
  type Values,
  workerStart,
} from "./commands.ts";
import { dashboardServe } from "./dashboard.ts";
import { CommandError, errorLine, type Io, UsageError } from "./output.ts";

/** The program's name in usage texts. */
const PROGRAM = "openworkflow";

/** What the options of every command say. */
const COMMON = `Connection (any command, anywhere after it):
  --database-url URL   Postgres URL (default: $DATABASE_URL)
  --sqlite PATH        a SQLite file instead of Postgres
  --namespace NS       the namespace (default: "default")
  -h, --help           this help`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The options every command takes. */
const COMMON_OPTIONS: Options = {
  "database-url": { type: "string" },
  sqlite: { type: "string" },
  namespace: { type: "string" },
  help: { type: "boolean", short: "h" },
};

const JSON_OPTION: Options = { json: { type: "boolean" } };

/** A command: its usage, options, positionals, and what it does. */
interface Command {
  summary: string;
  usage: string;
  options: Options;
  /** The names of its positional arguments, all required. */
  positionals: string[];
  /** Options that must be given. */
  required?: string[];
  /** Runs it: `false` means a failed check (exit 1, already printed). */
  run(context: CommandContext): Promise<void | boolean>;
}

const COMMANDS: Record<string, Record<string, Command>> = {
  worker: {
    start: {
      summary: "run a worker for the workflows the modules under DIR export",
      usage: `${PROGRAM} worker start --dir DIR [--concurrency N]

Imports every module under DIR (tests, dot folders and node_modules
skipped), registers every workflow they export (defineWorkflow() or
ow.defineWorkflow()), and runs a worker until SIGINT or SIGTERM, which stop
it gracefully (exit 0): runs in flight finish or park.

  --dir DIR            the folder of workflow modules (required)
  --concurrency N      how many runs at once (default 10)`,
      options: { dir: { type: "string" }, concurrency: { type: "string" } },
      positionals: [],
      required: ["dir"],
      run: workerStart,
    },
  },
  runs: {
    list: {
      summary: "list runs, newest first",
      usage:
        `${PROGRAM} runs list [--status S] [--workflow W] [--limit N] [--json]

  --status S           only runs in this status (repeat, or S1,S2)
  --workflow W         only runs of this workflow
  --limit N            at most N runs (default 50, at most 1000)
  --json               one JSON document`,
      options: {
        status: { type: "string", multiple: true },
        workflow: { type: "string" },
        limit: { type: "string" },
        ...JSON_OPTION,
      },
      positionals: [],
      run: runsList,
    },
    show: {
      summary: "a run, its steps as a timeline, its children",
      usage: `${PROGRAM} runs show ID [--json]`,
      options: JSON_OPTION,
      positionals: ["ID"],
      run: runsShow,
    },
    cancel: {
      summary: "cancel an unfinished run (and its attached children)",
      usage: `${PROGRAM} runs cancel ID [--compensate] [--json]

  --compensate         run the compensations of its completed steps first;
                       the run is canceled once they have run
  --json               one JSON document`,
      options: { compensate: { type: "boolean" }, ...JSON_OPTION },
      positionals: ["ID"],
      run: runsCancel,
    },
    retry: {
      summary: "retry a failed or canceled run, keeping its completed steps",
      usage: `${PROGRAM} runs retry ID [--json]`,
      options: JSON_OPTION,
      positionals: ["ID"],
      run: runsRetry,
    },
    fork: {
      summary: "start a new run like another, from one of its steps",
      usage: `${PROGRAM} runs fork ID [--from-step NAME] [--json]

  --from-step NAME     copy the steps completed before this one (default:
                       start from the beginning)`,
      options: { "from-step": { type: "string" }, ...JSON_OPTION },
      positionals: ["ID"],
      run: runsFork,
    },
    delete: {
      summary: "delete finished runs, with their steps and signals",
      usage:
        `${PROGRAM} runs delete --finished-before DURATION|DATE [--status S] [--workflow W] [--json]

  --finished-before X  runs that finished more than X ago (7d, 12h) or
                       before a date (2026-01-31T00:00:00Z) (required)
  --status S           only runs in this finished status (repeat, or S1,S2)
  --workflow W         only runs of this workflow`,
      options: {
        "finished-before": { type: "string" },
        status: { type: "string", multiple: true },
        workflow: { type: "string" },
        ...JSON_OPTION,
      },
      positionals: [],
      required: ["finished-before"],
      run: runsDelete,
    },
  },
  schedules: {
    list: {
      summary: "list schedules",
      usage: `${PROGRAM} schedules list [--json]`,
      options: JSON_OPTION,
      positionals: [],
      run: schedulesList,
    },
    ...Object.fromEntries(
      (["pause", "resume", "delete", "trigger"] as const).map((action) => [
        action,
        {
          summary: {
            pause: "pause a schedule (no runs until resumed)",
            resume: "resume a paused schedule",
            delete: "delete a schedule",
            trigger: "start one run of a schedule now",
          }[action],
          usage: `${PROGRAM} schedules ${action} ID [--json]`,
          options: JSON_OPTION,
          positionals: ["ID"],
          run: (context: CommandContext) => schedulesAct(context, action),
        },
      ]),
    ),
  },
  "": {
    migrate: {
      summary: "apply the schema and exit",
      usage: `${PROGRAM} migrate [--json]`,
      options: JSON_OPTION,
      positionals: [],
      run: migrate,
    },
    doctor: {
      summary: "check the connection, notifications, clock and workflows",
      usage: `${PROGRAM} doctor [--dir DIR] [--json]

Checks the connection and schema, that notifications come back, the clock
skew between this machine and the database, and (with --dir) the workflows
the modules under DIR export. Exits 1 when a check finds a problem.

  --dir DIR            the folder of workflow modules`,
      options: { dir: { type: "string" }, ...JSON_OPTION },
      positionals: [],
      run: doctor,
    },
    dashboard: {
      summary: "serve the web dashboard until SIGINT or SIGTERM",
      usage:
        `${PROGRAM} dashboard [--port N] [--hostname H] [--token-env NAME | --no-auth]

Serves the dashboard (runs, run timelines, schedules, /metrics) and prints
the URL it listens on. Sign in with the token, or send it as
'Authorization: Bearer TOKEN' (a Prometheus scrape of /metrics).

  --port N             the port (default 8080; 0 picks a free one)
  --hostname H         the address to listen on (default 127.0.0.1)
  --token-env NAME     the environment variable holding the token (default
                       OPENWORKFLOW_DASHBOARD_TOKEN); never give a token on
                       the command line, where ps shows it
  --no-auth            no token: only with a loopback hostname`,
      options: {
        port: { type: "string" },
        hostname: { type: "string" },
        "token-env": { type: "string" },
        "no-auth": { type: "boolean" },
      },
      positionals: [],
      run: dashboardServe,
    },
  },
};

/** The help of a group of commands (`""`: the top level). */
function groupHelp(group: string): string {
  const lines = (name: string, commands: Record<string, Command>) =>
    Object.entries(commands).map(([sub, command]) =>
      `  ${
        `${name}${name === "" ? "" : " "}${sub}`.padEnd(20)
      } ${command.summary}`
    );
  if (group === "") {
    return `Usage: ${PROGRAM} COMMAND [options]

Operate @openworkflow/core: workers, runs, schedules, the schema.

Commands:
${
      Object.entries(COMMANDS).flatMap(([name, commands]) =>
        lines(name, commands)
      ).join("\n")
    }

${COMMON}

Run '${PROGRAM} COMMAND --help' for a command's options.`;
  }
  return `Usage: ${PROGRAM} ${group} SUBCOMMAND [options]

Subcommands:
${lines(group, COMMANDS[group]).join("\n")}

${COMMON}`;
}

/** How the CLI reaches its process: output, and stop requests. */
export interface CliProcess extends Io {
  /** Resolves with the signal's name when SIGINT or SIGTERM arrives. */
  stopRequested(): Promise<string>;
}

/**
 * Runs the CLI on `args` (the arguments after the program).
 *
 * @param args The command line, without the program.
 * @param process Where to write, and how stop requests arrive.
 * @returns The exit code: 0 success, 1 failure, 2 usage error.
 *
 * @example Capture what a command prints
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "@openworkflow/core/cli";
 *
 * let printed = "";
 * const code = await main(["runs", "--help"], {
 *   out: (text) => printed += text,
 *   err: (text) => printed += text,
 *   isTty: false,
 *   env: () => undefined,
 *   stopRequested: () => new Promise(() => {}),
 * });
 * assert.equal(code, 0);
 * assert.match(printed, /runs retry/);
 * ```
 */
export async function main(
  args: string[],
  process: CliProcess,
): Promise<number> {
  const [first, second] = args;
  const helpAsked = (arg: string | undefined) =>
    arg === "--help" || arg === "-h";
  if (first === undefined || helpAsked(first)) {
    (first === undefined ? process.err : process.out)(groupHelp("") + "\n");
    return first === undefined ? 2 : 0;
  }
  let group = first;
  let name = second;
  let rest = args.slice(2);
  if (!(first in COMMANDS) || first === "") {
    group = "";
    name = first;
    rest = args.slice(1);
  }
  const command = COMMANDS[group][name ?? ""];
  if (command === undefined) {
    if (group !== "" && (name === undefined || helpAsked(name))) {
      (name === undefined ? process.err : process.out)(
        groupHelp(group) + "\n",
      );
      return name === undefined ? 2 : 0;
    }
    process.err(
      `${
        group === ""
          ? `Unknown command '${first}'`
          : `Unknown command '${group} ${name}'`
      }\n\n${groupHelp(group)}\n`,
    );
    return 2;
  }
  const usage = `Usage: ${command.usage}\n\n${COMMON}`;
  let values: Values;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as Values;
    positionals = parsed.positionals;
    if (values.help) {
      process.out(usage + "\n");
      return 0;
    }
    if (positionals.length < command.positionals.length) {
      throw new UsageError(
        `Missing ${command.positionals[positionals.length]}`,
        usage,
      );
    }
    if (positionals.length > command.positionals.length) {
      throw new UsageError(
        `Unexpected argument '${positionals[command.positionals.length]}'`,
        usage,
      );
    }
    for (const option of command.required ?? []) {
      if (values[option] === undefined) {
        throw new UsageError(`Missing --${option}`, usage);
      }
    }
    if (values.sqlite !== undefined && values["database-url"] !== undefined) {
      throw new UsageError(
        "Give --database-url or --sqlite, not both",
        usage,
      );
    }
  } catch (error) {
    const message = error instanceof UsageError
      ? error.message
      // parseArgs's own messages: the first sentence says it.
      : errorLine(error).replace(/^TypeError: /, "").replace(/\. .*$/s, "");
    process.err(`${message}\n\n${usage}\n`);
    return 2;
  }
  let connected: Promise<Backend> | null = null;
  const context: CommandContext = {
    io: process,
    values,
    positionals,
    usage,
    backend: () => connected ??= connect(values, process, usage),
    stopRequested: process.stopRequested(),
  };
  try {
    const outcome = await command.run(context);
    return outcome === false ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.err(`${error.message}\n\n${error.usage}\n`);
      return 2;
    }
    process.err(
      `${error instanceof CommandError ? error.message : errorLine(error)}\n`,
    );
    return 1;
  } finally {
    if (connected !== null) {
      await (connected as Promise<Backend>).then((b) => b.stop()).catch(
        () => {},
      );
    }
  }
}

/** Connects to the backend the options name. */
async function connect(
  values: Values,
  io: Io,
  usage: string,
): Promise<Backend> {
  const namespaceId = values.namespace as string | undefined;
  // Loaded when named: the SQLite backend needs node:sqlite, which Node 20
  // lacks, and a Postgres user should not need it.
  if (values.sqlite !== undefined) {
    const { BackendSqlite } = await import("../sqlite/backend.ts");
    return await BackendSqlite.connect(values.sqlite as string, {
      namespaceId,
    });
  }
  const url = (values["database-url"] as string | undefined) ??
    io.env("DATABASE_URL");
  if (url === undefined || url === "") {
    throw new UsageError(
      "No database: give --database-url URL (or set DATABASE_URL) or --sqlite PATH",
      usage,
    );
  }
  const { BackendPostgres } = await import("../postgres/backend.ts");
  return await BackendPostgres.connect(url, { namespaceId });
}
