/**
 * The options of `createDashboard()`, and their checks.
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { received } from "../core/validate.ts";

/** The shortest token `createDashboard()` accepts, in characters. */
export const MIN_TOKEN_LENGTH = 16;

/** Options of `createDashboard()`. */
export interface DashboardOptions {
  /** The backend whose runs the dashboard shows and acts on. */
  backend: Backend;
  /**
   * The secret that opens the dashboard: sent as `Authorization: Bearer
   * <token>`, or typed into the login form (which then sets a session
   * cookie signed with a key derived from it). At least 16 characters;
   * e.g. `openssl rand -hex 32`. Required unless `auth: false`.
   * @default {undefined}
   */
  token?: string;
  /**
   * `false` turns authentication off. Refused (a `TypeError`) unless
   * `loopbackOnly: true` says that the server listens on a loopback
   * address only, where no other machine can reach it.
   * @default {true}
   */
  auth?: boolean;
  /**
   * That the server listens on a loopback address only (`127.0.0.1`,
   * `::1`): the only case in which `auth: false` is accepted.
   * @default {false}
   */
  loopbackOnly?: boolean;
  /**
   * The path the dashboard is mounted at, e.g. `"/ops"`: its routes, links
   * and cookie are under it. `""` for the root.
   * @default {""}
   */
  basePath?: string;
  /**
   * Whether the session cookie is `Secure`. By default it is when the
   * login request came over HTTPS (its URL, or `X-Forwarded-Proto`).
   * @default {undefined}
   */
  secureCookies?: boolean;
  /**
   * Origins, besides the request's own, that state-changing requests may
   * come from (e.g. the public origin of a proxy that rewrites `Host`).
   * @default {[]}
   */
  allowedOrigins?: readonly string[];
  /**
   * How long `/metrics` reuses the gauges it read from the database, in
   * milliseconds; concurrent scrapes share one read.
   * @default {5000}
   */
  metricsCacheMs?: number;
  /**
   * How often a live page's event stream re-reads what it shows while
   * the backend's notifications are not live (without `subscribe`, or
   * `listen: false`), in milliseconds; the runs list's stream reads every
   * fifth time. With live notifications it reads when one comes, and
   * every 15 s.
   * @default {1000}
   */
  pollIntervalMs?: number;
  /**
   * How long a login session lasts, in milliseconds.
   * @default {43200000}
   */
  sessionTtlMs?: number;
  /**
   * The namespace shown in the metrics' `namespace` label. By default the
   * backend's `namespaceId`, when it has one, else `"default"`.
   * @default {undefined}
   */
  namespaceId?: string;
}

/** Options after their checks, defaults applied. */
export interface ResolvedOptions {
  backend: Backend;
  token: string | null;
  basePath: string;
  secureCookies: boolean | undefined;
  allowedOrigins: readonly string[];
  metricsCacheMs: number;
  pollIntervalMs: number;
  sessionTtlMs: number;
  namespaceId: string;
}

const WHAT = "Cannot create dashboard";

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `${WHAT}: '${name}' must be a non-negative number of milliseconds, received ${
        received(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks the options of `createDashboard()`.
 *
 * @throws {TypeError} without a backend, without a token (unless `auth:
 * false` with `loopbackOnly: true`), or for a token too short.
 */
export function resolveOptions(options: DashboardOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${WHAT}: 'options' must be an object with 'backend' and 'token', received ${
        received(options)
      }`,
    );
  }
  const backend = options.backend;
  if (
    backend === null || typeof backend !== "object" ||
    typeof backend.getWorkflowRun !== "function"
  ) {
    throw new TypeError(
      `${WHAT}: 'backend' must be a Backend, received ${received(backend)}`,
    );
  }
  let token: string | null = null;
  if (options.auth === false) {
    if (options.loopbackOnly !== true) {
      throw new TypeError(
        `${WHAT}: 'auth: false' is refused unless 'loopbackOnly: true' says the server listens on a loopback address only`,
      );
    }
    if (options.token !== undefined) {
      throw new TypeError(`${WHAT}: 'auth: false' takes no 'token'`);
    }
  } else {
    if (options.auth !== undefined && options.auth !== true) {
      throw new TypeError(
        `${WHAT}: 'auth' must be a boolean, received ${received(options.auth)}`,
      );
    }
    if (typeof options.token !== "string") {
      throw new TypeError(
        `${WHAT}: 'token' must be a string of at least ${MIN_TOKEN_LENGTH} characters (or 'auth: false' with 'loopbackOnly: true'), received ${
          options.token === undefined ? "undefined" : received(options.token)
        }`,
      );
    }
    if (
      options.token.length < MIN_TOKEN_LENGTH || /\s/.test(options.token)
    ) {
      throw new TypeError(
        `${WHAT}: 'token' must be at least ${MIN_TOKEN_LENGTH} characters without spaces, received one of ${options.token.length}`,
      );
    }
    token = options.token;
  }
  let basePath = options.basePath ?? "";
  if (
    typeof basePath !== "string" || !/^(\/[A-Za-z0-9._~-]+)*\/?$/.test(basePath)
  ) {
    throw new TypeError(
      `${WHAT}: 'basePath' must be a path like "/ops", received ${
        received(basePath)
      }`,
    );
  }
  basePath = basePath.replace(/\/$/, "");
  const allowedOrigins = options.allowedOrigins ?? [];
  if (
    !Array.isArray(allowedOrigins) ||
    allowedOrigins.some((o) => typeof o !== "string")
  ) {
    throw new TypeError(
      `${WHAT}: 'allowedOrigins' must be an array of strings`,
    );
  }
  if (
    options.secureCookies !== undefined &&
    typeof options.secureCookies !== "boolean"
  ) {
    throw new TypeError(
      `${WHAT}: 'secureCookies' must be a boolean, received ${
        received(options.secureCookies)
      }`,
    );
  }
  const own = (backend as { namespaceId?: unknown }).namespaceId;
  const namespaceId = options.namespaceId ??
    (typeof own === "string" ? own : "default");
  return {
    backend,
    token,
    basePath,
    secureCookies: options.secureCookies,
    allowedOrigins,
    metricsCacheMs: nonNegative(
      options.metricsCacheMs,
      "metricsCacheMs",
      5_000,
    ),
    pollIntervalMs: Math.max(
      50,
      nonNegative(options.pollIntervalMs, "pollIntervalMs", 1_000),
    ),
    sessionTtlMs: Math.max(
      1_000,
      nonNegative(options.sessionTtlMs, "sessionTtlMs", 43_200_000),
    ),
    namespaceId,
  };
}
