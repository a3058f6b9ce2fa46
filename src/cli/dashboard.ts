/**
 * `dashboard`: serves the web dashboard (`createDashboard()`) for the
 * backend the connection options name, over `node:http` (Deno, Node and
 * Bun), until SIGINT or SIGTERM.
 *
 * The token comes from the environment (`OPENWORKFLOW_DASHBOARD_TOKEN`, or
 * the variable `--token-env` names), never from the command line, where
 * `ps` would show it. `--no-auth` is accepted on a loopback hostname only.
 *
 * @module
 */

import type { CommandContext } from "./commands.ts";
import { CommandError, errorLine, UsageError } from "./output.ts";
import { serve, type Served } from "./serve.ts";

/** The variable the token is read from unless `--token-env` names another. */
export const DEFAULT_TOKEN_ENV = "OPENWORKFLOW_DASHBOARD_TOKEN";

/** The port listened on unless `--port` says. */
export const DEFAULT_PORT = 8080;

/** The hostname listened on unless `--hostname` says. */
export const DEFAULT_HOSTNAME = "127.0.0.1";

/**
 * Whether `hostname` is a loopback address or name: 127.0.0.0/8, `::1`,
 * `localhost`. No other machine reaches a server listening there.
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return host === "localhost" || host === "::1" ||
    host === "0:0:0:0:0:0:0:1" ||
    /^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host);
}

/** A `--port` value: an integer from 0 (any free port) to 65535. */
function port(context: CommandContext): number {
  const value = context.values.port;
  if (value === undefined) return DEFAULT_PORT;
  const text = String(value);
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n > 65_535) {
    throw new UsageError(
      `--port must be an integer from 0 to 65535, received ${text}`,
      context.usage,
    );
  }
  return n;
}

/** The options of `createDashboard()` that the command line asks for. */
function authentication(
  context: CommandContext,
  hostname: string,
): { token: string } | { auth: false; loopbackOnly: true } {
  const { values, usage, io } = context;
  const tokenEnv = values["token-env"] as string | undefined;
  if (values["no-auth"] === true) {
    if (tokenEnv !== undefined) {
      throw new UsageError("Give --no-auth or --token-env, not both", usage);
    }
    if (!isLoopback(hostname)) {
      throw new UsageError(
        `--no-auth is refused on --hostname ${hostname}: only a loopback hostname (127.0.0.1, ::1, localhost) keeps other machines out`,
        usage,
      );
    }
    return { auth: false, loopbackOnly: true };
  }
  const name = tokenEnv ?? DEFAULT_TOKEN_ENV;
  if (name === "") {
    throw new UsageError("--token-env must name a variable", usage);
  }
  const token = io.env(name);
  if (token === undefined || token === "") {
    throw new UsageError(
      `No token: set ${name} to a secret of at least 16 characters (e.g. openssl rand -hex 32)${
        tokenEnv === undefined
          ? ", or name another variable with --token-env NAME"
          : ""
      }; a token is never taken on the command line, where ps would show it`,
      usage,
    );
  }
  return { token };
}

/**
 * `dashboard [--port N] [--hostname H] [--token-env NAME] [--no-auth]`
 *
 * @throws {UsageError} for a bad port, no token, a token the dashboard
 * refuses, or `--no-auth` on a hostname that is not a loopback one.
 * @throws {CommandError} when it cannot listen (the port is taken).
 */
export async function dashboardServe(context: CommandContext): Promise<void> {
  const hostname = (context.values.hostname as string | undefined) ??
    DEFAULT_HOSTNAME;
  const portNumber = port(context);
  const auth = authentication(context, hostname);
  const backend = await context.backend();
  const { createDashboard } = await import("../dashboard/dashboard.ts");
  let handler: (request: Request) => Promise<Response>;
  try {
    handler = createDashboard({ backend, ...auth });
  } catch (error) {
    if (error instanceof TypeError) {
      throw new UsageError(
        "token" in auth
          ? `The token in ${
            (context.values["token-env"] as string | undefined) ??
              DEFAULT_TOKEN_ENV
          } is refused: ${error.message.replace(/^[^:]*: /, "")}`
          : error.message,
        context.usage,
      );
    }
    throw error;
  }
  let served: Served;
  try {
    served = await serve(handler, { port: portNumber, hostname });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CommandError(
      `Cannot listen on ${hostname}:${portNumber}: ${
        code === "EADDRINUSE"
          ? "the port is in use"
          : code === "EADDRNOTAVAIL"
          ? "the address is not one of this machine's"
          : errorLine(error)
      }`,
    );
  }
  context.io.out(`Dashboard listening on ${served.url}\n`);
  const signal = await context.stopRequested;
  context.io.err(`${signal}: stopping the dashboard…\n`);
  await served.close();
  context.io.err("Dashboard stopped.\n");
}
