/**
 * The web dashboard and Prometheus endpoint of OpenWorkflow: one
 * web-standard request handler that runs on Deno, Bun and Node.
 *
 * ```ts ignore
 * import { createDashboard } from "@openworkflow/core/dashboard";
 *
 * Deno.serve(
 *   { port: 8080 },
 *   createDashboard({ backend, token: Deno.env.get("OPENWORKFLOW_DASHBOARD_TOKEN") }),
 * );
 * ```
 *
 * @example Check the dashboard with a request
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDashboard } from "@openworkflow/core/dashboard";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const dashboard = createDashboard({ backend, token: "a-token-of-16-chars-or-more" });
 * const response = await dashboard(new Request("http://localhost/"));
 * assert.equal(response.status, 401); // no token, no session
 * ```
 *
 * @module
 */

export {
  CONTENT_SECURITY_POLICY,
  createDashboard,
  type DashboardHandler,
} from "./src/dashboard/dashboard.ts";
export {
  type DashboardOptions,
  MIN_TOKEN_LENGTH,
} from "./src/dashboard/options.ts";
export type * from "./src/core/backend.ts";
export type {
  JsonPrimitive,
  JsonValue,
  SerializedError,
} from "./src/core/json.ts";
