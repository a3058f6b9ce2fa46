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
